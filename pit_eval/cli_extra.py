"""Sub-commands other than robustness: detection, benchmark, report."""
from __future__ import annotations

import argparse
import json


def _kv(s: str):
    if "=" not in s:
        raise argparse.ArgumentTypeError(f"--cfg-options expects key=value, got {s!r}")
    k, v = s.split("=", 1)
    try:
        v = json.loads(v)
    except json.JSONDecodeError:
        pass
    return k, v


def _detection(sub) -> None:
    p = sub.add_parser("detection", help="COCO and COCO-C evaluation of an mmdet detector; or --ingest a work_dir")
    p.add_argument("--config", help="mmdet config, e.g. configs/detr_pit_s.py")
    p.add_argument("--checkpoint", help="trained detector checkpoint")
    p.add_argument("--out", default=None, help="results directory (default results/detection/<config>)")
    p.add_argument("--corruptions", default="benchmark", help="names or groups (benchmark = the 15)")
    p.add_argument("--severities", default="1,2,3,4,5")
    p.add_argument("--clean-only", action="store_true", help="COCO only, no COCO-C")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--corruption-backend", default="fast")
    p.add_argument("--cfg-options", nargs="+", type=_kv, default=[], metavar="KEY=VALUE")
    p.add_argument("--launcher", default="none", choices=["none", "pytorch", "slurm"])
    p.add_argument("--ingest", default=None, metavar="WORK_DIR",
                   help="store the COCO metrics of a finished mmdet work_dir for the report")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=_run_detection)


def _run_detection(a) -> int:
    from .detection import DetectionConfig, ingest_work_dir, run_detection
    if a.ingest:
        res = ingest_work_dir(a.ingest, a.out, a.force)
    else:
        if not a.config:
            raise ValueError("detection needs --config (or --ingest WORK_DIR)")
        res = run_detection(DetectionConfig(
            config=a.config, checkpoint=a.checkpoint, out=a.out,
            corruptions=tuple(a.corruptions.split(",")), severities=tuple(a.severities.split(",")),
            clean_only=a.clean_only, seed=a.seed, corruption_backend=a.corruption_backend,
            cfg_options=tuple(a.cfg_options), launcher=a.launcher, force=a.force))
    from .detection import format_detection
    print(format_detection(res["summary"]))
    print(f"results: {res['out']}")
    return 0


def _benchmark(sub) -> None:
    from .cli import _engine_args
    p = sub.add_parser("benchmark", help="params, GMACs, throughput (interleaved), peak memory")
    p.add_argument("--models", required=True, help="comma list, e.g. pit_s,deit_small")
    p.add_argument("--out", default=None)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--iters", type=int, default=3, help="forward passes per timed repeat")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--train-step", action="store_true", help="also time a training step")
    _engine_args(p)
    p.set_defaults(func=_run_benchmark, batch_size=128)


def _run_benchmark(a) -> int:
    from .benchmark import BenchmarkConfig, format_benchmark, run_benchmark
    from .cli import _engine_cfg
    res = run_benchmark(BenchmarkConfig(
        models=tuple(m.strip() for m in a.models.split(",") if m.strip()), out=a.out,
        batch_size=a.batch_size, input_size=a.input_size, repeats=a.repeats, iters=a.iters,
        warmup=a.warmup, train_step=a.train_step, engine=_engine_cfg(a)))
    print(format_benchmark(res["summary"]))
    print(f"results: {res['out']}")
    return 0


def _report(sub) -> None:
    p = sub.add_parser("report", help="Markdown/HTML/CSV comparison report over results directories")
    p.add_argument("inputs", nargs="+", help="results directories (searched recursively)")
    p.add_argument("--out", default="report", help="output directory")
    p.set_defaults(func=_run_report)


def _run_report(a) -> int:
    from .report import build_report
    paths = build_report(a.inputs, a.out)
    for p in paths:
        print(p)
    return 0


PARSERS = [_detection, _benchmark, _report]
