# Deformable DETR, the PiT paper's detection setting: two-stage + box refinement, image resolution
# halved for train and test, 50 epochs with lr x0.1 at 40 (mmdet's schedule), ResNet-50 baseline.
_base_ = 'mmdet::deformable_detr/deformable-detr-refine-twostage_r50_16xb2-50e_coco.py'
custom_imports = dict(imports=['backbones'], allow_failed_imports=False)
custom_hooks = [dict(type='DatasetCheckHook'), dict(type='PlainCheckpointHook')]

full_scales = [480, 512, 544, 576, 608, 640, 672, 704, 736, 768, 800]
train_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='RandomFlip', prob=0.5),
    dict(type='RandomChoice', transforms=[
        [dict(type='RandomChoiceResize', scales=[(s // 2, 667) for s in full_scales], keep_ratio=True)],
        [dict(type='RandomChoiceResize', scales=[(200, 2100), (250, 2100), (300, 2100)], keep_ratio=True),
         dict(type='RandomCrop', crop_type='absolute_range', crop_size=(192, 300), allow_negative_crop=True),
         dict(type='RandomChoiceResize', scales=[(s // 2, 667) for s in full_scales], keep_ratio=True)],
    ]),
    dict(type='PackDetInputs'),
]
test_pipeline = [
    dict(type='LoadImageFromFile', backend_args=None),
    dict(type='Resize', scale=(667, 400), keep_ratio=True),
    dict(type='LoadAnnotations', with_bbox=True),
    dict(type='PackDetInputs', meta_keys=('img_id', 'img_path', 'ori_shape', 'img_shape', 'scale_factor')),
]
train_dataloader = dict(dataset=dict(pipeline=train_pipeline))
val_dataloader = dict(dataset=dict(pipeline=test_pipeline))
test_dataloader = val_dataloader
