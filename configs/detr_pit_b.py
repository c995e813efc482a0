# DETR on a PiT-B backbone (last stage, 1024 channels).
_base_ = './detr_pit_s.py'
model = dict(
    backbone=dict(arch='b', init_cfg=dict(checkpoint='timm/pit_b_224.in1k')),
    neck=dict(in_channels=[1024]))
