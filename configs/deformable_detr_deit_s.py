# Deformable DETR on DeiT-S (ViT-S), the paper's ViT baseline: blocks 2, 8 and 12, resized to
# strides 8 / 16 / 32.
_base_ = './deformable_detr_r50.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='TimmViT',
        model_name='deit_small_patch16_224',
        out_blocks=(2, 8, 12),
        out_scales=(2.0, 1.0, 0.5),
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint='timm/deit_small_patch16_224.fb_in1k')),
    neck=dict(in_channels=[384, 384, 384]))
