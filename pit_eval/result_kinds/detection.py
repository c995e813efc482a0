"""Detection runs (``run_eval.py detection``): COCO box AP and COCO-C's P / mPC / rPC."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List

from ..benchmarks import Metric
from .base import ResultKind, Run, register

COCO, COCO_C = "coco", "coco-c"
#: its numbers, each in its part of ``summary["benchmarks"]``
METRICS = (
    dataclasses.replace(Metric("bbox_mAP", "box AP"), benchmark=COCO),
    *(dataclasses.replace(m, benchmark=COCO_C) for m in (
        Metric("P", "P"),
        Metric("mPC", "mPC", requires="mPC_complete"),
        Metric("rPC", "rPC", requires="mPC_complete"))),
)


def _pct(v):
    return None if v is None else 100.0 * v


class Detection(ResultKind):
    name, order = "detection", 10

    def metrics(self) -> Dict[str, Metric]:
        return {m.id: m for m in METRICS}

    def group(self, run: Run) -> str:
        flags = run.summary.get("flags", [])
        data = run.meta["identity"].get("data", {})
        return f"detection on {data.get('ann_file', 'ingested work_dir')}" + \
            (" (sample data)" if any("sample" in f for f in flags) else "")

    def rows(self, runs: List[Run]) -> List[dict]:
        rows = []
        for r in runs:
            b = r.summary["benchmarks"]
            cc = b.get(COCO_C, {})
            rows.append({"model": r.model, "run": r.path.name,
                         **{k.replace("bbox_", "AP").replace("APmAP", "AP"): _pct(v)
                            for k, v in b.get(COCO, {}).items()},
                         "P": _pct(cc.get("P")), "mPC": _pct(cc.get("mPC")), "rPC": _pct(cc.get("rPC"))})
        return rows

    def plots(self, runs: List[Run], every: List[Run]) -> Dict[str, Any]:
        det = [r for r in runs if r.summary["benchmarks"].get(COCO_C)]
        if not det:
            return {}
        import matplotlib.pyplot as plt
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for r in det:
            cc = r.summary["benchmarks"][COCO_C]
            sev = sorted(cc["ap_by_severity"], key=int)
            ax.plot([0] + [int(s) for s in sev], [100 * cc["P"]] + [100 * cc["ap_by_severity"][s] for s in sev],
                    marker="o", label=r.model)
        ax.set_xlabel("severity (0 = uncorrupted)")
        ax.set_ylabel("box AP %")
        ax.set_title("detection AP vs corruption severity")
        ax.legend(fontsize=7)
        return {"det_ap_vs_severity": fig}


register(Detection())
