"""The Python entry point: ``pit_eval.evaluate(model, ...)`` for a timm name or any ``nn.Module``;
the same run as ``run_eval.py robustness`` (a thin layer over it), with the CLI's flags as keywords
(``_`` for ``-``: ``data_root=``, ``corruptions=``, ``fgsm_eps=``, ``batch_size=``, ...; every
benchmark's options generated from its options class, listed in ``OPTIONS``). ``mean`` / ``std``
declare the normalisation the module expects (applied inside it, so attacks work in [0, 1] pixels).
Examples and the normalisation check: docs/api.md."""
from __future__ import annotations

import difflib
from dataclasses import dataclass
from typing import Optional, Sequence, Union

from torch import nn

from . import benchmarks
from .datasets import DATASETS
from .engine import EngineConfig
from .robustness import RobustnessConfig, RobustnessRun, RunSettings
from .settings import declared, sequence

#: the settings every run takes (CLI flags of ``robustness`` and ``paper``), each declared once: the run
#: settings (RunSettings), every benchmark's protocol options (their options classes) and the engine's
SETTINGS = {
    **{f.name: f.default for f in declared(RunSettings)},
    **{name: f.default for name, f in benchmarks.options().items()},
    **{f.name: f.default for f in declared(EngineConfig)},
}
#: the run's own keywords (what, where from, where to) -> default
RUN = {name: getattr(RunSettings, name) for name in ("weights", "out", "data_root", "benchmarks", "force")}
#: option -> default: the run's own, the settings and one path per dataset (see ``run_eval.py robustness -h``)
OPTIONS = {**RUN, **SETTINGS, **{name.replace("-", "_"): None for name in DATASETS}}


@dataclass(frozen=True)
class EvalResult:
    """What :func:`evaluate` returns.

    ``out``: the results directory (meta.json, cells.jsonl, summary.json, summary.csv).
    ``summary``: the summary.json document: ``model``, ``weights`` (source, sha256, random_init),
    ``flags`` (sample data, random weights, subsets), ``benchmarks`` (one entry per benchmark run,
    its keys on its page under docs/benchmarks/), ``reference`` (ours beside the published values),
    ``provenance``, ``throughput``."""
    out: str
    summary: dict

    def __getitem__(self, key: str):
        return self.summary[key]


def build_config(model_name: str, **options) -> RobustnessConfig:
    """A RobustnessConfig from CLI-named options (unknown names raise TypeError with suggestions)."""
    unknown = [k for k in options if k not in OPTIONS]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(k, OPTIONS, n=3)
        raise TypeError(f"evaluate() got an unknown option {k!r}"
                        + (f"; did you mean {', '.join(close)}?" if close else "")
                        + f" Options: {', '.join(sorted(OPTIONS))}")
    o = {**OPTIONS, **options}
    engine = {f.name for f in declared(EngineConfig)}
    return RobustnessConfig(
        model=model_name, weights=o["weights"], out=o["out"], data_root=o["data_root"], force=bool(o["force"]),
        paths=tuple((n, str(o[n.replace("-", "_")])) for n in DATASETS if o[n.replace("-", "_")]),
        benchmarks=sequence(o["benchmarks"]) if o["benchmarks"] else None,
        engine=EngineConfig(**{k: o[k] for k in engine}),
        **{k: o[k] for k in SETTINGS if k not in engine})


def evaluate(model: Union[str, nn.Module], *, name: Optional[str] = None,
             benchmarks: Optional[Union[str, Sequence[str]]] = None, out: Optional[str] = None,
             **options) -> EvalResult:
    """Evaluate ``model`` — a timm / short name (with ``weights=``) or any ``nn.Module`` — on the
    robustness benchmarks; returns an :class:`EvalResult`. ``name`` names a module's run (default:
    its class name). Options: see the module docstring and ``OPTIONS``."""
    if isinstance(model, nn.Module):
        run_name = name or type(model).__name__
        if "weights" in options:
            raise TypeError("weights= is for a model name; a module brings its own weights")
        cfg = build_config(run_name, benchmarks=benchmarks, out=out, **options)
        run = RobustnessRun(cfg, module=model)
    elif isinstance(model, str):
        if name is not None:
            raise TypeError("name= names the run of an nn.Module; a model name names its own run")
        run = RobustnessRun(build_config(model, benchmarks=benchmarks, out=out, **options))
    else:
        raise TypeError(f"model must be a model name or an nn.Module, got {type(model).__name__}")
    res = run.run()
    return EvalResult(out=res["out"], summary=res["summary"])

