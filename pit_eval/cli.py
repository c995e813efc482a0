"""Command line: ``python run_eval.py {robustness,detection,benchmark,report} ...``.

The CLI only turns arguments into a config object and calls the library."""
from __future__ import annotations

import argparse
import logging
from typing import List, Optional

from .datasets import DATASETS

logger = logging.getLogger("pit_eval")


def _floats(s: str) -> List[float]:
    try:
        return [float(v) for v in s.split(",") if v.strip()]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected comma-separated numbers, got {s!r}") from None


def _engine_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("device")
    g.add_argument("--device", default="auto", help="auto (CUDA if present) | cpu | cuda | cuda:N")
    g.add_argument("--amp", nargs="?", const="bf16", default=None, choices=["bf16", "fp16"],
                   help="mixed precision (default dtype bf16)")
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: from CPU count)")
    g.add_argument("--no-channels-last", action="store_true")
    g.add_argument("--quiet", action="store_true", help="no progress bars (for logs)")


def _engine_cfg(a):
    from .engine import EngineConfig
    return EngineConfig(device=a.device, amp=a.amp, batch_size=a.batch_size, workers=a.workers,
                        channels_last=not a.no_channels_last, quiet=a.quiet)


def _robustness_parser(sub) -> None:
    p = sub.add_parser("robustness", help="ImageNet clean / -C / -A / -R / Sketch / V2, occlusion, FGSM/PGD")
    p.add_argument("--model", required=True, help="pit_ti|pit_xs|pit_s|pit_b[_distilled], deit_*, resnet50 or any timm name")
    p.add_argument("--weights", default="auto", help="auto | hub | none | path to a checkpoint")
    p.add_argument("--out", default=None, help="results directory (default results/robustness/<model>)")
    p.add_argument("--data-root", default=None, help="folder holding imagenet/val, imagenet-c, imagenet-a, ...")
    for name in DATASETS:
        p.add_argument(f"--{name}", dest=f"path_{name}", default=None, metavar="DIR",
                       help=f"{name} folder (env {DATASETS[name].env})")
    p.add_argument("--benchmarks", default=None,
                   help="comma list of clean,imagenet-c,imagenet-a,imagenet-r,imagenet-sketch,imagenet-v2,"
                        "occlusion,fgsm,pgd,in9,bgc (default: all with data)")
    p.add_argument("--corruptions", default="all", help="names or groups: common, extra, all, noise, blur, weather, digital")
    p.add_argument("--severities", default="1,2,3,4,5")
    p.add_argument("--imagenet-c-source", default="auto", choices=["auto", "prerendered", "on-the-fly"])
    p.add_argument("--corruption-backend", default="fast", help="fast (bit-exact, default) | reference")
    p.add_argument("--occlusion-protocol", default="patch_drop", choices=["patch_drop", "center"])
    p.add_argument("--occlusion-levels", type=_floats, default=[0.0, 0.25, 0.5, 0.75])
    p.add_argument("--occlusion-patch", type=int, default=16)
    p.add_argument("--occlusion-fill", default="0", help="a value in [0,1] or 'mean'")
    p.add_argument("--fgsm-eps", type=_floats, default=[1.0], help="in /255 units, comma list")
    p.add_argument("--pgd-eps", type=_floats, default=[1.0], help="in /255 units, comma list")
    p.add_argument("--pgd-steps", type=int, default=5)
    p.add_argument("--pgd-step-size", type=float, default=0.5, help="in /255 units")
    p.add_argument("--pgd-no-random-start", action="store_true")
    p.add_argument("--bgc-max-backgrounds", type=int, default=None,
                   help="Background Challenge against an evenly spaced subset of the backgrounds (flagged)")
    p.add_argument("--in9-map", default=None, metavar="FILE",
                   help="ImageNet -> IN-9 class map (default: the reference repository's, embedded)")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--max-images", type=int, default=None, help="evaluate an evenly spaced subset")
    p.add_argument("--on-bad-image", default="error", choices=["error", "skip"])
    p.add_argument("--crop-pct", type=float, default=None)
    p.add_argument("--interpolation", default=None, choices=["bilinear", "bicubic", "nearest"])
    p.add_argument("--force", action="store_true", help="reuse an --out that belongs to another run")
    _engine_args(p)
    p.set_defaults(func=_run_robustness)


def _run_robustness(a) -> int:
    from .attacks import AttackConfig
    from .occlusion import OcclusionConfig
    from .robustness import RobustnessConfig, RobustnessRun, format_table
    cfg = RobustnessConfig(
        model=a.model, weights=a.weights, out=a.out, data_root=a.data_root,
        paths=tuple((n, getattr(a, f"path_{n}")) for n in DATASETS if getattr(a, f"path_{n}")),
        benchmarks=tuple(b.strip() for b in a.benchmarks.split(",")) if a.benchmarks else None,
        corruptions=tuple(a.corruptions.split(",")), severities=tuple(a.severities.split(",")),
        imagenet_c_source=a.imagenet_c_source, corruption_backend=a.corruption_backend,
        occlusion=OcclusionConfig(a.occlusion_protocol, tuple(a.occlusion_levels), a.occlusion_patch,
                                  a.occlusion_fill),
        fgsm=tuple(AttackConfig(eps=e) for e in a.fgsm_eps),
        pgd=tuple(AttackConfig(eps=e, steps=a.pgd_steps, step_size=a.pgd_step_size,
                               random_start=not a.pgd_no_random_start) for e in a.pgd_eps),
        bgc_max_backgrounds=a.bgc_max_backgrounds, in9_map=a.in9_map,
        seed=a.seed, max_images=a.max_images, on_bad_image=a.on_bad_image, force=a.force,
        crop_pct=a.crop_pct, interpolation=a.interpolation, engine=_engine_cfg(a))
    run = RobustnessRun(cfg)
    res = run.run()
    if run.engine.is_main:
        print(format_table(res["summary"]))
        print(f"results: {res['out']}")
    return 0


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="run_eval.py", description=__doc__.splitlines()[0])
    p.add_argument("-v", "--verbose", action="store_true")
    sub = p.add_subparsers(dest="command", required=True)
    _robustness_parser(sub)
    for register in _extra_parsers():
        register(sub)
    return p


def _extra_parsers():
    from . import cli_extra
    return cli_extra.PARSERS


def main(argv: Optional[List[str]] = None) -> int:
    args = build_parser().parse_args(argv)
    logging.basicConfig(level=logging.DEBUG if args.verbose else logging.INFO,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s", datefmt="%H:%M:%S")
    from .data import DataError
    from .models import WeightsError
    from .registry import UnknownNameError
    from .results import ResultsError
    try:
        return args.func(args)
    except (DataError, WeightsError, ResultsError, UnknownNameError, ValueError) as e:
        logger.error("%s", e)
        return 2
    except KeyboardInterrupt:
        logger.error("interrupted; finished cells are saved — re-run the same command to resume")
        return 130
