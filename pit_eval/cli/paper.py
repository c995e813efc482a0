"""``run_eval.py paper``: every table of configs/paper.json the data allows, then the paper report."""
from __future__ import annotations

import argparse

from .common import dataset_args, dataset_paths, engine_args, engine_cfg
from .robustness import protocol_args, settings


def _weights(s: str):
    """``auto`` | ``hub`` | ``random`` | comma list of MODEL=FILE (other models: auto)."""
    if "=" not in s:
        return s, ()
    pairs = []
    for item in s.split(","):
        if "=" not in item:
            raise argparse.ArgumentTypeError(f"--weights expects auto, hub, random or MODEL=FILE,..., got {item!r}")
        m, f = item.split("=", 1)
        pairs.append((m.strip(), f.strip()))
    return "auto", tuple(pairs)


def register(sub) -> None:
    p = sub.add_parser("paper", help="reproduce the PiT paper's tables (configs/paper.json) in one command")
    dataset_args(p)
    p.add_argument("--tables", default=None,
                   help="comma list of classification,robustness,robustness_extended,detection (default: all)")
    p.add_argument("--models", default=None, help="comma list of the tables' models (default: every row)")
    p.add_argument("--weights", type=_weights, default=("auto", ()),
                   help="auto (hub; random only on the embedded sample) | hub | random | MODEL=FILE,...")
    p.add_argument("--detection", nargs="+", default=[], metavar="DIR",
                   help="detection results directories or mmdet work_dirs to read")
    p.add_argument("--out", default="results/paper", help="results and report directory")
    p.add_argument("--dry-run", action="store_true", help="print the plan and stop")
    protocol_args(p)
    engine_args(p)
    p.set_defaults(func=run)


def run(a) -> int:
    from ..engine import is_main_process
    from ..paper import PaperConfig, format_plan, make_plan, run_paper
    split = lambda s: tuple(x.strip() for x in s.split(",") if x.strip()) if s else None  # noqa: E731
    default_weights, files = a.weights
    engine = engine_cfg(a)
    cfg = PaperConfig(out=a.out, data_root=a.data_root, paths=dataset_paths(a), tables=split(a.tables),
                      models=split(a.models), weights=files, default_weights=default_weights,
                      detection=tuple(a.detection), engine=engine,
                      settings={k: v for k, v in settings(a).items() if k not in vars(engine)})
    plan = make_plan(cfg)
    if is_main_process():
        print(format_plan(plan), flush=True)
    if a.dry_run:
        return 0
    res = run_paper(plan)
    for path in res["report"] or ():
        print(path)
    for e in res["failed"]:
        print(f"FAILED {e['model']}: {e.get('error') or e['status']}")
    if res["failed"]:
        print(f"{len(res['failed'])} model(s) failed; their cells are missing from the report. Fix them and re-run "
              "the same command: finished cells are not recomputed")
        return 1
    return 0
