"""Size-and-speed runs (``run_eval.py speed``): parameters, GMACs, images/s and the ratio to each
model's DeiT, one row per model; and, beside robustness runs, accuracy against throughput."""
from __future__ import annotations

import dataclasses
from typing import Any, Dict, List, Optional

from .. import benchmarks, references
from ..benchmarks import Metric
from .base import ResultKind, Run, register

#: its numbers of one model: ``summary["models"][model]`` with its ratio to its DeiT as ``ratio_vs_deit``
METRICS = tuple(dataclasses.replace(m, benchmark="speed") for m in (
    Metric("params_m", "params (M)", scale=1.0),
    Metric("gmacs", "GMACs", scale=1.0),
    Metric("ratio_vs_deit", "img/s ratio to its DeiT", path=("ratio_vs_deit", "ratio"), scale=1.0),
))


class Speed(ResultKind):
    name, order = "speed", 20

    def metrics(self) -> Dict[str, Metric]:
        return {m.id: m for m in METRICS}

    def entry(self, metric: Metric, summary: dict, model: str) -> Optional[dict]:
        row = (summary.get("models") or {}).get(model)
        if row is None:
            return None
        return {**row, "ratio_vs_deit": (summary.get("ratios_vs_deit") or {}).get(model, {})}

    def result_reference(self, metric: Metric, entry: Optional[dict]) -> Optional[dict]:
        """The ratio's reference: the README's V100 ratio, which the speed run records beside its own."""
        if metric.name != "ratio_vs_deit":
            return None
        ref = ((entry or {}).get("ratio_vs_deit") or {}).get("paper_ratio")
        return {"value": ref, "source": "pit_readme", "verified": True} if ref is not None else None

    def group(self, run: Run) -> str:
        d = run.meta["identity"]["device"]
        return f"speed on {d.get('gpu', d['device'])}, batch {run.meta['identity']['batch_size']}"

    def rows(self, runs: List[Run]) -> List[dict]:
        rows = []
        for r in runs:
            for m, row in r.summary["models"].items():
                rat = r.summary["ratios_vs_deit"].get(m, {})
                ref = references.lookup(m, "gmacs")
                rows.append({"model": m, "params M": row["params_m"], "GMACs": row["gmacs"],
                             "paper GMACs": ref["value"] if ref else None,
                             "img/s": row["infer_ips_median"],
                             "img/s min–max": f"{row['infer_ips_min']:.1f}–{row['infer_ips_max']:.1f}",
                             "vs DeiT": rat.get("ratio"), "paper ratio (V100)": rat.get("paper_ratio"),
                             "peak MiB": row.get("peak_mem_mib")})
        return rows

    def plots(self, runs: List[Run], every: List[Run]) -> Dict[str, Any]:
        """Accuracy (the headline metric of the robustness runs beside these) against images/s."""
        rob = [r for r in every if r.kind == "robustness"]
        if not rob:
            return {}
        import matplotlib.pyplot as plt
        ips = {m: row["infer_ips_median"] for b in runs for m, row in b.summary["models"].items()}
        top = benchmarks.headline()
        pts = [(ips[r.model], top.shown(r.summary["benchmarks"].get(top.benchmark)), r.model) for r in rob
               if r.model in ips and top.shown(r.summary["benchmarks"].get(top.benchmark)) is not None]
        if not pts:
            return {}
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for x, y, m in pts:
            ax.scatter(x, y)
            ax.annotate(m, (x, y), fontsize=7)
        ax.set_xlabel("images/s (this machine)")
        ax.set_ylabel(f"{top.label} %")
        ax.set_title("accuracy vs throughput")
        return {"acc_vs_throughput": fig}


register(Speed())
