# DETR on a PiT-S backbone: the last stage (stride ~32, 576 channels) -> ChannelMapper -> 256.
_base_ = './detr_r50.py'
model = dict(
    backbone=dict(
        _delete_=True,
        type='PiT',
        arch='s',
        out_indices=(2, ),
        drop_path_rate=0.1,
        init_cfg=dict(type='Pretrained', checkpoint='timm/pit_s_224.in1k')),
    neck=dict(in_channels=[576]))
