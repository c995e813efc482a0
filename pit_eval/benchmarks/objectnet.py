"""ObjectNet (Barbu et al., NeurIPS 2019) on the 113 classes it shares with ImageNet, as
imagenet-testbed's ``objectnet-1.0-beta`` setting measures it (so the number sits in the testbed's
cloud): a 2-pixel border cropped off each image before the model's eval transform, the logits
restricted to the 125 ImageNet classes of the 113, top-1 right when the best of them belongs to the
image's ObjectNet class; the images of the other 200 classes are not scored. Top-5 over the 113 classes
scored by their best ImageNet class (the testbed's collapsed logits). Class maps:
pit_eval/assets/objectnet/SOURCE.md; protocol and layout: docs/benchmarks/objectnet.md."""
from __future__ import annotations

import functools
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import List, Optional, Tuple

from PIL import ImageOps
from torchvision import transforms as T

from ..datasets import ASSETS, DatasetSpec, fingerprint, flag, register_dataset, scan, thin
from ..images import DataError, ImageList
from ..loop_metrics import Fingerprint, MappedTopK, Predictions
from .base import Benchmark, Cell, Metric, SummaryContext, register

logger = logging.getLogger(__name__)

BORDER = 2


@dataclass(frozen=True)
class ObjectNetClasses:
    """ObjectNet's classes as the testbed scores them (assets/objectnet/SOURCE.md): ``folders``: all 313
    image folders; ``mapped``: the 113 folders that overlap ImageNet, sorted (a label is a position
    here); ``class_sublist``: the 125 ImageNet indices whose logits are scored, in the testbed's order;
    ``group``: for each of them, the label of its ObjectNet class."""
    folders: Tuple[str, ...]
    mapped: Tuple[str, ...]
    class_sublist: Tuple[int, ...]
    group: Tuple[int, ...]


@functools.lru_cache(None)
def objectnet_classes() -> ObjectNetClasses:
    meta = ASSETS / "objectnet"
    folder_of = {name: folder for folder, name in json.loads((meta / "folder_to_objectnet_label.json").read_text()).items()}
    index_of = {name: int(i) for i, name in json.loads((meta / "imagenet_to_labels.json").read_text()).items()}
    ids = {folder_of[name]: [index_of[n] for n in names.split("; ")]
           for name, names in json.loads((meta / "objectnet_to_imagenet_1k.json").read_text()).items()}
    mapped = tuple(sorted(ids))
    sublist = tuple(i for f in ids.values() for i in f)   # the testbed's order: the map file's
    label = {i: mapped.index(f) for f, members in ids.items() for i in members}
    return ObjectNetClasses(tuple(sorted(folder_of.values())), mapped, sublist, tuple(label[i] for i in sublist))


def _groups() -> Tuple[List[int], List[int]]:
    on = objectnet_classes()
    return list(on.class_sublist), list(on.group)


register_dataset(DatasetSpec("objectnet", "objectnet", "PIT_EVAL_OBJECTNET", "own", groups=_groups))


class BorderCrop:
    """Crop ``px`` pixels off every side (ObjectNet's images carry a border; the testbed's ``crop_image``)."""

    def __init__(self, px: int) -> None:
        self.px = px

    def __call__(self, img):
        return ImageOps.crop(img, border=self.px)


def images_root(path: str) -> str:
    """The folder of class folders: the dataset's ``images/`` when given the unpacked ObjectNet root."""
    p = Path(path)
    return str(p / "images") if (p / "images").is_dir() else str(p)


class ObjectNet(Benchmark):
    name, title, dataset, order = "objectnet", "ObjectNet", "objectnet", 25
    doc = "docs/benchmarks/objectnet.md"
    metrics = (Metric("acc1", "ObjectNet top-1 (113 ImageNet classes, testbed protocol)", column="ObjectNet",
                      ci=("acc1_ci",)),
               Metric("acc5", "ObjectNet top-5 (113 classes, collapsed logits)", ci=("acc5_ci",), in_table=False))

    def plan(self, run, opts) -> List[Cell]:
        on = objectnet_classes()
        root = images_root(run.locations[self.dataset].path)
        samples, reader = scan(root, on.folders, "objectnet", flag(self.dataset))
        label = {on.folders.index(f): k for k, f in enumerate(on.mapped)}
        kept = [(p, label[y]) for p, y in samples if y in label]
        logger.info("ObjectNet: %d images of the 113 classes shared with ImageNet scored; %d of the other "
                    "classes left out (the testbed's protocol)", len(kept), len(samples) - len(kept))
        if not kept:
            raise DataError(f"objectnet folder {root!r} has no images of the 113 classes ObjectNet shares with "
                            f"ImageNet (folders such as {on.mapped[:3]}); point {flag(self.dataset)} at ObjectNet "
                            "1.0 (its images/ folder or the folder holding it)")
        ds = ImageList(thin(kept, run.max_images), T.Compose([BorderCrop(BORDER), run.transform.full()]),
                       run.on_bad_image, root=root, reader=reader)
        metrics = [MappedTopK(on.group), Fingerprint(), Predictions(run.save_logits, mapped=True)]
        return [Cell(self.name, self.name, "", None, {**fingerprint(ds), "border": BORDER},
                     loop=lambda: (ds, list(on.class_sublist), None), metrics=metrics)]

    def summarize(self, cells: List[dict], ctx: SummaryContext) -> Optional[dict]:
        if not cells:
            return None
        c = cells[0]
        return {k: c.get(k) for k in ("acc1", "acc1_ci", "acc5", "acc5_ci", "n", "skipped")}


register(ObjectNet())
