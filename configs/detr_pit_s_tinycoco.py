# Smoke configuration: DETR + PiT-S on pit_eval's embedded tiny COCO-format set (4 images,
# 7 categories), small images, 2 epochs, random backbone init: proves the plumbing on a CPU in
# about a minute, not accuracy (DETR needs ~100 epochs of COCO).
#   mim train mmdet configs/detr_pit_s_tinycoco.py --work-dir work_dirs/tiny
# The same overrides work for any config here through --cfg-options.
_base_ = './detr_pit_s.py'
data_root = '{{ fileDirname }}/../pit_eval/assets/sample/coco/'
metainfo = dict(classes=('person', 'bicycle', 'motorcycle', 'bench', 'cat', 'cup', 'spoon'))
model = dict(backbone=dict(init_cfg=None), bbox_head=dict(num_classes=7))
small_train = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='Resize', scale=(320, 240), keep_ratio=True),
    dict(type='PackDetInputs'),
]
small_test = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=(320, 240), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, ann_file='annotations/instances_train2017.json',
                 data_prefix=dict(img='train2017/'), pipeline=small_train))
val_dataloader = dict(
    batch_size=2, num_workers=0, persistent_workers=False,
    dataset=dict(data_root=data_root, metainfo=metainfo, ann_file='annotations/instances_val2017.json',
                 data_prefix=dict(img='val2017/'), pipeline=small_test))
test_dataloader = val_dataloader
val_evaluator = dict(ann_file=data_root + 'annotations/instances_val2017.json')
test_evaluator = val_evaluator
train_cfg = dict(max_epochs=2, val_interval=1)
param_scheduler = [dict(type='MultiStepLR', begin=0, end=2, by_epoch=True, milestones=[1], gamma=0.1)]
default_hooks = dict(checkpoint=dict(interval=1), logger=dict(interval=1))
