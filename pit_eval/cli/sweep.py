"""``run_eval.py sweep``: many models, every robustness option applied to all (docs/sweep.md)."""
from __future__ import annotations

from ..benchmarks import names
from .common import dataset_args, engine_args
from .robustness import options, protocol_args
from ..sweeps import RENDER_GROUP


def _slurm_option(text: str):
    import argparse
    if "=" not in text:
        raise argparse.ArgumentTypeError(f"expected key=value (an sbatch option without its --), got {text!r}")
    k, v = text.split("=", 1)
    return k.strip().replace("-", "_"), v.strip()


def register(sub) -> None:
    p = sub.add_parser("sweep", help="many models, one results directory each, a leaderboard at the end")
    p.add_argument("--models", required=True, nargs="+",
                   help="model names, timm patterns ('pit_*': models with pretrained weights) or @FILE "
                        "(one model per line, optionally followed by its weights)")
    p.add_argument("--weights", default="auto", help="weights of every model without its own in @FILE "
                                                     "(auto | hub | random | a checkpoint)")
    p.add_argument("--out", required=True, help="the sweep's directory: <out>/<model>/, sweep.json, report/")
    dataset_args(p)
    p.add_argument("--benchmarks", default=None, help=f"comma list of {','.join(names())}")
    protocol_args(p)
    p.add_argument("--force", action="store_true", help="reuse model directories that belong to another run")
    p.add_argument("--dry-run", action="store_true",
                   help="print every model's plan (cells, forward-pass equivalents; no weights read), write "
                        "<out>/plan.json and stop")
    p.add_argument("--render-group", type=int, default=RENDER_GROUP, metavar="N",
                   help="models that share one render of each shared pass (on-the-fly corruptions; held together; "
                        "fewer when they fill half the accelerator); 1: each model renders alone (default %(default)s)")
    engine_args(p)
    g = p.add_argument_group("launcher (submitit)")
    g.add_argument("--launcher", default="none", choices=["none", "local", "slurm"],
                   help="none: the models one after another here; local / slurm: one submitit job per model")
    g.add_argument("--partition", default=None, help="SLURM partition")
    g.add_argument("--gpus-per-node", type=int, default=1)
    g.add_argument("--timeout", type=int, default=None, help="minutes per job (default 1440)")
    g.add_argument("--slurm", type=_slurm_option, action="append", default=[], metavar="KEY=VALUE",
                   help="any further sbatch option, e.g. --slurm account=vision --slurm qos=high")
    p.set_defaults(func=run)


def run(a) -> int:
    from ..sweeps import SweepConfig, format_plan, leaderboard, run as sweep
    kw = options(a)
    kw.pop("out", None)
    cfg = SweepConfig(models=tuple(a.models), out=a.out, options=kw, launcher=a.launcher,
                      slurm={"partition": a.partition, "gpus_per_node": a.gpus_per_node, "timeout_min": a.timeout,
                             "extra": dict(a.slurm)}, render_group=a.render_group, dry_run=a.dry_run)
    res = sweep(cfg)
    if a.dry_run:
        print(format_plan(res["plan"]))
        print(f"plan: {a.out}/plan.json")
        return 0
    print(leaderboard(res))
    if res["report"]:
        print(f"report: {res['report'][0]}")
    if res["failed"]:
        for e in res["failed"]:
            print(f"FAILED {e['model']}: {e.get('error') or e['status']}")
        print(f"{len(res['failed'])} of {len(res['models'])} model(s) failed ({a.out}/sweep.json); fix them and "
              "re-run the same command: finished models and cells are not recomputed")
        return 1
    return 0
