"""Robustness metrics, named exactly.

ImageNet-C (Hendrycks & Dietterich, ICLR 2019):
  CE_c            = sum_s E(model, c, s) / sum_s E(AlexNet, c, s)
  mCE             = mean of CE_c over the 15 benchmark corruptions
  relative CE_c   = sum_s (E(model, c, s) - E(model, clean)) / sum_s (E(AlexNet, c, s) - E(AlexNet, clean))
  relative mCE    = mean of relative CE_c over the 15
  mean corrupted accuracy = mean top-1 over the 15 benchmark corruptions x severities 1-5 (as
                    RobustBench and Hendrycks publish it); ``*_complete`` says whether all 75 cells
                    exist. A mean over every evaluated cell (extras included) is
                    ``mean_corrupted_acc_evaluated``, never compared with a published number.
Sampling uncertainty: every accuracy k / n carries its exact two-sided 95 % Clopper-Pearson interval
  (:func:`clopper_pearson`, as imagenet-testbed draws it).
Calibration (google-research/robustness_metrics' definitions): :func:`expected_calibration_error` over
  15 equal-width bins of the max-softmax confidence, L1, weighted by bin size.
COCO-C (Michaelis et al. 2019, mmdet robustness_eval.py): P = clean AP, mPC = mean AP over the 15
  benchmark corruptions x severities 1-5, rPC = mPC / P; the 4 extra corruptions go to ``mPC_extra``.
All errors and accuracies are fractions in [0, 1].
"""
from __future__ import annotations

from typing import Dict, List, Mapping, Optional, Sequence, Tuple

import numpy as np

from .corruptions.names import ALEXNET_CLEAN_ERR, ALEXNET_ERR

CellAcc = Mapping[Tuple[str, int], float]  # (corruption, severity) -> top-1 accuracy


def _per_corruption(cells: CellAcc) -> Dict[str, Dict[int, float]]:
    out: Dict[str, Dict[int, float]] = {}
    for (c, s), acc in cells.items():
        out.setdefault(c, {})[int(s)] = float(acc)
    return out


def corruption_error(errors_by_severity: Sequence[float], corruption: str) -> float:
    """CE_c for one corruption given the model's error at each of the 5 severities."""
    if len(errors_by_severity) != 5:
        raise ValueError(f"CE of {corruption!r} needs the 5 severities, got {len(errors_by_severity)}")
    return float(np.sum(errors_by_severity) / (5 * ALEXNET_ERR[corruption]))


def relative_corruption_error(errors_by_severity: Sequence[float], clean_error: float,
                              corruption: str) -> float:
    """Relative CE_c: the degradation from clean, normalised by AlexNet's degradation."""
    if len(errors_by_severity) != 5:
        raise ValueError(f"relative CE of {corruption!r} needs the 5 severities")
    num = float(np.sum(np.asarray(errors_by_severity) - clean_error))
    den = 5 * (ALEXNET_ERR[corruption] - ALEXNET_CLEAN_ERR)
    return num / den


def imagenet_c_summary(cells: CellAcc, clean_acc: float | None = None) -> Dict[str, object]:
    """Aggregate per-cell accuracies into the ImageNet-C metrics.

    CE/mCE (and relative ones, when ``clean_acc`` is known) are computed only for benchmark
    corruptions with all 5 severities; mCE only when all 15 are complete. Others get accuracy only.
    """
    per_c = _per_corruption(cells)
    out: Dict[str, object] = {"per_corruption": {}}
    ces, rces = {}, {}
    for c, sev in sorted(per_c.items()):
        entry = {"mean_acc": float(np.mean(list(sev.values()))), "severities": sorted(sev)}
        if c in ALEXNET_ERR and sorted(sev) == [1, 2, 3, 4, 5]:
            errs = [1.0 - sev[s] for s in range(1, 6)]
            entry["ce"] = ces[c] = corruption_error(errs, c)
            if clean_acc is not None:
                entry["relative_ce"] = rces[c] = relative_corruption_error(errs, 1.0 - clean_acc, c)
        out["per_corruption"][c] = entry
    bench = [v for (c, _), v in cells.items() if c in ALEXNET_ERR]
    out["mean_corrupted_acc"] = float(np.mean(bench)) if bench else None
    out["mean_corrupted_acc_complete"] = _complete(cells)
    out["mean_corrupted_acc_evaluated"] = float(np.mean(list(cells.values()))) if cells else None
    out["evaluated_corruptions"] = sorted(per_c)
    complete = len(ces) == len(ALEXNET_ERR)
    out["mce"] = float(np.mean(list(ces.values()))) if complete else None
    out["relative_mce"] = float(np.mean(list(rces.values()))) if complete and rces else None
    out["mce_complete"] = complete
    return out


def area_under_curve(levels: Sequence[float], accs: Sequence[float]) -> float:
    """Trapezoidal area under accuracy-vs-level, normalised by the level range (so it is in [0, 1])."""
    x = np.asarray(levels, dtype=float)
    y = np.asarray(accs, dtype=float)
    if len(x) < 2:
        return float(y[0]) if len(y) else float("nan")
    order = np.argsort(x)
    x, y = x[order], y[order]
    return float(np.sum((x[1:] - x[:-1]) * (y[1:] + y[:-1]) / 2) / (x[-1] - x[0]))


def _complete(cells: Mapping[Tuple[str, int], object]) -> bool:
    """Are all 15 benchmark corruptions x severities 1-5 present?"""
    return all((c, s) in cells for c in ALEXNET_ERR for s in range(1, 6))


def coco_c_summary(clean_ap: float, corrupted_ap: Mapping[Tuple[str, int], float]) -> Dict[str, object]:
    """P, mPC and rPC (Michaelis et al. 2019; mmdet's robustness_eval.py averages the 15 benchmark
    corruptions x 5 severities) from clean AP and per-(corruption, severity) AP. Cells of the extra
    corruptions are averaged apart (``mPC_extra``)."""
    if not corrupted_ap:
        raise ValueError("COCO-C summary needs at least one corrupted cell")
    bench = [v for (c, _), v in corrupted_ap.items() if c in ALEXNET_ERR]
    extra = [v for (c, _), v in corrupted_ap.items() if c not in ALEXNET_ERR]
    mpc = float(np.mean(bench)) if bench else None
    return {"P": float(clean_ap), "mPC": mpc,
            "rPC": mpc / clean_ap if mpc is not None and clean_ap > 0 else None,
            "mPC_complete": _complete(corrupted_ap), "mPC_cells": len(bench),
            "mPC_extra": float(np.mean(extra)) if extra else None}


def clopper_pearson(k: int, n: int, level: float = 0.95) -> Optional[List[float]]:
    """The exact (Clopper-Pearson) two-sided ``level`` interval of a binomial proportion ``k / n``,
    ``[lo, hi]`` as fractions; None when ``n`` is 0."""
    if n <= 0:
        return None
    from scipy.stats import beta
    a = (1.0 - level) / 2
    lo = 0.0 if k <= 0 else float(beta.ppf(a, k, n - k + 1))
    hi = 1.0 if k >= n else float(beta.ppf(1 - a, k + 1, n - k))
    return [lo, hi]


ECE_BINS = 15


def calibration_bin(confidence):
    """The bin (0..14) of each max-softmax confidence: equal-width bins over [0, 1], each closed on the
    left (torchmetrics' ``bucketize(right=True)`` on ``linspace(0, 1, 16)``), a confidence of exactly
    1 in the last bin (robustness_metrics' fixed-width histogram)."""
    import torch
    edges = torch.linspace(0, 1, ECE_BINS + 1, dtype=confidence.dtype, device=confidence.device)
    return (torch.bucketize(confidence, edges, right=True) - 1).clamp_(0, ECE_BINS - 1)


def expected_calibration_error(count: Sequence[float], sum_confidence: Sequence[float],
                               sum_correct: Sequence[float]) -> Optional[float]:
    """ECE = sum over bins of |sum correct - sum confidence| / n (= sum_b |b|/n |acc(b) - conf(b)|)."""
    n = float(np.sum(count))
    if n <= 0:
        return None
    return float(np.sum(np.abs(np.asarray(sum_correct, float) - np.asarray(sum_confidence, float))) / n)
