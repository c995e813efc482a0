"""What a metric of the evaluation loop is: a :class:`LoopMetric` with a device-side state that
:meth:`~LoopMetric.update` feeds from every model batch (a :class:`Batch`: the logits over the scored
classes, the labels, the sample indices and the cell of each row), read back once when the loop ends,
merged over ranks and blocks (states of disjoint image sets add up), then finalised into the named
numbers of a cell record. The loop (:meth:`pit_eval.engine.Engine.evaluate`) names no metric.

Two kinds: :class:`SumMetric` (tensors with one row per cell, summed: counts, sums, histograms; many
cells served by one pass with one read-back) and :class:`RowMetric` (per-image rows, concatenated: the
predictions file). Walkthrough: docs/add-a-benchmark.md, "Add a metric"."""
from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Any, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch

from ..registry import Registry

#: every metric class by its name (the names a cell record lists under ``metrics``)
LOOP_METRICS: Registry[type] = Registry("loop metric")


def register(cls: type) -> type:
    """Class decorator: register a :class:`LoopMetric` under its ``name``."""
    return LOOP_METRICS.register(cls.name, cls)


@dataclass
class Batch:
    """One model batch as the metrics see it, on the device. ``logits``: float32, over the scored
    classes (ImageNet-A/R: their 200); ``cells``: the cell of each row (a pass serves many cells).
    Derived tensors are computed once, for every metric that asks."""
    cells: torch.Tensor
    logits: torch.Tensor
    labels: torch.Tensor
    indices: torch.Tensor

    @functools.cached_property
    def log_probs(self) -> torch.Tensor:
        return self.logits.log_softmax(dim=1)

    @functools.cached_property
    def probs(self) -> torch.Tensor:
        return self.log_probs.exp()

    @functools.cached_property
    def top5(self) -> torch.Tensor:
        """(B, k) class indices, best first (k = min(5, classes)), from the logits."""
        return self.logits.topk(min(5, self.logits.shape[1]), dim=1).indices

    @functools.cached_property
    def top1(self) -> torch.Tensor:
        return self.top5[:, 0]

    @functools.cached_property
    def log_p_label(self) -> torch.Tensor:
        """float64 log-probability of each row's label (labels index the scored classes)."""
        return self.log_probs.gather(1, self.labels.view(-1, 1))[:, 0].double()

    @functools.cached_property
    def sum_p2(self) -> torch.Tensor:
        """The softmax's sum of squares per row (float32), so Brier = sum_p2 - 2 p_label + 1."""
        return self.probs.square().sum(dim=1)


class LoopMetric:
    """A per-cell metric of the evaluation loop. ``name``: its registry name; ``softmax``: it reads the
    softmax over the labels' classes (so it has no meaning for mapped predictions such as IN-9's)."""
    name: str = ""
    softmax: bool = False

    def init(self, n_cells: int, device: torch.device) -> Any:
        """The empty state of ``n_cells`` cells, on ``device``."""
        raise NotImplementedError

    def update(self, state: Any, batch: Batch) -> None:
        """Add one batch, on the device, without reading anything back to the host."""
        raise NotImplementedError

    def read(self, state: Any, n_cells: int) -> List[Any]:
        """Each cell's value on the host (called once, after the loop)."""
        raise NotImplementedError

    def merge(self, parts: Sequence[Any]) -> Any:
        """The value of disjoint image sets together (ranks, blocks of a pass)."""
        raise NotImplementedError

    def finalize(self, value: Any, n: int) -> Dict[str, Any]:
        """The named numbers this metric puts in a cell record (``n``: images evaluated)."""
        raise NotImplementedError

    def holds(self, record: dict) -> bool:
        """Does a finished record that lists this metric hold what it would compute now? (A metric
        with an input of its own, e.g. a label file, compares it.)"""
        return True


class SumMetric(LoopMetric):
    """A metric whose state is named tensors of shape (cells, *shape), added up with ``index_add_``.
    ``states``: name -> (shape, dtype). Host values are JSON-able (nested lists), summed elementwise."""
    states: Dict[str, Tuple[Tuple[int, ...], torch.dtype]] = {}

    def init(self, n_cells: int, device: torch.device) -> Dict[str, torch.Tensor]:
        return {k: torch.zeros((n_cells, *shape), dtype=dtype, device=device)
                for k, (shape, dtype) in self.states.items()}

    def read(self, state: Dict[str, torch.Tensor], n_cells: int) -> List[Dict[str, Any]]:
        host = {k: v.cpu().tolist() for k, v in state.items()}
        return [{k: host[k][c] for k in host} for c in range(n_cells)]

    def merge(self, parts: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
        return {k: _add([p[k] for p in parts]) for k in parts[0]}


def _add(values: list):
    """Elementwise sum of equally shaped nested lists (Python ints stay exact)."""
    if isinstance(values[0], list):
        return [_add(list(col)) for col in zip(*values)]
    return sum(values)


class RowMetric(LoopMetric):
    """A metric that keeps rows per image: each batch's tensors are kept on the device and read back
    once; the host value is a dict of numpy columns, sorted by sample index."""

    def init(self, n_cells: int, device: torch.device) -> List[Dict[str, torch.Tensor]]:
        return []

    def rows(self, batch: Batch) -> Dict[str, torch.Tensor]:
        """This batch's columns (first dimension: the batch's rows)."""
        raise NotImplementedError

    def update(self, state: List[Dict[str, torch.Tensor]], batch: Batch) -> None:
        state.append({"cell": batch.cells, **self.rows(batch)})

    def read(self, state: List[Dict[str, torch.Tensor]], n_cells: int) -> List[Dict[str, np.ndarray]]:
        if not state:
            return [{} for _ in range(n_cells)]
        cols = {k: torch.cat([s[k] for s in state]).cpu().numpy() for k in state[0]}
        cell = cols.pop("cell")
        return [{k: v[cell == c] for k, v in cols.items()} for c in range(n_cells)]

    def merge(self, parts: Sequence[Dict[str, np.ndarray]]) -> Dict[str, np.ndarray]:
        parts = [p for p in parts if p and len(p["index"])]
        if not parts:
            return {}
        cols = {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}
        order = np.argsort(cols["index"], kind="stable")
        return {k: v[order] for k, v in cols.items()}

    def finalize(self, value, n: int) -> Dict[str, Any]:
        return {}


def metric_names(metrics: Sequence[LoopMetric]) -> List[str]:
    return [m.name for m in metrics]


def merge_values(metrics: Sequence[LoopMetric], parts: Sequence[Dict[str, Any]]) -> Dict[str, Any]:
    """Cell values (``{"n", "skipped", <metric name>: value}``) of disjoint image sets, together."""
    out = {"n": sum(p["n"] for p in parts), "skipped": sum(p["skipped"] for p in parts)}
    for m in metrics:
        out[m.name] = m.merge([p[m.name] for p in parts])
    return out


def finalize(metrics: Sequence[LoopMetric], value: Dict[str, Any]) -> Dict[str, Any]:
    """A cell's named numbers: ``n``, ``skipped`` and every metric's, and the metrics' names."""
    out: Dict[str, Any] = {"n": value["n"], "skipped": value["skipped"]}
    for m in metrics:
        out.update(m.finalize(value[m.name], value["n"]))
    out["metrics"] = metric_names(metrics)
    return out


def rows_of(metrics: Sequence[LoopMetric], value: Dict[str, Any]) -> Optional[Dict[str, np.ndarray]]:
    """The per-image rows of a cell value (its :class:`RowMetric`'s), or None."""
    for m in metrics:
        if isinstance(m, RowMetric):
            return value.get(m.name) or {}
    return None


def without_rows(metrics: Sequence[LoopMetric], value: Dict[str, Any]) -> Dict[str, Any]:
    """A cell value without its rows: what a pass journal stores (JSON)."""
    rows = {m.name for m in metrics if isinstance(m, RowMetric)}
    return {k: v for k, v in value.items() if k not in rows}
