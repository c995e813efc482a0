"""Top-1 / top-5 accuracy (the default metric) and the top-1 of mapped predictions (IN-9's nine
superclasses), each with its exact 95 % Clopper-Pearson interval."""
from __future__ import annotations

from typing import Any, Dict, Sequence

import torch

from ..metrics import clopper_pearson
from .base import Batch, SumMetric, register


def _rate(k: int, n: int) -> Dict[str, Any]:
    return {"value": k / n if n else None, "ci": clopper_pearson(k, n)}


@register
class TopK(SumMetric):
    """``correct1`` / ``correct5``: images whose label is the top-1 / among the top-5 classes;
    ``acc1`` / ``acc5`` and their intervals ``acc1_ci`` / ``acc5_ci``."""
    name = "topk"
    states = {"correct": ((2,), torch.int64)}

    def update(self, state, batch: Batch) -> None:
        hit = batch.top5.eq(batch.labels.view(-1, 1))
        state["correct"].index_add_(0, batch.cells, torch.stack([hit[:, 0], hit.any(1)], 1).long())

    def finalize(self, value, n: int) -> Dict[str, Any]:
        c1, c5 = value["correct"]
        a1, a5 = _rate(c1, n), _rate(c5, n)
        return {"correct1": c1, "correct5": c5, "acc1": a1["value"], "acc5": a5["value"],
                "acc1_ci": a1["ci"], "acc5_ci": a5["ci"]}


@register
class MappedTop1(SumMetric):
    """Top-1 through a class map (each of the model's classes -> a label, -1: none): ``correct1``,
    ``acc1`` and ``acc1_ci``; no top-5 (the map has no ranking)."""
    name = "mapped-top1"
    states = {"correct": ((1,), torch.int64)}

    def __init__(self, class_map: Sequence[int]) -> None:
        self.class_map = list(class_map)
        self._cmap = None

    def update(self, state, batch: Batch) -> None:
        if self._cmap is None or self._cmap.device != batch.logits.device:
            self._cmap = torch.tensor(self.class_map, device=batch.logits.device)
        hit = self._cmap[batch.top1] == batch.labels
        state["correct"].index_add_(0, batch.cells, hit.long().view(-1, 1))

    def finalize(self, value, n: int) -> Dict[str, Any]:
        (c1,) = value["correct"]
        a1 = _rate(c1, n)
        return {"correct1": c1, "acc1": a1["value"], "acc1_ci": a1["ci"]}
