"""Top-1 / top-5 on a folder dataset through the model's eval transform: clean ImageNet val and the
distribution shifts ImageNet-A, -R (200-class subsets: the other logits are masked), -Sketch and -V2.
One benchmark class, registered once per dataset. Protocols and layouts: docs/benchmarks/imagenet.md."""
from __future__ import annotations

from typing import List, Optional, Tuple

from .base import Benchmark, Cell, Metric, SummaryContext, accuracy, register


class FolderAccuracy(Benchmark):
    doc = "docs/benchmarks/imagenet.md"

    def __init__(self, name: str, title: str, dataset: str, order: int, metrics: Tuple[Metric, ...]) -> None:
        self.name, self.title, self.dataset, self.order, self.metrics = name, title, dataset, order, metrics

    def plan(self, run, opts) -> List[Cell]:
        ds, subset, fp = run.dataset(self.dataset)
        return [Cell(self.name, self.name, "", None, fp, loop=lambda: (ds, subset, None))]

    def summarize(self, cells: List[dict], ctx: SummaryContext) -> Optional[dict]:
        return accuracy(cells[0]) if cells else None


def _top1(label: str, column: str, *refs: str) -> Tuple[Metric, ...]:
    return (Metric("acc1", label, refs=refs, column=column),)


register(FolderAccuracy("clean", "ImageNet (clean)", "imagenet", 0,
                        _top1("clean top-1", "clean", "clean_acc1", "clean_acc1_timm", "paper_standard_acc1")))
register(FolderAccuracy("imagenet-a", "ImageNet-A", "imagenet-a", 20,
                        _top1("ImageNet-A top-1", "ImageNet-A", "imagenet-a_acc1", "paper_imagenet-a_acc1")))
register(FolderAccuracy("imagenet-r", "ImageNet-R", "imagenet-r", 21, _top1("ImageNet-R top-1", "ImageNet-R", "imagenet-r_acc1")))
register(FolderAccuracy("imagenet-sketch", "ImageNet-Sketch", "imagenet-sketch", 22,
                        _top1("ImageNet-Sketch top-1", "Sketch", "imagenet-sketch_acc1")))
register(FolderAccuracy("imagenet-v2", "ImageNet-V2", "imagenet-v2", 23, _top1("ImageNet-V2 top-1", "V2", "imagenet-v2_acc1")))
