# Deformable DETR (two-stage + refine, half resolution, 50 epochs) on PiT-S: all three stages
# (strides ~8/16/32; 144/288/576 channels) -> 4 levels of 256.
_base_ = './deformable_detr_r50.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='PiT',
        arch='s',
        out_indices=(0, 1, 2),
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint='timm/pit_s_224.in1k')),
    neck=dict(in_channels=[144, 288, 576]))
