"""Pre-rendered corruption sets in ImageNet-C's layout (``<root>/<corruption>/<severity>/<wnid>/*``):
ImageNet-C-bar (Mintun et al., NeurIPS 2021; 10 corruptions chosen to be dissimilar to ImageNet-C's)
and ImageNet-3DCC (Kar et al., CVPR 2022; the 12 corruptions RobustBench scores). Top-1 per cell and
the mean over the evaluated cells. No mCE: neither set publishes per-corruption AlexNet errors, and
ImageNet-C's constants belong to ImageNet-C's corruptions. Layouts: docs/benchmarks/corruption-sets.md."""
from __future__ import annotations

import csv
import logging
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from ..datasets import ASSETS, DatasetSpec, register_dataset
from ..images import DataError
from .base import (CALIBRATION, Benchmark, Cell, ImageSubsetOption, Metric, NoOptions, SummaryContext, calibration,
                   prerendered_cell, register)

logger = logging.getLogger(__name__)


def _c_bar_levels() -> Dict[str, Tuple[float, ...]]:
    """ImageNet-C-bar's corruptions -> the parameter of severities 1-5 (its released CSV)."""
    with open(ASSETS / "imagenet-c-bar" / "imagenet_c_bar.csv", newline="") as f:
        return {row[0]: tuple(float(v) for v in row[1:]) for row in csv.reader(f) if row}


#: RobustBench's 3DCC corruptions (robustbench/data.py, CORRUPTIONS_3DCC; MIT)
CORRUPTIONS_3DCC = ("near_focus", "far_focus", "bit_error", "color_quant", "flash", "fog_3d", "h265_abr",
                    "h265_crf", "iso_noise", "low_light", "xy_motion_blur", "z_motion_blur")


class CorruptionSet(Benchmark):
    """One pre-rendered corruption set. ``levels``: corruption -> the parameter of each severity, where
    the generator names its severity folders by the parameter (C-bar); None: folders ``1``-``5``."""
    doc = "docs/benchmarks/corruption-sets.md"

    def __init__(self, name: str, title: str, order: int, corruptions: Tuple[str, ...],
                 levels: Optional[Dict[str, Tuple[float, ...]]] = None, options: type = NoOptions) -> None:
        self.name, self.title, self.dataset, self.order, self.options = name, title, name, order, options
        self.corruptions, self.levels = corruptions, levels
        self.metrics = (
            Metric("mean_acc", f"{title} mean top-1, every evaluated cell", column=f"{title} mean"),
            Metric("ece", f"{title} mean ECE % (15 bins)", path=("calibration", "ece"), column=f"{title} ECE"),
        )

    def folder(self, root: Path, corruption: str, severity: int) -> Optional[Path]:
        """The cell's folder: ``<severity>`` or, for a set whose generator names it so, its parameter."""
        names = [str(severity)]
        if self.levels:
            names.append(f"{self.levels[corruption][severity - 1]:.2f}")
        return next((root / corruption / n for n in names if (root / corruption / n).is_dir()), None)

    def cost(self, images, opts) -> float:
        return images(self.dataset)

    def plan(self, run, opts) -> List[Cell]:
        root = Path(run.locations[self.dataset].path)
        unknown = sorted(d.name for d in root.iterdir() if d.is_dir() and d.name not in self.corruptions)
        if unknown:
            raise DataError(f"{self.name} folder {str(root)!r} has folders that are not {self.title} corruptions: "
                            f"{unknown[:5]}; expected {', '.join(self.corruptions)} (each with severity folders "
                            f"1-5{' or their parameters' if self.levels else ''}, then <wnid>/<image>)")
        cells, missing = [], []
        for c in self.corruptions:
            for s in range(1, 6):
                folder = self.folder(root, c, s)
                if folder is None:
                    missing.append(f"{c}/{s}")
                    continue
                cells.append(prerendered_cell(run, self.name, self.dataset, c, s, str(folder)))
        if not cells:
            raise DataError(f"{self.name} folder {str(root)!r} holds none of its cells; expected "
                            f"{root}/<corruption>/<severity>/<wnid>/<image>, e.g. {root}/{self.corruptions[0]}/1")
        if missing:
            logger.warning("%s: %d of %d cells have no folder under %s (e.g. %s); the mean is over the others",
                           self.title, len(missing), 5 * len(self.corruptions), root, missing[0])
        size, input_size = cells[0].loop()[0].stored_size(0), run.transform.input_size
        logger.info("%s: files %dx%d; model input %d: %s", self.title, *size, input_size,
                    "read as stored" if size == (input_size, input_size) else
                    "files not of the input size go through the model's own resize and crop")
        return cells

    def summarize(self, cells: List[dict], ctx: SummaryContext) -> Optional[dict]:
        if not cells:
            return None
        rows = sorted(cells, key=lambda c: (self.corruptions.index(c["variant"]), c["param"]))
        grid = {f"{c['variant']}/{int(c['param'])}": c["acc1"] for c in rows}
        per = {v: sum(c["acc1"] for c in rows if c["variant"] == v) / sum(c["variant"] == v for c in rows)
               for v in dict.fromkeys(c["variant"] for c in rows)}
        cal = [calibration(c) for c in rows]
        cal = [x for x in cal if x]
        return {"mean_acc": sum(grid.values()) / len(grid), "cells": len(grid),
                "complete": len(grid) == 5 * len(self.corruptions), "grid": grid,
                "acc1_ci": {f"{c['variant']}/{int(c['param'])}": c.get("acc1_ci") for c in rows},
                "per_corruption": {v: {"mean_acc": a} for v, a in per.items()},
                "images_per_cell": max(c["n"] for c in rows),
                "calibration": {k: sum(x[k] for x in cal) / len(cal) for k in CALIBRATION} if cal else None,
                "protocol": "no mCE: no per-corruption AlexNet errors are published for this set"}

    def plots(self, runs):
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for label, e in runs:
            sev = sorted({int(k.split("/")[1]) for k in e["grid"]})
            ys = [100 * sum(v for k, v in e["grid"].items() if int(k.split("/")[1]) == s) /
                  sum(int(k.split("/")[1]) == s for k in e["grid"]) for s in sev]
            ax.plot(sev, ys, marker="o", label=label)
            ax.set_xticks(sev)
        ax.set_xlabel("severity")
        ax.set_ylabel("mean top-1 % over its corruptions")
        ax.set_title(f"{self.title}: top-1 vs severity")
        ax.legend(fontsize=7)
        return {f"{self.name}_acc_vs_severity": fig}


register_dataset(DatasetSpec("imagenet-c-bar", "imagenet-c-bar", "PIT_EVAL_IMAGENET_C_BAR", "wnid"))
register_dataset(DatasetSpec("imagenet-3dcc", "imagenet-3dcc", "PIT_EVAL_IMAGENET_3DCC", "wnid", image_lists=True))
register(CorruptionSet("imagenet-c-bar", "ImageNet-C-bar", 11, tuple(_c_bar_levels()), _c_bar_levels()))
register(CorruptionSet("imagenet-3dcc", "ImageNet-3DCC", 12, CORRUPTIONS_3DCC, options=ImageSubsetOption))
