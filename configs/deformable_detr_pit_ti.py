# Deformable DETR on PiT-TI (three stages: 64,128,256 channels).
_base_ = './deformable_detr_pit_s.py'
model = dict(
    backbone=dict(arch='ti', init_cfg=dict(checkpoint='timm/pit_ti_224.in1k')),
    neck=dict(in_channels=[64,128,256]))
