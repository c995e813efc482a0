"""ImageNet-O (Hendrycks et al., "Natural Adversarial Examples", CVPR 2021): out-of-distribution
detection, as natural-adv-examples' ``eval_many_models.py`` measures it. The logits are restricted to
ImageNet-O's 200 classes; an image's score is minus its max softmax; the in-distribution images are
the ImageNet val images of the classes that have an ImageNet-O folder, the ImageNet-O images the
positives; AUROC and AUPR by scikit-learn, the FPR at 95 % recall as ``calibration_tools`` finds it.
Two datasets, one cell: the in-distribution scores come from the clean cell's predictions when it ran
on the same images (each clean row keeps ``msp_imagenet-o``), else from a pass of this benchmark's own.
Protocol and layout: docs/benchmarks/imagenet-o.md."""
from __future__ import annotations

import functools
import logging
from typing import Dict, List, Optional

import numpy as np

from .. import prediction_files
from ..datasets import ASSETS, DatasetSpec, comparable, fingerprint, imagenet_wnids, register_dataset, wnid_indices
from ..images import NO_LABEL, DataError, ImageList, sample_paths
from ..loop_metrics import Fingerprint, Predictions, TopK, finalize, rows_of
from ..stall import StallMeter
from .base import Benchmark, Cell, Metric, SummaryContext, register

logger = logging.getLogger(__name__)

RECALL = 0.95
#: the clean cell's column of the max softmax over ImageNet-O's 200 classes (benchmarks/folders.py)
CLEAN_SCORE = "msp_imagenet-o"


@functools.lru_cache(None)
def imagenet_o_wnids() -> List[str]:
    """ImageNet-O's 200 wnids (natural-adv-examples' ``imagenet_o_wnids``; assets/imagenet-o/SOURCE.md)."""
    return (ASSETS / "imagenet-o" / "imagenet_o_wnids.txt").read_text().split()


def imagenet_o_indices() -> List[int]:
    """The positions of ImageNet-O's wnids among the 1000 classes (the logits its scores read)."""
    return wnid_indices(imagenet_o_wnids())


register_dataset(DatasetSpec("imagenet-o", "imagenet-o", "PIT_EVAL_IMAGENET_O", "subset", classes=imagenet_o_indices))


def fpr_at_recall(pos: np.ndarray, neg: np.ndarray, recall: float = RECALL) -> float:
    """The false-positive rate at the threshold whose recall of the positives is nearest ``recall``,
    walked from the highest scores down over distinct score values (natural-adv-examples'
    ``fpr_and_fdr_at_recall``, whose choice among equally near thresholds this keeps)."""
    scores = np.concatenate([pos, neg])
    positive = np.r_[np.ones(len(pos), bool), np.zeros(len(neg), bool)]
    order = np.argsort(scores, kind="mergesort")[::-1]
    scores, positive = scores[order], positive[order]
    ends = np.r_[np.flatnonzero(np.diff(scores)), len(scores) - 1]   # the last row of each distinct score
    tp = np.cumsum(positive)[ends]
    fp = ends + 1 - tp
    first_full = np.searchsorted(tp, tp[-1])
    recalls = np.r_[tp[first_full::-1] / tp[-1], 1.0]
    fps = np.r_[fp[first_full::-1], 0]
    return float(fps[np.argmin(np.abs(recalls - recall))] / len(neg))


def ood_measures(out_score: np.ndarray, in_score: np.ndarray) -> Dict[str, float]:
    """AUROC, AUPR (the out-of-distribution images as positives) and FPR at 95 % recall."""
    from sklearn.metrics import average_precision_score, roc_auc_score
    scores = np.concatenate([out_score, in_score]).astype(np.float64)
    labels = np.r_[np.ones(len(out_score), np.int32), np.zeros(len(in_score), np.int32)]
    return {"auroc": float(roc_auc_score(labels, scores)), "aupr": float(average_precision_score(labels, scores)),
            "fpr95": fpr_at_recall(out_score.astype(np.float64), in_score.astype(np.float64))}


class ImageNetO(Benchmark):
    name, title, dataset, order = "imagenet-o", "ImageNet-O", "imagenet-o", 24
    also_reads = ("imagenet",)
    doc = "docs/benchmarks/imagenet-o.md"
    metrics = (
        Metric("auroc", "ImageNet-O AUROC (MSP, 200 classes)", column="IN-O AUROC"),
        Metric("aupr", "ImageNet-O AUPR (MSP, 200 classes)", column="IN-O AUPR"),
        Metric("fpr95", "ImageNet-O FPR at 95 % recall (MSP)", column="IN-O FPR95"),
        Metric("acc1", "ImageNet-O top-1 (200 classes)", ci=("acc1_ci",), in_table=False),
    )

    def cost(self, images, opts) -> float:
        return images("imagenet-o") + images("imagenet") * len(imagenet_o_indices()) / len(imagenet_wnids())

    def plan(self, run, opts) -> List[Cell]:
        out_ds, classes, out_fp = run.dataset("imagenet-o")
        clean, clean_fp = run.clean()
        present = {label for _, label in out_ds.samples if label != NO_LABEL}   # positions among the 200
        label_of = {classes[k]: k for k in present}               # 1000-class index -> position
        picked = [(i, p, label_of[y]) for i, (p, y) in enumerate(clean.samples) if y in label_of]
        in_ds = clean.view([(p, y) for _, p, y in picked])
        in_index = [i for i, _, _ in picked]
        if not len(in_ds):
            raise DataError(f"ImageNet-O: none of the ImageNet val images in {clean.root!r} is of the {len(present)} "
                            "classes with an ImageNet-O folder; the in-distribution set is the val images of those "
                            "classes: give the full val tree with --imagenet")
        fp = {"out": out_fp, "in": fingerprint(in_ds)}
        metrics = [TopK(), Fingerprint(), Predictions(run.save_logits, scores={"msp": None})]

        def compute(rd) -> dict:
            in_score, source = self._in_scores(run, rd, in_ds, in_index, clean_fp, classes)
            meter = StallMeter(run.engine.device)
            value = run.engine.evaluate(run.model, out_ds, "imagenet-o (out-of-distribution)", metrics, classes,
                                        meter=meter)
            rows = rows_of(metrics, value)
            out_score = -rows["msp"].astype(np.float64)
            return {**finalize(metrics, value), **ood_measures(out_score, in_score),
                    "in_distribution": {"n": len(in_score), "classes": len(present), "source": source},
                    "rows": rows, "timing": meter.result(-(-value["n"] // run.engine.world))}
        return [Cell(self.name, self.name, "", None, fp, run=compute, metrics=metrics, paths=sample_paths(out_ds))]

    @staticmethod
    def _in_scores(run, rd, in_ds: ImageList, in_index: List[int], clean_fp: dict, classes: List[int]):
        """Minus the max softmax of each in-distribution image, and where it came from: the clean cell's
        predictions in this directory when they are of the same images and keep the score, else a pass."""
        rec = rd.cells.get("clean")
        info = (rec or {}).get("predictions")
        if rec is not None and comparable(rec.get("data")) == comparable(clean_fp) and \
                not prediction_files.check(rd.path, info):
            rows = prediction_files.read_rows(rd.path / info["file"])
            if CLEAN_SCORE in rows:
                keep = np.isin(rows["index"], in_index)
                logger.info("ImageNet-O: %d in-distribution scores from the clean cell's predictions (%s)",
                            int(keep.sum()), info["file"])
                return -rows[CLEAN_SCORE][keep].astype(np.float64), f"clean cell ({info['file']})"
        metrics = [Predictions(scores={"msp": None})]
        value = run.engine.evaluate(run.model, in_ds, "imagenet-o (in-distribution: val)", metrics, classes)
        rows = rows_of(metrics, value)
        stored = rd.write_predictions("imagenet-o/in-distribution", rows, sample_paths(in_ds))
        return -rows["msp"].astype(np.float64), f"own pass over ImageNet val ({(stored or {}).get('file')})"

    def summarize(self, cells: List[dict], ctx: SummaryContext) -> Optional[dict]:
        if not cells:
            return None
        c = cells[0]
        return {k: c.get(k) for k in ("auroc", "aupr", "fpr95", "acc1", "acc1_ci", "acc5", "n", "skipped",
                                      "in_distribution")}

    def headline(self, record: dict) -> str:
        return (f"AUROC {100 * record['auroc']:.2f} %, FPR95 {100 * record['fpr95']:.2f} % "
                f"({record['n']} out / {record['in_distribution']['n']} in)")


register(ImageNetO())
