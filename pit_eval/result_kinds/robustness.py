"""Robustness runs (``run_eval.py robustness``): the benchmarks' metrics, tables and figures, and the
effective-robustness scatters."""
from __future__ import annotations

import os
from typing import Any, Dict, List, Optional, Tuple

from .. import benchmarks, population, references, robustness
from ..benchmarks import Metric
from .base import ResultKind, Run, register


def robustness_rows(runs: List[Run]) -> List[Dict[str, object]]:
    """One row per run: every metric with a report column (display units) of the benchmarks any of
    these runs ran; a metric a run does not define (an incomplete grid) is empty."""
    ran = {name for r in runs for name in r.summary["benchmarks"]}
    metrics = [m for m in benchmarks.metrics().values() if m.column and m.benchmark in ran]
    return [{"model": r.model, "weights": r.meta["identity"]["weights"]["source"],
             **{m.column: m.shown(r.summary["benchmarks"].get(m.benchmark)) for m in metrics},
             "run": r.path.name} for r in runs]


def effective_robustness_plots(summaries: List[Tuple[str, dict]], cloud: str = "timm") -> Dict[str, Any]:
    """One scatter per shift that some run has an effective robustness for (:func:`population.scatter`)."""
    out = {}
    for shift in population.shifts(cloud):
        points = [(label, s["effective_robustness"][shift]) for label, s in summaries
                  if (s.get("effective_robustness") or {}).get(shift, {}).get("value") is not None]
        if points:
            out[f"effective_robustness_{shift}"] = population.scatter(shift, points, cloud)
    return out


class Robustness(ResultKind):
    name, order = "robustness", 0

    def metrics(self) -> Dict[str, Metric]:
        return benchmarks.metrics()

    def qualifier(self, metric: Metric, entry: Optional[dict]) -> Optional[str]:
        """``<benchmark title>: <its qualifier>`` where its benchmark qualifies its numbers."""
        unit = benchmarks.BENCHMARKS.get(metric.benchmark)
        q = unit.qualifier(entry)
        return f"{unit.title}: {q}" if q else None

    def missing(self, metric: Metric, entry: Optional[dict]) -> str:
        if entry is None:
            return f"not in this run: add {metric.benchmark} to its benchmarks"
        if metric.requires:
            return f"not defined on this run: it needs {metric.requires_what} and this run has a subset"
        return super().missing(metric, entry)

    def group(self, run: Run) -> str:
        ident = run.meta["identity"]
        parts = ["sample data" if ident.get("sample_data") else "real data"]
        if ident.get("max_images"):
            parts.append(f"subset ≤{ident['max_images']} images per dataset")
        if ident.get("subset"):
            parts.append(f"image list {ident['subset']}")
        roots = sorted({v.get("path") or "" for v in run.meta.get("datasets", {}).values() if v.get("path")})
        parts.append("datasets " + ", ".join(os.path.basename(os.path.dirname(r)) or r for r in roots[:1]))
        return "robustness: " + "; ".join(parts)

    def rows(self, runs: List[Run]) -> List[dict]:
        return robustness_rows(runs)

    def plots(self, runs: List[Run], every: List[Run]) -> Dict[str, Any]:
        figures: Dict[str, Any] = {}
        for unit in benchmarks.ordered():   # each benchmark draws its own figures
            entries = [(r.label, r.summary["benchmarks"][unit.name]) for r in runs
                       if r.summary["benchmarks"].get(unit.name)]
            if entries:
                figures.update(unit.plots(entries))
        figures.update(effective_robustness_plots([(r.label, r.summary) for r in runs]))
        return figures

    def reference_rows(self, runs: List[Run]) -> List[dict]:
        """Ours / reference / difference for every metric of every run with a reference value (the CLI
        table's comparison rows, one line per reference)."""
        return [{"model": run.model, "metric": row["metric"], "ours": row["ours"],
                 "ours 95 % CI": "—" if not row.get("ci") else f"[{row['ci'][0]:.2f}, {row['ci'][1]:.2f}]",
                 "reference": references.fmt(r), "source": r["source"], "difference": r["delta"],
                 "reference in our CI": {True: "yes", False: "no", None: "—"}[r.get("consistent")]}
                for run in runs for row in robustness.reference_rows(run.model, run.summary["benchmarks"])
                if row["ours"] is not None for r in row["references"]]


register(Robustness())
