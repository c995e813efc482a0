"""Calibration under shift (Ovadia et al. 2019; google-research/robustness_metrics' definitions): ECE
over 15 equal-width bins of the max-softmax confidence (L1, weighted by bin size), the mean negative
log-likelihood of the label, and the multi-class Brier score (the mean over images of
sum_k (p_k - onehot_k)^2 = sum_p2 - 2 p_label + 1), with each bin's count, mean confidence and
accuracy for a reliability diagram. The softmax is over the scored classes (ImageNet-A/R: their 200)."""
from __future__ import annotations

from typing import Any, Dict

import torch

from ..metrics import ECE_BINS, calibration_bin, expected_calibration_error
from .base import Batch, SumMetric, register


@register
class Calibration(SumMetric):
    """``ece``, ``nll``, ``brier`` and ``calibration_bins`` (``count``, ``confidence``, ``accuracy``)."""
    name = "calibration"
    softmax = True
    states = {"bins": ((3, ECE_BINS), torch.float64), "nll_brier": ((2,), torch.float64)}

    def update(self, state, batch: Batch) -> None:
        conf = batch.probs.gather(1, batch.top1.view(-1, 1))[:, 0]
        correct = (batch.top1 == batch.labels).double()
        rows = torch.arange(3, device=conf.device).repeat_interleave(len(conf))
        where = (batch.cells.repeat(3), rows, calibration_bin(conf).repeat(3))   # (cell, count|conf|correct, bin)
        state["bins"].index_put_(where, torch.cat([torch.ones_like(correct), conf.double(), correct]),
                                 accumulate=True)
        p_label = batch.log_p_label.exp()
        per = torch.stack([-batch.log_p_label, batch.sum_p2.double() - 2 * p_label + 1], 1)
        state["nll_brier"].index_add_(0, batch.cells, per)

    def finalize(self, value, n: int) -> Dict[str, Any]:
        count, conf, correct = value["bins"]
        nll, brier = value["nll_brier"]
        return {"ece": expected_calibration_error(count, conf, correct),
                "nll": nll / n if n else None, "brier": brier / n if n else None,
                "calibration_bins": {"count": [int(c) for c in count],
                                     "confidence": [s / c if c else None for s, c in zip(conf, count)],
                                     "accuracy": [s / c if c else None for s, c in zip(correct, count)]}}
