"""The benchmarks: one module per benchmark family, each registering its :class:`Benchmark` (s) in
``BENCHMARKS``; every module of this package is imported here, so a new module is found without
editing anything else (docs/add-a-benchmark.md).

* :mod:`.folders` — clean ImageNet and the folder datasets ImageNet-A / -R / -Sketch / -V2;
* :mod:`.imagenet_c` — ImageNet-C, pre-rendered or rendered on the fly in one decode-once pass;
* :mod:`.occlusion` — patch drop and centred-box occlusion;
* :mod:`.attacks` — FGSM and PGD; :mod:`.autoattack` — AutoAttack (standard);
* :mod:`.backgrounds` — ImageNet-9 and the Background Challenge;
* :mod:`.shape_bias` — shape bias on the cue-conflict stimuli.
"""
from __future__ import annotations

import dataclasses
import importlib
import pkgutil
from typing import Dict, List

from ..registry import UnknownNameError, unknown_name_message
from ..settings import option, parse_option
from .base import (BENCHMARKS, Benchmark, Cell, Metric, NoOptions, RunContext, SummaryContext, accuracy,
                   cell_record, curve, effective_robustness, ordered, record_metrics, register, subset_flag,
                   upgrade)

for _module in sorted(m.name for m in pkgutil.iter_modules(__path__)):
    if _module != "base" and not _module.startswith("_"):
        importlib.import_module(f"{__name__}.{_module}")


def names(default_only: bool = False) -> List[str]:
    return [b.name for b in ordered() if b.default or not default_only]


def metrics() -> Dict[str, Metric]:
    """Every metric by its id, ``<benchmark>.<metric>``."""
    return {m.id: m for b in ordered() for m in b.metrics}


def metric(metric_id: str) -> Metric:
    known = metrics()
    if metric_id not in known:
        raise UnknownNameError(unknown_name_message("metric", metric_id, known))
    return known[metric_id]


def headline() -> Metric:
    """The suite's headline number of a model (the clean top-1), which reports set against speed."""
    return metric("clean.acc1")


def options() -> Dict[str, dataclasses.Field]:
    """Every benchmark's protocol options by name (shared option classes appear once)."""
    out: Dict[str, dataclasses.Field] = {}
    owner: Dict[str, type] = {}
    for b in ordered():
        for f in dataclasses.fields(b.options):
            if f.name in out and out[f.name] is not f:     # the same field inherited is one option
                raise ValueError(f"option {f.name!r} is declared by both {owner[f.name].__name__} and "
                                 f"{b.options.__name__}; share one options class or rename one")
            out[f.name], owner[f.name] = f, b.options
    return out


__all__ = ["BENCHMARKS", "Benchmark", "Cell", "Metric", "NoOptions", "RunContext", "SummaryContext", "accuracy",
           "cell_record", "curve", "effective_robustness", "metric", "metrics", "names", "option", "options",
           "ordered", "parse_option", "record_metrics", "register", "subset_flag", "upgrade"]
