"""``run_eval.py speed``: parameters, GMACs, interleaved throughput, peak memory (``benchmark``: its
former name, kept as an alias)."""
from __future__ import annotations

from .common import engine_args, engine_cfg


def register(sub) -> None:
    p = sub.add_parser("speed", aliases=["benchmark"], help="size and speed: params, GMACs, throughput "
                                                            "(interleaved), peak memory")
    p.add_argument("--models", required=True, help="comma list, e.g. pit_s,deit_small")
    p.add_argument("--out", default=None)
    p.add_argument("--repeats", type=int, default=5)
    p.add_argument("--iters", type=int, default=3, help="forward passes per timed repeat")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--input-size", type=int, default=224)
    p.add_argument("--train-step", action="store_true", help="also time a training step")
    engine_args(p)
    p.set_defaults(func=run, batch_size=128)


def run(a) -> int:
    from ..speed import SpeedConfig, format_speed, run_speed
    res = run_speed(SpeedConfig(
        models=tuple(m.strip() for m in a.models.split(",") if m.strip()), out=a.out,
        batch_size=a.batch_size, input_size=a.input_size, repeats=a.repeats, iters=a.iters,
        warmup=a.warmup, train_step=a.train_step, engine=engine_cfg(a)))
    print(format_speed(res["summary"]))
    print(f"results: {res['out']}")
    return 0
