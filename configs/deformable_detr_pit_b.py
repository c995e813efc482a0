# Deformable DETR on PiT-B (three stages: 256,512,1024 channels).
_base_ = './deformable_detr_pit_s.py'
model = dict(
    backbone=dict(arch='b', init_cfg=dict(checkpoint='timm/pit_b_224.in1k')),
    neck=dict(in_channels=[256,512,1024]))
