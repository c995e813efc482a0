"""Top-1 / top-5 accuracy (the default metric) and the top-1 of mapped predictions (IN-9's nine
superclasses), each with its exact 95 % Clopper-Pearson interval."""
from __future__ import annotations

from typing import Any, Dict, Optional, Sequence

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


@register
class SubsetTop1(SumMetric):
    """Top-1 on subsets of the classes (the 200 of ImageNet-A, of ImageNet-R; ObjectNet's 125): over the
    images whose label is in a subset, with the logits restricted to it, as timm's ``*-clean`` results
    and the testbed's ``val-on-*-classes`` measure the x axis of those shifts. ``subsets``: name -> class
    indices; ``groups``: name -> the group of each of its classes, where a prediction is right when it
    is in the label's group (ObjectNet: its classes, each of one or more ImageNet classes; the
    testbed's collapsed logits). Record: ``subset_acc1: {name: {correct, n, acc1, acc1_ci}}``."""
    name = "subset-top1"

    def __init__(self, subsets: Dict[str, Sequence[int]], n_classes: int = 1000,
                 groups: Optional[Dict[str, Sequence[int]]] = None) -> None:
        self.subsets = {k: list(v) for k, v in subsets.items()}
        self.groups = {k: list((groups or {}).get(k, range(len(v)))) for k, v in self.subsets.items()}
        self.n_classes = n_classes
        self.states = {"hits": ((len(subsets), 2), torch.int64)}
        self._dev: Dict[str, Any] = {}

    def _tensors(self, device):
        if self._dev.get("device") != device:
            idx = [torch.tensor(v, device=device) for v in self.subsets.values()]
            grp = [torch.tensor(v, device=device) for v in self.groups.values()]
            pos = torch.full((len(idx), self.n_classes), -1, dtype=torch.long, device=device)
            for k, ix in enumerate(idx):
                pos[k, ix] = torch.arange(len(ix), device=device)
            self._dev = {"device": device, "idx": idx, "grp": grp, "pos": pos}
        return self._dev["idx"], self._dev["grp"], self._dev["pos"]

    def update(self, state, batch: Batch) -> None:
        idx, grp, pos = self._tensors(batch.logits.device)
        hits = []
        for k, ix in enumerate(idx):
            where = pos[k, batch.labels]
            inside = where >= 0
            right = inside & (grp[k][batch.logits[:, ix].argmax(1)] == grp[k][where.clamp(min=0)])
            hits.append(torch.stack([right, inside], 1))
        state["hits"].index_add_(0, batch.cells, torch.stack(hits, 1).long())

    def finalize(self, value, n: int) -> Dict[str, Any]:
        out = {}
        for name, (correct, m) in zip(self.subsets, value["hits"]):
            out[name] = {"correct": correct, "n": m, "acc1": correct / m if m else None, "acc1_ci": clopper_pearson(correct, m)}
        return {"subset_acc1": out}


@register
class MappedTopK(SumMetric):
    """Top-1 / top-5 through groups of the scored classes (ObjectNet: each of its classes is one or more
    ImageNet classes): top-1 is right when the best class is of the label's group (the testbed's
    ``objectnet_accuracy``), top-5 when the label's group is among the five best groups, each group
    scored by its best class (the testbed's collapsed logits). ``group``: the group of each scored
    class. Record: ``correct1``, ``correct5``, ``acc1``, ``acc5`` and their intervals."""
    name = "mapped-topk"
    states = {"correct": ((2,), torch.int64)}

    def __init__(self, group: Sequence[int]) -> None:
        self.group = list(group)
        self.n_groups = max(self.group) + 1
        self._grp = None

    def update(self, state, batch: Batch) -> None:
        if self._grp is None or self._grp.device != batch.logits.device:
            self._grp = torch.tensor(self.group, device=batch.logits.device)
        grp = self._grp.expand(len(batch.logits), -1)
        collapsed = torch.full((len(batch.logits), self.n_groups), float("-inf"), device=batch.logits.device)
        collapsed = collapsed.scatter_reduce(1, grp, batch.logits, "amax")
        top5 = collapsed.topk(min(5, self.n_groups), dim=1).indices
        hit1 = self._grp[batch.top1] == batch.labels
        hit5 = top5.eq(batch.labels.view(-1, 1)).any(1)
        state["correct"].index_add_(0, batch.cells, torch.stack([hit1, hit5], 1).long())

    finalize = TopK.finalize


@register
class RealTop1(SumMetric):
    """ImageNet-ReaL top-1 / top-5 (:mod:`pit_eval.real_labels`): over the images whose label set is not
    empty, right when any of the top-k classes is in the set. ``label_sets``: per sample index.
    Record: ``real: {correct1, correct5, n, acc1, acc5, acc1_ci, labels_sha256, labels}``."""
    name = "real-top1"
    states = {"hits": ((3,), torch.int64)}

    def __init__(self, label_sets: Sequence[Sequence[int]], sha256: str, source: str) -> None:
        width = max(1, max((len(s) for s in label_sets), default=1))
        self.table = torch.full((len(label_sets), width), -1, dtype=torch.long)
        for i, s in enumerate(label_sets):
            self.table[i, :len(s)] = torch.tensor(list(s), dtype=torch.long)
        self.sha256, self.source = sha256, source
        self._dev = None

    def holds(self, record: dict) -> bool:
        """A finished cell counts as having this metric only for the same label file."""
        return (record.get("real") or {}).get("labels_sha256") == self.sha256

    def update(self, state, batch: Batch) -> None:
        if self._dev is None or self._dev.device != batch.logits.device:
            self._dev = self.table.to(batch.logits.device)
        sets = self._dev[batch.indices]                                   # (B, width), -1 padded
        hit = (batch.top5[:, :, None] == sets[:, None, :]).any(2)        # (B, 5): class k in the set
        has = (sets >= 0).any(1)
        rows = torch.stack([hit[:, 0] & has, hit.any(1) & has, has], 1).long()
        state["hits"].index_add_(0, batch.cells, rows)

    def finalize(self, value, n: int) -> Dict[str, Any]:
        c1, c5, m = value["hits"]
        return {"real": {"correct1": c1, "correct5": c5, "n": m, "acc1": c1 / m if m else None,
                         "acc5": c5 / m if m else None, "acc1_ci": clopper_pearson(c1, m),
                         "labels_sha256": self.sha256, "labels": self.source}}
