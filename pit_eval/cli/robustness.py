"""``run_eval.py robustness``: one model on the classification benchmarks."""
from __future__ import annotations

import argparse

from .common import dataset_args, dataset_paths, engine_args, engine_cfg, floats


def protocol_args(p: argparse.ArgumentParser) -> None:
    """Protocol options shared by ``robustness`` and ``paper``."""
    g = p.add_argument_group("protocols")
    g.add_argument("--corruptions", default="all", help="names or groups: common, extra, all, noise, blur, weather, digital")
    g.add_argument("--severities", default="1,2,3,4,5")
    g.add_argument("--imagenet-c-source", default="auto", choices=["auto", "prerendered", "on-the-fly"])
    g.add_argument("--corruption-backend", default="fast", help="fast (bit-exact, default) | reference")
    g.add_argument("--occlusion-protocol", default="patch_drop", choices=["patch_drop", "center"])
    g.add_argument("--occlusion-levels", type=floats, default=[0.0, 0.25, 0.5, 0.75])
    g.add_argument("--occlusion-patch", type=int, default=16)
    g.add_argument("--occlusion-fill", default="0", help="a value in [0,1] or 'mean'")
    g.add_argument("--occlusion-paper-box", type=int, default=112,
                   help="side of the centred box of the cell compared with the paper (default 112)")
    g.add_argument("--occlusion-paper-fill", default="0", help="its fill: a value in [0,1] or 'mean'")
    g.add_argument("--fgsm-eps", type=floats, default=[1.0], help="in /255 units, comma list")
    g.add_argument("--pgd-eps", type=floats, default=[1.0], help="in /255 units, comma list")
    g.add_argument("--pgd-steps", type=int, default=5)
    g.add_argument("--pgd-step-size", type=float, default=0.5, help="in /255 units")
    g.add_argument("--pgd-no-random-start", action="store_true")
    g.add_argument("--bgc-max-backgrounds", type=int, default=None,
                   help="Background Challenge against an evenly spaced subset of the backgrounds (flagged)")
    g.add_argument("--in9-map", default=None, metavar="FILE",
                   help="ImageNet -> IN-9 class map (default: the reference repository's, embedded)")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--max-images", type=int, default=None, help="evaluate an evenly spaced subset")
    g.add_argument("--on-bad-image", default="error", choices=["error", "skip"])
    g.add_argument("--crop-pct", type=float, default=None)
    g.add_argument("--interpolation", default=None, choices=["bilinear", "bicubic", "nearest"])


def register(sub) -> None:
    p = sub.add_parser("robustness", help="ImageNet clean / -C / -A / -R / Sketch / V2, occlusion, "
                                          "FGSM/PGD, IN-9 and the Background Challenge")
    p.add_argument("--model", required=True, help="pit_ti|pit_xs|pit_s|pit_b[_distilled], deit_*, resnet50 or any timm name")
    p.add_argument("--weights", default="auto",
                   help="auto (hub; random only on the embedded sample) | hub | random | path to a checkpoint")
    p.add_argument("--out", default=None, help="results directory (default results/robustness/<model>)")
    dataset_args(p)
    p.add_argument("--benchmarks", default=None,
                   help="comma list of clean,imagenet-c,imagenet-a,imagenet-r,imagenet-sketch,imagenet-v2,"
                        "occlusion,fgsm,pgd,in9,bgc (default: all with data)")
    protocol_args(p)
    p.add_argument("--force", action="store_true", help="reuse an --out that belongs to another run")
    engine_args(p)
    p.set_defaults(func=run)


def robustness_config(a, **overrides):
    """A RobustnessConfig from parsed arguments (``overrides`` win)."""
    from ..attacks import AttackConfig
    from ..corruptions import parse_severities
    from ..occlusion import OcclusionConfig
    from ..robustness import RobustnessConfig
    kw = dict(
        model=getattr(a, "model", None), weights=getattr(a, "weights", "auto"), out=getattr(a, "out", None),
        data_root=a.data_root, paths=dataset_paths(a),
        benchmarks=tuple(b.strip() for b in a.benchmarks.split(",")) if getattr(a, "benchmarks", None) else None,
        corruptions=tuple(a.corruptions.split(",")), severities=tuple(parse_severities(a.severities)),
        imagenet_c_source=a.imagenet_c_source, corruption_backend=a.corruption_backend,
        occlusion=OcclusionConfig(a.occlusion_protocol, tuple(a.occlusion_levels), a.occlusion_patch,
                                  a.occlusion_fill, a.occlusion_paper_box, a.occlusion_paper_fill),
        fgsm=tuple(AttackConfig(eps=e) for e in a.fgsm_eps),
        pgd=tuple(AttackConfig(eps=e, steps=a.pgd_steps, step_size=a.pgd_step_size,
                               random_start=not a.pgd_no_random_start) for e in a.pgd_eps),
        bgc_max_backgrounds=a.bgc_max_backgrounds, in9_map=a.in9_map,
        seed=a.seed, max_images=a.max_images, on_bad_image=a.on_bad_image,
        force=getattr(a, "force", False), crop_pct=a.crop_pct, interpolation=a.interpolation,
        engine=engine_cfg(a))
    kw.update(overrides)
    return RobustnessConfig(**kw)


def run(a) -> int:
    from ..robustness import RobustnessRun, format_table
    run_ = RobustnessRun(robustness_config(a))
    res = run_.run()
    if run_.engine.is_main:
        print(format_table(res["summary"]))
        print(f"results: {res['out']}")
    return 0
