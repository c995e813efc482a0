"""Comparison reports over results directories: report.md, a self-contained report.html (plots
embedded) and summary.csv. Runs that are not comparable (sample vs real data, subset vs full set,
different datasets) go into separate groups, never one column."""
from __future__ import annotations

import html
import logging
from pathlib import Path
from typing import Dict, List, Tuple

from . import result_kinds
from .files import atomic_write
from .plots import figure_png, html_figure
from .result_kinds import RESULT_KINDS, Run, find_runs
from .results import ResultsError, csv_text
from .tables import html_table, markdown_table, settings_text

logger = logging.getLogger(__name__)


# ------------------------------------------------------------------ plots
def make_plots(runs: List[Run]) -> Dict[str, bytes]:
    """Every kind's figures over its runs, as PNG bytes."""
    import matplotlib
    matplotlib.use("Agg")
    plots: Dict[str, bytes] = {}
    for kind in result_kinds.ordered():
        mine = [r for r in runs if r.kind == kind.name]
        if mine:
            plots.update({name: figure_png(fig) for name, fig in kind.plots(mine, runs).items()})
    return plots


# ------------------------------------------------------------------ assembly
def _sections(runs: List[Run]) -> List[Tuple[str, str, List[dict]]]:
    """(title, explanation, rows) per comparability group and kind."""
    groups: Dict[str, List[Run]] = {}
    for r in runs:
        groups.setdefault(r.group, []).append(r)
    out = []
    for g, rs in sorted(groups.items()):
        rows = RESULT_KINDS.get(rs[0].kind).rows(rs)
        why = ("Runs in this group share data and protocol, so their columns compare; other groups are "
               "kept apart because their data, subset or device differ.")
        out.append((g, why, rows))
    return out


def provenance(runs: List[Run]) -> List[dict]:
    rows = []
    for r in runs:
        ident, v = r.meta["identity"], r.meta.get("versions", {})
        w = ident.get("weights") or ident.get("checkpoint") or {}
        prov = r.summary.get("provenance") or {}
        tp = r.summary.get("throughput") or {}
        rows.append({"run": str(r.path), "kind": r.kind, "model": r.model,
                     "weights": w.get("source") or w.get("path") or "—",
                     "sha256": (w.get("sha256") or "—")[:16],
                     "flags": "; ".join(r.summary.get("flags", [])) or "—",
                     "precision": settings_text(prov, "precision"),
                     "device": settings_text(prov, "device_name") if prov else
                     (ident.get("device") or {}).get("device", "—"),
                     "compile": settings_text(prov, "compile"),
                     "img/s": tp.get("images_per_s"),
                     "stall share": None if tp.get("stall_share") is None else f"{100 * tp['stall_share']:.0f} %",
                     "runs": len(r.meta.get("runs", [])) or "—",
                     "torch / timm / mmdet": f"{v.get('torch')} / {v.get('timm')} / {v.get('mmdet')}",
                     "commit": (r.meta.get("git_commit") or "—")[:10]})
    return rows


def build_report(inputs: List[str], out: str) -> List[str]:
    runs = find_runs(inputs)
    outp = Path(out)
    try:
        (outp / "plots").mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise ResultsError(f"report directory {out!r} is not writable ({e.strerror}); choose another --out") from None
    sections = _sections(runs)
    plots = make_plots(runs)
    for name, png in plots.items():
        (outp / "plots" / f"{name}.png").write_bytes(png)
    refs = [row for kind in result_kinds.ordered()
            for row in kind.reference_rows([r for r in runs if r.kind == kind.name])]
    prov = provenance(runs)
    md = ["# pit_eval report", "", f"{len(runs)} run(s) from {', '.join(inputs)}.", ""]
    flagged = sorted({f for r in runs for f in r.summary.get("flags", [])})
    md += [f"> **{f}**" for f in flagged] + [""]
    for title, why, rows in sections:
        md += [f"## {title}", "", why, "", markdown_table(rows), ""]
    md += ["## Against the paper and timm", "", "Unverified reference values are marked.", "",
           markdown_table(refs) or "No reference values for these models.", ""]
    md += ["## Plots", ""] + [f"![{n}](plots/{n}.png)" for n in plots] + [""]
    md += ["## Provenance", "", markdown_table(prov), ""]
    atomic_write(outp / "report.md", "\n".join(md))
    atomic_write(outp / "report.html", _html(runs, inputs, flagged, sections, refs, plots, prov))
    _write_csv(outp / "summary.csv", sections)
    logger.info("report written to %s (%d runs, %d plots)", outp, len(runs), len(plots))
    return [str(outp / "report.md"), str(outp / "report.html"), str(outp / "summary.csv")]


def _html(runs, inputs, flagged, sections, refs, plots, prov) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>pit_eval report</title><style>",
             "body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}th{background:#eee}"
             ".flag{background:#fff3cd;padding:6px;border-left:4px solid #e0a800}img{max-width:100%}",
             "</style></head><body><h1>pit_eval report</h1>",
             f"<p>{len(runs)} run(s) from {html.escape(', '.join(inputs))}.</p>"]
    parts += [f"<p class='flag'>{html.escape(f)}</p>" for f in flagged]
    for title, why, rows in sections:
        parts += [f"<h2>{html.escape(title)}</h2><p>{html.escape(why)}</p>", html_table(rows)]
    parts += ["<h2>Against the paper and timm</h2><p>Unverified reference values are marked.</p>", html_table(refs)]
    parts += ["<h2>Plots</h2>"] + [html_figure(n, p) for n, p in plots.items()]
    parts += ["<h2>Provenance</h2>", html_table(prov), "</body></html>"]
    return "\n".join(parts)


def _write_csv(path: Path, sections) -> None:
    atomic_write(path, csv_text({"group": title, **row} for title, _, rs in sections for row in rs))
