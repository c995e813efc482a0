"""Where each benchmark's data lives, how it is labelled, and how it is fingerprinted."""
from __future__ import annotations

import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

from .images import (SAMPLE_ROOT, ImageList, imagenet_wnids,
                   scan_class_folders, subset_indices)

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetSpec:
    name: str                 # imagenet | imagenet-c | imagenet-a | ...
    subdir: str               # below --data-root
    env: str                  # environment variable naming the folder
    labels: str               # "wnid" | "index" | "a" | "r" (subset wnids, masked logits) | its benchmark's own


DATASETS: Dict[str, DatasetSpec] = {s.name: s for s in (
    DatasetSpec("imagenet", "imagenet/val", "PIT_EVAL_IMAGENET", "wnid"),
    DatasetSpec("imagenet-c", "imagenet-c", "PIT_EVAL_IMAGENET_C", "wnid"),
    DatasetSpec("imagenet-a", "imagenet-a", "PIT_EVAL_IMAGENET_A", "a"),
    DatasetSpec("imagenet-r", "imagenet-r", "PIT_EVAL_IMAGENET_R", "r"),
    DatasetSpec("imagenet-sketch", "imagenet-sketch", "PIT_EVAL_IMAGENET_SKETCH", "wnid"),
    DatasetSpec("imagenet-v2", "imagenet-v2", "PIT_EVAL_IMAGENET_V2", "index"),
    DatasetSpec("imagenet-9", "imagenet-9", "PIT_EVAL_IMAGENET_9", "in9"),  # see benchmarks/backgrounds.py
    DatasetSpec("cue-conflict", "cue-conflict", "PIT_EVAL_CUE_CONFLICT", "cue-conflict"),  # benchmarks/shape_bias.py
)}


def flag(name: str) -> str:
    return "--" + name


@dataclass(frozen=True)
class DataLocation:
    name: str
    path: Optional[str]   # None when not available
    origin: str           # "flag" | "env" | "data-root" | "sample"

    @property
    def is_sample(self) -> bool:
        return self.origin == "sample"


def locate(name: str, data_root: Optional[str], paths: Dict[str, Optional[str]]) -> DataLocation:
    """Resolve one dataset's folder: explicit flag > environment variable > data root > sample."""
    spec = DATASETS[name]
    if paths.get(name):
        return DataLocation(name, str(paths[name]), "flag")
    if os.environ.get(spec.env):
        return DataLocation(name, os.environ[spec.env], "env")
    if data_root:
        p = Path(data_root) / spec.subdir
        return DataLocation(name, str(p) if p.exists() else None, "data-root")
    if any(paths.values()) or any(os.environ.get(s.env) for s in DATASETS.values()):
        return DataLocation(name, None, "flag")  # user gave some data: no silent sample mixing
    p = SAMPLE_ROOT / spec.subdir
    return DataLocation(name, str(p) if p.exists() else None, "sample")


def class_names(spec: DatasetSpec) -> Tuple[List[str], Optional[List[int]]]:
    """Folder names expected and, for 200-class subsets, the logit indices to keep."""
    wnids = imagenet_wnids()
    if spec.labels == "index":
        return [str(i) for i in range(len(wnids))], None
    if spec.labels in ("a", "r"):
        idx = subset_indices(spec.labels)
        return [wnids[i] for i in idx], idx
    return wnids, None


def thin(samples: Sequence, max_images: Optional[int]) -> List:
    """Evenly spaced subset (keeps class coverage) when ``max_images`` is set."""
    samples = list(samples)
    if not max_images or len(samples) <= max_images:
        return samples
    step = len(samples) / max_images
    return [samples[int(i * step)] for i in range(max_images)]


def open_folder(loc: DataLocation, root: str, transform, on_bad_image: str,
                max_images: Optional[int], folder_name: Optional[str] = None) -> Tuple[ImageList, Optional[List[int]]]:
    spec = DATASETS[loc.name]
    names, subset = class_names(spec)
    samples = thin(scan_class_folders(root, names, folder_name or loc.name, flag(loc.name)), max_images)
    return ImageList(samples, transform, on_bad_image, root=root), subset


def fingerprint(ds: ImageList) -> dict:
    h = hashlib.sha256()
    for path, label in ds.samples:
        h.update(f"{os.path.relpath(path, ds.root)}|{label}\n".encode())
    return {"root": os.path.abspath(ds.root), "images": len(ds), "files_sha256": h.hexdigest()[:16]}


def prerendered_c_root(loc: DataLocation, corruption: str, severity: int) -> Optional[str]:
    if loc.path is None:
        return None
    p = Path(loc.path) / corruption / str(severity)
    return str(p) if p.is_dir() else None
