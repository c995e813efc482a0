"""Result kinds: how each kind of results directory (``meta.json``'s ``kind``) is read, tabulated and
plotted, and the numbers it offers, each one :class:`~pit_eval.benchmarks.Metric` named
``<part>.<metric>`` (``clean.acc1``, ``speed.gmacs``, ``coco-c.mPC``), the names paper.json columns
use. The run report and the paper report go through :data:`RESULT_KINDS` only, so a new kind is one
module here (the package imports every module it holds). Page: docs/reports.md."""
from __future__ import annotations

import importlib
import pkgutil

from .base import RESULT_KINDS, ResultKind, Run, find_runs, metric, ordered

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module != "base":
        importlib.import_module(f"{__name__}.{_module}")

__all__ = ["RESULT_KINDS", "ResultKind", "Run", "find_runs", "metric", "ordered"]
