"""Top-1 / top-5 and calibration on a folder dataset through the model's eval transform: clean
ImageNet val and the distribution shifts ImageNet-A, -R (200-class subsets: the other logits are
masked, the softmax is over the 200), -Sketch and -V2. One benchmark class, registered once per
dataset. Protocols and layouts: docs/benchmarks/imagenet.md."""
from __future__ import annotations

import logging
from dataclasses import dataclass
from functools import partial
from typing import List, Optional, Tuple

from .. import real_labels
from ..datasets import DATASETS, DatasetSpec, class_subset, register_dataset, subset_indices
from ..loop_metrics import RealTop1, SubsetTop1, default_metrics
from ..settings import option
from .base import Benchmark, Cell, ImageSubsetOption, Metric, NoOptions, SummaryContext, accuracy, register

logger = logging.getLogger(__name__)

#: the shifts' folders (ImageNet val is declared in base.py); A and R: 200-class subsets
register_dataset(DatasetSpec("imagenet-a", "imagenet-a", "PIT_EVAL_IMAGENET_A", "subset",
                             classes=partial(subset_indices, "a")))
register_dataset(DatasetSpec("imagenet-r", "imagenet-r", "PIT_EVAL_IMAGENET_R", "subset",
                             classes=partial(subset_indices, "r")))
register_dataset(DatasetSpec("imagenet-sketch", "imagenet-sketch", "PIT_EVAL_IMAGENET_SKETCH", "wnid"))
register_dataset(DatasetSpec("imagenet-v2", "imagenet-v2", "PIT_EVAL_IMAGENET_V2", "index"))


def _real_labels(value) -> str:
    return str(value)


@dataclass(frozen=True)
class CleanOptions(ImageSubsetOption):
    real_labels: str = option("auto", "ImageNet-ReaL label sets for the clean cell: auto (real.json beside the val "
                              "folder, else the copy timm installs; only for a val tree with its ILSVRC2012_val_* "
                              "names), timm, none, or a path to real.json", parse=_real_labels, metavar="auto|timm|none|FILE")


class FolderAccuracy(Benchmark):
    doc = "docs/benchmarks/imagenet.md"

    def __init__(self, name: str, title: str, dataset: str, order: int, metrics: Tuple[Metric, ...],
                 subsets: Tuple[str, ...] = (), options: type = NoOptions, scores: Tuple[str, ...] = ()) -> None:
        self.name, self.title, self.dataset, self.order, self.metrics = name, title, dataset, order, metrics
        self.subsets = subsets   # datasets whose classes are a subset: top-1 on those classes too
        self.options = options   # the clean benchmark: CleanOptions (ReaL)
        self.scores = scores     # datasets whose classes' max softmax each image's predictions keep

    def plan(self, run, opts) -> List[Cell]:
        ds, subset, fp = run.dataset(self.dataset)
        extra = []
        if self.subsets:
            subsets = {b: class_subset(DATASETS[b]) for b in self.subsets}
            extra.append(SubsetTop1({b: v[0] for b, v in subsets.items()},
                                    groups={b: v[1] for b, v in subsets.items() if v[1]}))
        if isinstance(opts, CleanOptions):
            extra += _real_metric(opts.real_labels, ds, run.locations[self.dataset].path)
        scores = {f"msp_{b}": DATASETS[b].classes() for b in self.scores}
        metrics = default_metrics(logits=run.save_logits, scores=scores) + extra if extra or scores else None
        return [Cell(self.name, self.name, "", None, fp, loop=lambda: (ds, subset, None), metrics=metrics)]

    def summarize(self, cells: List[dict], ctx: SummaryContext) -> Optional[dict]:
        if not cells:
            return None
        entry = accuracy(cells[0])
        for key in ("subset_acc1", "real"):
            if cells[0].get(key):
                entry[key] = cells[0][key]
        return entry

    def plots(self, runs):
        return {f"{self.name}_reliability": reliability_plot(runs, f"{self.title}: reliability (15 bins)")}


def _real_metric(value: str, ds, val_root: Optional[str]) -> list:
    """The ReaL metric of the clean cell, or none (``auto`` on a tree without the val names)."""
    path, source = real_labels.locate(value, val_root)
    if path is None:
        return []
    sets, sha = real_labels.load(path)
    per = real_labels.per_sample([ds.key(i) for i in range(len(ds))], sets, strict=value != "auto")
    if per is None:
        logger.info("ImageNet-ReaL: off (the val files do not have their ILSVRC2012_val_* names)")
        return []
    logger.info("ImageNet-ReaL labels: %s (sha256 %s)", source, sha[:16])
    return [RealTop1(per, sha, source)]


def reliability_plot(runs, title: str):
    """Accuracy against confidence per bin (the diagonal: perfect calibration), one line per run."""
    import matplotlib.pyplot as plt
    fig, ax = plt.subplots(figsize=(4, 4))
    ax.plot([0, 1], [0, 1], color="grey", lw=1, ls="--")
    for label, e in runs:
        bins = (e.get("calibration") or {}).get("bins")
        if not bins:
            continue
        pts = [(c, a) for c, a in zip(bins["confidence"], bins["accuracy"]) if c is not None]
        ax.plot([c for c, _ in pts], [a for _, a in pts], marker="o",
                label=f"{label} (ECE {100 * e['calibration']['ece']:.1f} %)")
    ax.set_xlabel("mean confidence (max softmax) per bin")
    ax.set_ylabel("accuracy per bin")
    ax.set_xlim(0, 1)
    ax.set_ylim(0, 1)
    ax.set_title(title)
    ax.legend(fontsize=7)
    return fig


def _top1(label: str, column: str, *refs: str, ece_in_table: bool = False) -> Tuple[Metric, ...]:
    short = label.replace(" top-1", "")
    return (Metric("acc1", label, refs=refs, column=column, ci=("acc1_ci",)),
            Metric("ece", f"{short} ECE % (15 bins)", path=("calibration", "ece"), column=f"{column} ECE",
                   in_table=ece_in_table),
            Metric("nll", f"{short} NLL", path=("calibration", "nll"), scale=1.0, in_table=False),
            Metric("brier", f"{short} Brier", path=("calibration", "brier"), scale=1.0, in_table=False))


register(FolderAccuracy("clean", "ImageNet (clean)", "imagenet", 0,
                        _top1("clean top-1", "clean", "clean_acc1", "clean_acc1_timm", "paper_standard_acc1",
                              ece_in_table=True) + (Metric("real_acc1", "clean ImageNet-ReaL top-1", path=("real", "acc1"),
                                                           column="ReaL", ci=("real", "acc1_ci")),),
                        subsets=("imagenet-a", "imagenet-r", "objectnet"), options=CleanOptions,
                        scores=("imagenet-o",)))
register(FolderAccuracy("imagenet-a", "ImageNet-A", "imagenet-a", 20,
                        _top1("ImageNet-A top-1", "ImageNet-A", "imagenet-a_acc1", "paper_imagenet-a_acc1")))
register(FolderAccuracy("imagenet-r", "ImageNet-R", "imagenet-r", 21, _top1("ImageNet-R top-1", "ImageNet-R", "imagenet-r_acc1")))
register(FolderAccuracy("imagenet-sketch", "ImageNet-Sketch", "imagenet-sketch", 22,
                        _top1("ImageNet-Sketch top-1", "Sketch", "imagenet-sketch_acc1")))
register(FolderAccuracy("imagenet-v2", "ImageNet-V2", "imagenet-v2", 23, _top1("ImageNet-V2 top-1", "V2", "imagenet-v2_acc1")))
