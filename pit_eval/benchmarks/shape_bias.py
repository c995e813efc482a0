"""Shape bias on the cue-conflict stimuli (Geirhos et al., "ImageNet-trained CNNs are biased towards
texture; increasing shape bias improves accuracy and robustness", ICLR 2019), computed as the
reference toolbox does (github bethgelab/model-vs-human: ``ShapeBias``,
``ImageNetProbabilitiesTo16ClassesMapping``).

Layout (``--cue-conflict DIR`` or ``<data-root>/cue-conflict``), the 1,280 stimuli as released::

  <shape category>/<shape><n>-<texture><m>.png      e.g. cat/cat3-elephant1.png (224x224)

Protocol: each image as released (no resize, no crop; ImageNet normalisation inside the model); the
softmax over the 1000 classes; per image the mean probability over each of the 16 categories'
ImageNet classes (``CATEGORIES``); the decision is the category with the highest mean. Stimuli whose
shape and texture categories agree are left out. shape bias = shape decisions / (shape + texture
decisions); ``shape_fraction`` / ``texture_fraction`` are those decisions over every stimulus
evaluated, as the toolbox divides them. Page: docs/benchmarks/shape-bias.md.
"""
from __future__ import annotations

import logging
from pathlib import Path
from typing import Dict, List, Optional, Sequence, Tuple

import torch
from torchvision.transforms import PILToTensor

from ..datasets import DatasetSpec, fingerprint, register_dataset, thin
from ..images import IMG_EXTENSIONS, DataError, ImageList, check_same_size
from ..loop_metrics import Batch, Fingerprint, Predictions, SumMetric
from ..loop_metrics import register as register_metric
from ..metrics import clopper_pearson
from .base import Benchmark, Cell, Metric, SummaryContext, register

logger = logging.getLogger(__name__)

#: the 16 categories and their ImageNet-1k indices (sorted-WNID order): rgeirhos/texture-vs-shape
#: code/helper/human_categories.py, the same lists as bethgelab/model-vs-human
#: modelvshuman/helper/human_categories.py, restricted to the 1000 ILSVRC-2012 classes
CATEGORIES: Dict[str, Tuple[int, ...]] = {
    "airplane": (404,),
    "bear": (294, 295, 296, 297),
    "bicycle": (444, 671),
    "bird": (8, 10, 11, 12, 13, 14, 15, 16, 18, 19, 20, 22, 23, 24, 80, 81, 82, 83, 87, 88, 89, 90, 91, 92,
             93, 94, 95, 96, 98, 99, 100, 127, 128, 129, 130, 131, 132, 133, 135, 136, 137, 138, 139, 140,
             141, 142, 143, 144, 145),
    "boat": (472, 554, 625, 814, 914),
    "bottle": (440, 720, 737, 898, 899, 901, 907),
    "car": (436, 511, 817),
    "cat": (281, 282, 283, 284, 285, 286),
    "chair": (423, 559, 765, 857),
    "clock": (409, 530, 892),
    "dog": (152, 153, 154, 155, 156, 157, 158, 159, 160, 161, 162, 163, 164, 165, 166, 167, 168, 169, 170,
            171, 172, 173, 174, 175, 176, 177, 178, 179, 180, 181, 182, 183, 184, 185, 186, 187, 188, 189,
            190, 191, 193, 194, 195, 196, 197, 198, 199, 200, 201, 202, 203, 205, 206, 207, 208, 209, 210,
            211, 212, 213, 214, 215, 216, 217, 218, 219, 220, 221, 222, 223, 224, 225, 226, 228, 229, 230,
            231, 232, 233, 234, 235, 236, 237, 238, 239, 240, 241, 243, 244, 245, 246, 247, 248, 249, 250,
            252, 253, 254, 255, 256, 257, 259, 261, 262, 263, 265, 266, 267, 268),
    "elephant": (385, 386),
    "keyboard": (508, 878),
    "knife": (499,),
    "oven": (766,),
    "truck": (555, 569, 656, 675, 717, 734, 864, 867),
}
NAMES: Tuple[str, ...] = tuple(CATEGORIES)


def stimulus_categories(path: str) -> Tuple[str, str]:
    """(shape, texture) of ``<shape><n>-<texture><m>.png`` as the toolbox reads a name (the part after
    the last ``_``, before the first ``.``; the texture is what follows the last ``-``, digits
    removed); the shape category is the folder's."""
    p = Path(path)
    stem = p.name.split("_")[-1].split(".")[0]
    if "-" not in stem:
        raise DataError(f"cue-conflict stimulus {path}: the name has no '-<texture>' part; stimuli are named "
                        "<shape><n>-<texture><m>.png, as released")
    texture = "".join(ch for ch in stem.split("-")[-1] if not ch.isdigit())
    if texture not in CATEGORIES:
        raise DataError(f"cue-conflict stimulus {path}: texture category {texture!r} is not one of the 16 "
                        f"({', '.join(NAMES)})")
    return p.parent.name, texture


def scan(root: str) -> List[Tuple[str, int, int]]:
    """Every stimulus under ``root``: (path, shape index, texture index), in sorted order."""
    base = Path(root)
    if not base.is_dir():
        raise DataError(f"--cue-conflict {root}: not a directory (the released cue-conflict folder, "
                        "one sub-folder per shape category)")
    out = []
    for folder in sorted(d for d in base.iterdir() if d.is_dir() and not d.name.startswith(".")):
        if folder.name not in CATEGORIES:
            raise DataError(f"cue-conflict folder {folder}: {folder.name!r} is not one of the 16 categories "
                            f"({', '.join(NAMES)}); remove it or give the released tree")
        for f in sorted(folder.iterdir()):
            if f.suffix.lower() in IMG_EXTENSIONS:
                shape, texture = stimulus_categories(str(f))
                out.append((str(f), NAMES.index(shape), NAMES.index(texture)))
    if not out:
        raise DataError(f"--cue-conflict {root}: no stimuli found (<shape category>/<name>.png)")
    return out


def category_means(probs: torch.Tensor) -> torch.Tensor:
    """(N, 1000) softmax -> (N, 16): the mean probability over each category's ImageNet classes."""
    return torch.stack([probs[:, list(ix)].mean(dim=1) for ix in CATEGORIES.values()], dim=1)


@register_metric
class ShapeDecisions(SumMetric):
    """Per shape category [shape decisions, texture decisions, conflict stimuli] of the stimuli whose
    shape and texture categories differ; the labels are the shape categories, ``textures`` the
    texture category of every sample index. Record: ``shape_decisions``, ``texture_decisions``,
    ``n_conflict``, ``per_category``."""
    name = "shape-decisions"
    states = {"per": ((len(NAMES), 3), torch.int64)}

    def __init__(self, textures: Sequence[int]) -> None:
        self.textures = list(textures)
        self._tex: Optional[torch.Tensor] = None

    def update(self, state, batch: Batch) -> None:
        if self._tex is None or self._tex.device != batch.labels.device:
            self._tex = torch.tensor(self.textures, device=batch.labels.device)
        decision = category_means(batch.probs).argmax(dim=1)
        shape, texture = batch.labels, self._tex[batch.indices]
        conflict = shape != texture
        hits = torch.stack([conflict & (decision == shape), conflict & (decision == texture), conflict], 1).long()
        per = state["per"]
        per.view(-1, 3).index_add_(0, batch.cells * len(NAMES) + shape, hits)

    def finalize(self, value, n: int) -> Dict[str, object]:
        per = value["per"]
        return {"shape_decisions": sum(r[0] for r in per), "texture_decisions": sum(r[1] for r in per),
                "n_conflict": sum(r[2] for r in per), "per_category": dict(zip(NAMES, per))}


def _ratio(a: int, b: int) -> Optional[float]:
    return a / (a + b) if a + b else None


class ShapeBias(Benchmark):
    name, title, dataset, order = "shape-bias", "Shape bias (cue-conflict)", "cue-conflict", 95
    doc = "docs/benchmarks/shape-bias.md"
    metrics = (Metric("shape_bias", "shape bias on cue-conflict (0-1; extra, no paper value)", scale=1.0,
                      column="shape bias", ci=("shape_bias_ci",)),
               Metric("shape_fraction", "cue-conflict shape decisions, share of all stimuli", scale=1.0),
               Metric("texture_fraction", "cue-conflict texture decisions, share of all stimuli", scale=1.0))

    def plan(self, run, opts) -> List[Cell]:
        root = run.locations[self.dataset].path
        stimuli = thin(scan(root), run.max_images)
        check_same_size([p for p, _, _ in stimuli], "cue-conflict", "the released stimuli are all 224x224 "
                        "and are evaluated without resizing")
        ds = ImageList([(p, shape) for p, shape, _ in stimuli], PILToTensor(), run.on_bad_image, root=root)
        metrics = [ShapeDecisions([t for _, _, t in stimuli]), Fingerprint(),
                   Predictions(run.save_logits, mapped=True)]
        return [Cell("shape-bias", self.name, "cue-conflict", None, fingerprint(ds),
                     loop=lambda: (ds, None, None), metrics=metrics)]

    def upgrade(self, record: dict) -> dict:
        """Before loop metrics the shape decisions were counted as ``correct1``, texture as ``texture``."""
        if "shape_decisions" in record or "correct1" not in record:
            return record
        out = {k: v for k, v in record.items() if k not in ("correct1", "texture", "acc1", "acc5", "acc1_ci")}
        return {**out, "shape_decisions": record["correct1"], "texture_decisions": record["texture"],
                "metrics": ["shape-decisions", "fingerprint"]}

    def headline(self, record: dict) -> str:
        return (f"{record['shape_decisions']} shape / {record['texture_decisions']} texture decisions of "
                f"{record['n_conflict']} conflict stimuli")

    def summarize(self, cells: List[dict], ctx: SummaryContext) -> Optional[dict]:
        if not cells:
            return None
        c = cells[0]
        shape, texture, n = c["shape_decisions"], c["texture_decisions"], c["n"]
        return {"shape_bias": _ratio(shape, texture),
                "shape_bias_ci": clopper_pearson(shape, shape + texture),
                "shape_fraction": shape / n if n else None,
                "texture_fraction": texture / n if n else None, "n_conflict": c["n_conflict"], "n": n,
                "per_category": {k: {"shape_bias": _ratio(s, t), "shape": s, "texture": t, "n_conflict": k_n}
                                 for k, (s, t, k_n) in c["per_category"].items()}}

    def plots(self, runs):
        """The familiar figure: the 16 categories down, shape bias across (1 = shape, left)."""
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5, 6))
        for k, (label, e) in enumerate(runs):
            marker = "os^Dv<>p"[k % 8]
            xs = [e["per_category"][c]["shape_bias"] for c in NAMES]
            ax.scatter([x for x in xs if x is not None], [i for i, x in enumerate(xs) if x is not None],
                       marker=marker, label=label)
            if e["shape_bias"] is not None:
                ax.axvline(e["shape_bias"], color=ax.collections[-1].get_facecolor()[0], lw=1, ls="--")
        ax.set_yticks(range(len(NAMES)), NAMES)
        ax.set_ylim(len(NAMES) - 0.5, -0.5)
        ax.set_xlim(1.03, -0.03)
        ax.set_xlabel("fraction of 'shape' decisions (dashed: the model's shape bias)")
        ax.set_title("shape bias per category (cue-conflict)")
        ax.legend(fontsize=7)
        return {"shape_bias_per_category": fig}


register_dataset(DatasetSpec("cue-conflict", "cue-conflict", "PIT_EVAL_CUE_CONFLICT", "own", folders_only=True))
register(ShapeBias())
