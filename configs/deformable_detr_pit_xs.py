# Deformable DETR on PiT-XS (three stages: 96,192,384 channels).
_base_ = './deformable_detr_pit_s.py'
model = dict(
    backbone=dict(arch='xs', init_cfg=dict(checkpoint='timm/pit_xs_224.in1k')),
    neck=dict(in_channels=[96,192,384]))
