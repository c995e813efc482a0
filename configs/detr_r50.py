# DETR with mmdet's own ResNet-50 (the CNN baseline), plus pit_eval's hooks.
# mmdet's recipe: AdamW 1e-4, wd 1e-4, grad clip 0.1, backbone lr x0.1, 150 epochs (step at 100), 8x2.
_base_ = 'mmdet::detr/detr_r50_8xb2-150e_coco.py'
custom_imports = dict(imports=['backbones'], allow_failed_imports=False)
custom_hooks = [dict(type='DatasetCheckHook'), dict(type='PlainCheckpointHook')]
