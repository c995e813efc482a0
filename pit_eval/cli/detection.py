"""``run_eval.py detection``: COCO / COCO-C of an mmdet detector, or ingest a finished work_dir."""
from __future__ import annotations

from .common import key_value


def register(sub) -> None:
    p = sub.add_parser("detection", help="COCO and COCO-C evaluation of an mmdet detector; or --ingest a work_dir")
    p.add_argument("--config", help="mmdet config, e.g. configs/detr_pit_s.py")
    p.add_argument("--checkpoint", help="trained detector checkpoint")
    p.add_argument("--out", default=None, help="results directory (default results/detection/<config>)")
    p.add_argument("--corruptions", default="benchmark", help="names or groups (benchmark = the 15)")
    p.add_argument("--severities", default="1,2,3,4,5")
    p.add_argument("--clean-only", action="store_true", help="COCO only, no COCO-C")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--corruption-backend", default="fast")
    p.add_argument("--cfg-options", nargs="+", type=key_value, default=[], metavar="KEY=VALUE")
    p.add_argument("--launcher", default="none", choices=["none", "pytorch", "slurm"])
    p.add_argument("--ingest", default=None, metavar="WORK_DIR",
                   help="store the COCO metrics of a finished mmdet work_dir for the report")
    p.add_argument("--force", action="store_true")
    p.set_defaults(func=run)


def run(a) -> int:
    from ..corruptions import parse_severities
    from ..detection import DetectionConfig, format_detection, ingest_work_dir, run_detection
    if a.ingest:
        res = ingest_work_dir(a.ingest, a.out, a.force)
    else:
        if not a.config:
            raise ValueError("detection needs --config (or --ingest WORK_DIR)")
        res = run_detection(DetectionConfig(
            config=a.config, checkpoint=a.checkpoint, out=a.out,
            corruptions=tuple(a.corruptions.split(",")), severities=tuple(parse_severities(a.severities)),
            clean_only=a.clean_only, seed=a.seed, corruption_backend=a.corruption_backend,
            cfg_options=tuple(a.cfg_options), launcher=a.launcher, force=a.force))
    print(format_detection(res["summary"]))
    print(f"results: {res['out']}")
    return 0
