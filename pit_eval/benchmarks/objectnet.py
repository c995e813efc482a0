"""ObjectNet (Barbu et al., NeurIPS 2019) on the 113 classes it shares with ImageNet, as
imagenet-testbed's ``objectnet-1.0-beta`` setting measures it (so the number sits in the testbed's
cloud): a 2-pixel border cropped off each image before the model's eval transform, the logits
restricted to the 125 ImageNet classes of the 113, top-1 right when the best of them belongs to the
image's ObjectNet class; the images of the other 200 classes are not scored. Top-5 over the 113 classes
scored by their best ImageNet class (the testbed's collapsed logits). Class maps:
pit_eval/assets/objectnet/SOURCE.md; protocol and layout: docs/benchmarks/objectnet.md."""
from __future__ import annotations

import logging
from pathlib import Path
from typing import List, Optional

from PIL import ImageOps
from torchvision import transforms as T

from ..datasets import fingerprint, flag, objectnet_classes, scan, thin
from ..images import DataError, ImageList
from ..loop_metrics import Fingerprint, MappedTopK, Predictions
from .base import Benchmark, Cell, Metric, SummaryContext, register

logger = logging.getLogger(__name__)

BORDER = 2


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
