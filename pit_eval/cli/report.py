"""``run_eval.py report``: Markdown / HTML / CSV comparison over results directories."""
from __future__ import annotations


def register(sub) -> None:
    p = sub.add_parser("report", help="Markdown/HTML/CSV comparison report over results directories")
    p.add_argument("inputs", nargs="+", help="results directories (searched recursively)")
    p.add_argument("--out", default="report", help="output directory")
    p.set_defaults(func=run)


def run(a) -> int:
    from ..report import build_report
    for p in build_report(a.inputs, a.out):
        print(p)
    return 0
