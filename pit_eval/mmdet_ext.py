"""mmengine / mmdet integration used by the configs: safe checkpoints, an RGB-correct seeded
corruption transform, and a dataset sanity check. Registered on import (``custom_imports``)."""
from __future__ import annotations

import os
from typing import Any, Optional

import numpy as np

from .extras import require_detection

require_detection()  # a config's custom_imports on the core install: one clear message

from mmcv.transforms import BaseTransform  # noqa: E402
from mmengine.hooks import Hook  # noqa: E402
from mmengine.logging import HistoryBuffer, MMLogger  # noqa: E402
from mmdet.registry import HOOKS, TRANSFORMS  # noqa: E402

from .corruptions import BACKENDS, GROUPS, IMAGECORRUPTIONS, corrupt_image, render_seed

_HB = "__pit_eval_history_buffer__"


def to_plain(obj: Any) -> Any:
    """Recursively turn HistoryBuffers and numpy values into plain Python (loadable with
    ``torch.load(weights_only=True)``); tensors and plain values pass through."""
    if isinstance(obj, HistoryBuffer):
        logs, counts = obj.data
        return {_HB: {"log": np.asarray(logs).tolist(), "count": np.asarray(counts).tolist(),
                      "max_length": obj.max_length}}
    if isinstance(obj, np.ndarray):
        return obj.tolist()
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, dict):
        return type(obj)((k, to_plain(v)) for k, v in obj.items())
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_plain(v) for v in obj)
    return obj


def from_plain(obj: Any) -> Any:
    """Inverse of :func:`to_plain` for the HistoryBuffers (numbers stay plain)."""
    if isinstance(obj, dict):
        if set(obj) == {_HB}:
            d = obj[_HB]
            return HistoryBuffer(d["log"], d["count"], d["max_length"])
        return type(obj)((k, from_plain(v)) for k, v in obj.items())
    if isinstance(obj, list):
        return [from_plain(v) for v in obj]
    return obj


@HOOKS.register_module()
class PlainCheckpointHook(Hook):
    """Saves checkpoints that contain only tensors and plain Python, so that ``--resume`` and
    ``load_from`` work under torch >= 2.6 (``weights_only=True``) without allow-listing
    ``builtins.getattr`` or turning pickle execution back on."""
    priority = "VERY_LOW"

    def before_save_checkpoint(self, runner, checkpoint: dict) -> None:
        for key in list(checkpoint):
            if key != "state_dict":
                checkpoint[key] = to_plain(checkpoint[key])

    def after_load_checkpoint(self, runner, checkpoint: dict) -> None:
        if "message_hub" in checkpoint:
            checkpoint["message_hub"] = from_plain(checkpoint["message_hub"])


@HOOKS.register_module()
class DatasetCheckHook(Hook):
    """Fails early, with the file named, when a dataset is empty or its classes disagree with the
    detection head's ``num_classes``."""
    priority = "VERY_HIGH"

    def before_run(self, runner) -> None:
        model = getattr(runner.model, "module", runner.model)
        head = getattr(model, "bbox_head", None)
        num_classes = getattr(head, "num_classes", None)
        for name in ("train", "val", "test"):
            loop = getattr(runner, f"_{name}_loop", None)
            ds = getattr(getattr(loop, "dataloader", None), "dataset", None)
            if ds is None:
                continue
            where = getattr(ds, "ann_file", "?")
            if len(ds) == 0:
                raise ValueError(f"{name} dataset from {where!r} has no usable images (none with "
                                 "annotations?); check the annotation file and data_prefix")
            classes = ds.metainfo.get("classes") or ()
            if num_classes is not None and len(classes) != num_classes:
                raise ValueError(f"model.bbox_head.num_classes={num_classes} but the {name} dataset "
                                 f"({where}) has {len(classes)} classes; set num_classes={len(classes)} "
                                 "(--cfg-options model.bbox_head.num_classes=...) or fix metainfo.classes")


@TRANSFORMS.register_module()
class CorruptRGB(BaseTransform):
    """ImageNet-C style corruption for mmdet pipelines (COCO-C), done right: mmdet loads BGR, the
    corruption is applied in RGB (then converted back), through pit_eval's compatibility layer,
    seeded per (seed, image path, corruption, severity) so every run renders the same pixels.

    Args:
        corruption (str): one of the 19 imagecorruptions names.
        severity (int): 1..5.
        seed (int): base seed.
        backend (str): ``'fast'`` (bit-exact, default) or ``'reference'``.
    """

    def __init__(self, corruption: str, severity: int = 1, seed: int = 0, backend: str = "fast") -> None:
        if corruption not in GROUPS["all"]:
            raise ValueError(f"unknown corruption {corruption!r}; use one of {GROUPS['all']}")
        if severity not in (1, 2, 3, 4, 5):
            raise ValueError(f"severity must be 1..5, got {severity}")
        BACKENDS.get(backend)
        self.corruption, self.severity, self.seed, self.backend = corruption, severity, seed, backend

    def transform(self, results: dict) -> Optional[dict]:
        img = results["img"]
        key = os.path.basename(results.get("img_path") or str(results.get("img_id", "")))
        rgb = np.ascontiguousarray(img[..., ::-1]).astype(np.uint8)
        out = corrupt_image(rgb, self.corruption, self.severity, backend=self.backend, protocol=IMAGECORRUPTIONS,
                            seed_value=render_seed(self.seed, key, self.corruption, self.severity))
        results["img"] = np.ascontiguousarray(out[..., ::-1])
        return results

    def __repr__(self) -> str:
        return (f"{type(self).__name__}(corruption={self.corruption!r}, severity={self.severity}, "
                f"seed={self.seed}, backend={self.backend!r})")


def _cpu_friendly_pytorch_launcher() -> None:
    """mmengine 0.10's ``--launcher pytorch`` calls ``torch.cuda.set_device`` unconditionally, so
    multi-process runs fail on machines without CUDA. Without CUDA, initialise the process group
    (gloo) and skip the device selection; with CUDA nothing changes."""
    import torch
    import torch.distributed as torch_dist
    from mmengine.dist import utils as dist_utils
    original = dist_utils._init_dist_pytorch

    def init_dist_pytorch(backend, init_backend="torch", **kwargs):
        if torch.cuda.is_available() or init_backend != "torch":
            return original(backend, init_backend=init_backend, **kwargs)
        MMLogger.get_current_instance().warning(
            "no CUDA: initialising the process group with gloo on the CPU")
        torch_dist.init_process_group(backend="gloo", **kwargs)

    if getattr(dist_utils._init_dist_pytorch, "__name__", "") != "init_dist_pytorch":
        dist_utils._init_dist_pytorch = init_dist_pytorch


_cpu_friendly_pytorch_launcher()
