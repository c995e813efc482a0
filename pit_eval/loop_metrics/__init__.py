"""The metrics of the evaluation loop, one module each, registered in ``LOOP_METRICS``; every module of
this package is imported here, so a new metric is found without editing the engine.

* :mod:`.accuracy` — top-1 / top-5 (the default) and mapped top-1 (IN-9), with Clopper-Pearson intervals;
* :mod:`.fingerprint` — the prediction fingerprint;
* :mod:`.calibration` — ECE (15 bins), NLL, Brier and the reliability bins;
* :mod:`.predictions` — per-image rows, written as ``predictions/<cell key>.parquet``.

A benchmark's own metric may live in its benchmark module (shape decisions: :mod:`pit_eval.benchmarks.shape_bias`).
"""
from __future__ import annotations

import importlib
import pkgutil
from typing import Dict, List, Optional, Sequence

from .base import (LOOP_METRICS, Batch, LoopMetric, RowMetric, SumMetric, finalize, merge_values, metric_names,
                   register, rows_of, without_rows)

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module != "base" and not _module.startswith("_"):
        importlib.import_module(f"{__name__}.{_module}")

from .accuracy import MappedTop1, MappedTopK, RealTop1, SubsetTop1, TopK  # noqa: E402
from .calibration import Calibration  # noqa: E402
from .fingerprint import Fingerprint  # noqa: E402
from .predictions import Predictions  # noqa: E402


def default_metrics(class_map: Optional[Sequence[int]] = None, logits: bool = False,
                    scores: Optional[Dict[str, Optional[Sequence[int]]]] = None) -> List[LoopMetric]:
    """What a classification cell measures: top-1/top-5, the fingerprint, calibration and per-image
    predictions (with the max-softmax ``scores`` named); with a ``class_map`` (mapped predictions) the
    mapped top-1 and no calibration."""
    if class_map is not None:
        return [MappedTop1(class_map), Fingerprint(), Predictions(logits, mapped=True, scores=scores)]
    return [TopK(), Fingerprint(), Calibration(), Predictions(logits, scores=scores)]


__all__ = ["LOOP_METRICS", "Batch", "Calibration", "Fingerprint", "LoopMetric", "MappedTop1", "MappedTopK", "Predictions",
           "RealTop1", "RowMetric", "SubsetTop1", "SumMetric", "TopK", "default_metrics", "finalize", "merge_values", "metric_names",
           "register", "rows_of", "without_rows"]
