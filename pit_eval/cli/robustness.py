"""``run_eval.py robustness``: one model on the classification benchmarks."""
from __future__ import annotations

import argparse

from ..benchmarks import names
from .common import dataset_args, engine_args


def _parser(f):
    """argparse ``type`` of one option: its own parse, bad values reported as usage errors."""
    from ..benchmarks.base import OptionError, parse_option

    def parse(text: str):
        try:
            return parse_option(f, text)
        except OptionError as e:
            raise argparse.ArgumentTypeError(e.reason) from None
    return parse


def _default_text(value) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)


def protocol_args(p: argparse.ArgumentParser) -> None:
    """Protocol options shared by ``robustness`` and ``paper``: every benchmark's options, generated
    from its options class (name, default, help, choices), then the run settings."""
    from ..benchmarks import options
    g = p.add_argument_group("protocols (each benchmark's options)")
    for name, f in options().items():
        meta = f.metadata
        if meta["flag"]:
            g.add_argument(meta["flag"], dest=name, action="store_false", default=f.default, help=meta["help"])
            continue
        metavar = meta["metavar"] or ("{" + ",".join(meta["choices"]) + "}" if meta["choices"] else None)
        g.add_argument("--" + name.replace("_", "-"), dest=name, type=_parser(f), default=f.default,
                       metavar=metavar, help=meta["help"] + ("" if f.default is None else
                                                             f" (default: {_default_text(f.default)})"))
    g = p.add_argument_group("run")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--recompute-mismatched", action="store_true",
                   help="resume into a directory whose finished cells were computed with other "
                        "prediction-affecting settings (amp, device, compile, channels-last; batch size "
                        "for PGD/AutoAttack) by recomputing exactly those cells (default: stop and name them)")
    g.add_argument("--recompute-incomplete", action="store_true",
                   help="recompute finished cells that lack a quantity this pit_eval records (calibration, "
                        "per-image predictions written by an earlier version; logits for --save-logits)")
    g.add_argument("--save-logits", action="store_true",
                   help="the per-image predictions files also keep every logit (float16, ~2 KB per image per cell)")
    g.add_argument("--max-images", type=int, default=None, help="evaluate an evenly spaced subset")
    g.add_argument("--on-bad-image", default="error", choices=["error", "skip"])
    g.add_argument("--crop-pct", type=float, default=None)
    g.add_argument("--interpolation", default=None, choices=["bilinear", "bicubic", "nearest"])


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
    from ..api import OPTIONS
    from ..datasets import DATASETS
    kw = {k: getattr(a, k) for k in OPTIONS if hasattr(a, k)}
    kw["channels_last"] = not a.no_channels_last
    kw.update({n.replace("-", "_"): getattr(a, f"path_{n}") for n in DATASETS})
    return kw


def run(a) -> int:
    import os

    from ..api import evaluate
    from ..robustness import format_table
    res = evaluate(a.model, **options(a))
    if os.environ.get("RANK", "0") == "0":
        print(format_table(res.summary))
        print(f"results: {res.out}")
    return 0
