# DETR on a PiT-TI backbone (last stage, 256 channels).
_base_ = './detr_pit_s.py'
model = dict(
    backbone=dict(arch='ti', init_cfg=dict(checkpoint='timm/pit_ti_224.in1k')),
    neck=dict(in_channels=[256]))
