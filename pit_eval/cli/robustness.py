"""``run_eval.py robustness``: one model on the classification benchmarks."""
from __future__ import annotations

import argparse

from ..benchmarks import names
from ..settings import declared
from .common import add_options, dataset_args, engine_args


def protocol_args(p: argparse.ArgumentParser) -> None:
    """The settings ``robustness`` and ``paper`` share, generated from their declarations: every
    benchmark's protocol options (its options class), then the run settings (RunSettings)."""
    from ..benchmarks import options
    from ..robustness import RunSettings
    add_options(p.add_argument_group("protocols (each benchmark's options)"), options().values())
    add_options(p.add_argument_group("run"), declared(RunSettings))


def settings(a) -> dict:
    """The parsed flags of :func:`protocol_args` and the engine's: ``{keyword: value}``."""
    from ..api import SETTINGS
    return {k: getattr(a, k) for k in SETTINGS}


def register(sub) -> None:
    p = sub.add_parser("robustness", help="one model on the classification benchmarks: "
                                          + ", ".join(names()))
    p.add_argument("--model", required=True, help="pit_ti|pit_xs|pit_s|pit_b[_distilled], deit_*, resnet50 or any timm name")
    p.add_argument("--weights", default="auto",
                   help="auto (hub; random only on the embedded sample) | hub | random | path to a checkpoint")
    p.add_argument("--out", default=None, help="results directory (default results/robustness/<model>)")
    dataset_args(p)
    p.add_argument("--benchmarks", default=None,
                   help=f"comma list of {','.join(names())} (default: all with data but "
                        f"{','.join(n for n in names() if n not in names(default_only=True))})")
    protocol_args(p)
    p.add_argument("--force", action="store_true", help="reuse an --out that belongs to another run")
    engine_args(p)
    p.set_defaults(func=run)


def options(a) -> dict:
    """The parsed flags as :func:`pit_eval.evaluate` options."""
    from ..datasets import DATASETS
    return {"weights": a.weights, "out": a.out, "data_root": a.data_root, "benchmarks": a.benchmarks, "force": a.force,
            **settings(a), **{n.replace("-", "_"): getattr(a, f"path_{n}") for n in DATASETS}}


def run(a) -> int:
    from ..api import evaluate
    from ..engine import is_main_process
    from ..robustness import format_table
    res = evaluate(a.model, **options(a))
    if is_main_process():
        print(format_table(res.summary))
        print(f"results: {res.out}")
    return 0
