"""``run_eval.py robustness``: one model on the classification benchmarks."""
from __future__ import annotations

import argparse

from .common import dataset_args, engine_args, floats


def protocol_args(p: argparse.ArgumentParser) -> None:
    """Protocol options shared by ``robustness`` and ``paper``."""
    g = p.add_argument_group("protocols")
    g.add_argument("--corruptions", default="all", help="names or groups: common, extra, all, noise, blur, weather, digital")
    g.add_argument("--severities", default="1,2,3,4,5")
    g.add_argument("--imagenet-c-source", default="auto", choices=["auto", "prerendered", "on-the-fly"])
    g.add_argument("--corruption-backend", default="fast", help="fast (bit-exact, default) | reference | torch (batched on the device; validated, see README)")
    g.add_argument("--corruption-protocol", default="imagenet-c", choices=["imagenet-c", "imagecorruptions"],
                   help="the generator of on-the-fly ImageNet-C: imagenet-c (Hendrycks', the released set's; "
                        "default, its mCE is compared with published values) or imagecorruptions (Michaelis "
                        "et al., COCO-C's; published mCE withheld)")
    g.add_argument("--imagenet-c-block", type=int, default=2048, metavar="N",
                   help="on-the-fly ImageNet-C runs all its cells in one pass that decodes each image once, "
                        "journalled every N images (a kill loses at most N images' work)")
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
    g.add_argument("--autoattack-eps", type=float, default=4.0, help="AutoAttack L-inf eps in /255 units")
    g.add_argument("--autoattack-images", type=int, default=5000,
                   help="AutoAttack on an evenly spaced subset of this many ImageNet val images")
    g.add_argument("--seed", type=int, default=0)
    g.add_argument("--recompute-mismatched", action="store_true",
                   help="resume into a directory whose finished cells were computed with other "
                        "prediction-affecting settings (amp, device, compile, channels-last; batch size "
                        "for PGD/AutoAttack) by recomputing exactly those cells (default: stop and name them)")
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
                        "occlusion,fgsm,pgd,in9,bgc,autoattack (default: all with data but autoattack)")
    protocol_args(p)
    p.add_argument("--force", action="store_true", help="reuse an --out that belongs to another run")
    engine_args(p)
    p.set_defaults(func=run)


def options(a) -> dict:
    """The parsed flags as :func:`pit_eval.evaluate` options."""
    from ..api import OPTIONS
    from ..datasets import DATASETS
    kw = {k: getattr(a, k) for k in OPTIONS if hasattr(a, k)}
    kw["pgd_random_start"] = not a.pgd_no_random_start
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
