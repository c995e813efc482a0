# DETR on a PiT-XS backbone (last stage, 384 channels).
_base_ = './detr_pit_s.py'
model = dict(
    backbone=dict(arch='xs', init_cfg=dict(checkpoint='timm/pit_xs_224.in1k')),
    neck=dict(in_channels=[384]))
