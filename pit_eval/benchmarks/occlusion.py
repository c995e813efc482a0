"""Occlusion: ``patch_drop`` (a fraction of the patch grid filled; Naseer et al. 2021) or ``center`` (a
centred rectangle of a fraction of the area), deterministic per (seed, image key, protocol, level),
and the cell compared with the PiT paper's occlusion number (a centred box: our reading of an
unverified protocol). Page: docs/benchmarks/occlusion.md.
"""
from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import List, Optional, Tuple

import numpy as np
import torch
from torch.utils.data import Dataset

from ..metrics import area_under_curve
from ..settings import floats, option, positive
from .base import Benchmark, Cell, Metric, SummaryContext, curve, register

PROTOCOLS = ("patch_drop", "center")


@dataclass(frozen=True)
class OcclusionConfig:
    protocol: str = "patch_drop"
    levels: Tuple[float, ...] = (0.0, 0.25, 0.5, 0.75)
    patch_size: int = 16
    fill: str = "0"  # a number in [0, 1] or "mean"
    paper_box: int = 112
    paper_fill: str = "0"

    def __post_init__(self) -> None:
        if self.protocol not in PROTOCOLS:
            raise ValueError(f"occlusion protocol {self.protocol!r} unknown; use one of {PROTOCOLS}")
        bad = [l for l in self.levels if not 0.0 <= l <= 1.0]
        if bad or not self.levels:
            raise ValueError(f"occlusion levels must be fractions in [0, 1], got {list(self.levels)}")
        if self.patch_size < 1:
            raise ValueError(f"occlusion patch size must be >= 1, got {self.patch_size}")
        for name in ("fill", "paper_fill"):
            fill = getattr(self, name)
            if fill != "mean" and not 0.0 <= float(fill) <= 1.0:
                raise ValueError(f"occlusion {name.replace('_', ' ')} must be in [0, 1] or 'mean', got {fill!r}")
        if self.paper_box < 1:
            raise ValueError(f"occlusion paper box must be >= 1 pixel, got {self.paper_box}")

    def paper_cell(self, input_size: int) -> Tuple["OcclusionConfig", float]:
        """The centred-box cell compared with the paper: (config, level = box area fraction)."""
        if self.paper_box > input_size:
            raise ValueError(f"occlusion paper box {self.paper_box} is larger than the {input_size} input")
        cfg = OcclusionConfig("center", ((self.paper_box / input_size) ** 2,), fill=self.paper_fill)
        return cfg, cfg.levels[0]

    def paper_protocol(self) -> str:
        return (f"centred {self.paper_box}x{self.paper_box} box filled with {self.paper_fill} "
                "(our reading of the paper's occlusion protocol, unverified)")


def _rng(seed: int, key: str, protocol: str, level: float) -> np.random.Generator:
    digest = hashlib.sha256(f"{seed}|{key}|{protocol}|{level!r}".encode()).digest()
    return np.random.default_rng(int.from_bytes(digest[:8], "little"))


def occlusion_mask(h: int, w: int, protocol: str, level: float, patch_size: int = 16,
                   rng: np.random.Generator | None = None) -> np.ndarray:
    """Boolean HxW mask, True where the image is occluded."""
    mask = np.zeros((h, w), dtype=bool)
    if level <= 0:
        return mask
    if protocol == "center":
        s = math.sqrt(level)
        mh, mw = int(round(h * s)), int(round(w * s))
        top, left = (h - mh) // 2, (w - mw) // 2
        mask[top:top + mh, left:left + mw] = True
        return mask
    gh, gw = math.ceil(h / patch_size), math.ceil(w / patch_size)
    n = int(round(level * gh * gw))
    rng = rng if rng is not None else np.random.default_rng(0)
    for cell in rng.choice(gh * gw, size=n, replace=False):
        r, c = divmod(int(cell), gw)
        mask[r * patch_size:(r + 1) * patch_size, c * patch_size:(c + 1) * patch_size] = True
    return mask


class Occluded(Dataset):
    """Wraps a dataset of uint8 CHW tensors (``base``: an :class:`~pit_eval.images.ImageList`) and
    occludes each image at ``level``."""

    def __init__(self, base, cfg: OcclusionConfig, level: float, seed: int = 0,
                 mean: Tuple[float, ...] = (0.485, 0.456, 0.406)) -> None:
        self.base, self.cfg, self.level, self.seed = base, cfg, level, seed
        fill = mean if cfg.fill == "mean" else (float(cfg.fill),) * 3
        self.fill = torch.tensor([round(v * 255) for v in fill], dtype=torch.uint8).view(3, 1, 1)

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int):
        img, label = self.base[index]
        if label < 0:
            return img, label
        rng = _rng(self.seed, self.base.key(index), self.cfg.protocol, self.level)
        mask = torch.from_numpy(occlusion_mask(img.shape[1], img.shape[2], self.cfg.protocol,
                                               self.level, self.cfg.patch_size, rng))
        return torch.where(mask, self.fill, img), label


def _fill(value) -> str:
    value = str(value)
    if value != "mean":
        float(value)
    return value


@dataclass(frozen=True)
class OcclusionOptions:
    occlusion_protocol: str = option("patch_drop", "the sweep's protocol", choices=PROTOCOLS)
    occlusion_levels: Tuple[float, ...] = option((0.0, 0.25, 0.5, 0.75), "occluded fractions of the sweep",
                                                 parse=floats)
    occlusion_patch: int = option(16, "patch side of patch_drop", parse=positive(int))
    occlusion_fill: str = option("0", "a value in [0,1] or 'mean'", parse=_fill)
    occlusion_paper_box: int = option(112, "side of the centred box of the cell compared with the paper",
                                      parse=positive(int))
    occlusion_paper_fill: str = option("0", "its fill: a value in [0,1] or 'mean'", parse=_fill)

    def __post_init__(self) -> None:
        self.config()   # checks the values

    def config(self) -> OcclusionConfig:
        return OcclusionConfig(self.occlusion_protocol, self.occlusion_levels, self.occlusion_patch,
                               self.occlusion_fill, self.occlusion_paper_box, self.occlusion_paper_fill)


class Occlusion(Benchmark):
    name, title, dataset, order = "occlusion", "Occlusion", "imagenet", 30
    options = OcclusionOptions
    doc = "docs/benchmarks/occlusion.md"
    metrics = (
        Metric("paper_acc1", "occlusion top-1, paper cell (centred box, unverified protocol)",
               refs=("paper_occlusion_acc1",), column="occlusion (paper cell)", ci=("paper_acc1_ci",)),
        Metric("auc", "occlusion AUC over the sweep (extra; no reference)", column="occlusion AUC (sweep)"),
    )

    def cost(self, images, opts: OcclusionOptions) -> float:
        return images(self.dataset) * (len(opts.occlusion_levels) + 1)

    def plan(self, run, opts: OcclusionOptions) -> List[Cell]:
        clean, fp = run.clean()
        occ, seed, mean = opts.config(), run.seed, run.transform.mean
        cells = [Cell(f"occlusion/{occ.protocol}/p{occ.patch_size}/fill={occ.fill}/{level:g}", self.name,
                      occ.protocol, level, fp, loop=lambda l=level: (Occluded(clean, occ, l, seed, mean), None, None))
                 for level in occ.levels]
        paper, level = occ.paper_cell(run.transform.input_size)
        cells.append(Cell(f"occlusion/paper/box={occ.paper_box}/fill={occ.paper_fill}", self.name, "paper",
                          level, fp, loop=lambda: (Occluded(clean, paper, level, seed, mean), None, None)))
        return cells

    def summarize(self, cells: List[dict], ctx: SummaryContext) -> Optional[dict]:
        entry = curve([c for c in cells if c["variant"] != "paper"], "levels") or {}
        if len(entry.get("levels", ())) > 1:
            entry["auc"] = area_under_curve(entry["levels"], entry["acc1"])
        paper = next((c for c in cells if c["variant"] == "paper"), None)
        if paper:
            entry.update(paper_acc1=paper["acc1"], paper_acc1_ci=paper.get("acc1_ci"), paper_key=paper["key"])
        return entry or None

    def plots(self, runs):
        from ..plots import sweep_plot
        return {"occlusion_curve": sweep_plot(runs, "levels", "accuracy vs occlusion", "occluded fraction")}


register(Occlusion())
