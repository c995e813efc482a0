# DETR on a DeiT-S (ViT-S) backbone: block 12 (stride 16, 384 channels).
_base_ = './detr_r50.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='TimmViT',
        model_name='deit_small_patch16_224',
        out_blocks=(12, ),
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint='timm/deit_small_patch16_224.fb_in1k')),
    neck=dict(in_channels=[384]))
