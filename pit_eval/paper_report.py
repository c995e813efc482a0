"""The paper report: one table per table of ``configs/paper.json``, rows = models, the paper's columns,
each cell "ours · reference · Δ" (unverified references marked), missing cells saying why.
Written as ``paper.md``, a self-contained ``paper.html`` and ``paper.csv``."""
from __future__ import annotations

import html
import json
from pathlib import Path
from typing import Dict, List, Optional

from . import references, result_kinds
from .files import atomic_write
from .plots import figure_png, html_figure
from .result_kinds.robustness import effective_robustness_plots
from .results import csv_text
from .tables import html_table, markdown_table, settings_text


def _summary(directory: Optional[str]) -> Optional[dict]:
    if not directory:
        return None
    try:
        return json.loads((Path(directory) / "summary.json").read_text())
    except (OSError, ValueError):
        return None


def cell(table: dict, col: dict, model: str, planned, results: Dict[str, Dict[str, str]]) -> dict:
    """One cell of a paper table: ``col["metric"]`` read, through the kind that offers it, from the
    model's results directory of that kind (``results[kind][model]``)."""
    kind, metric = result_kinds.metric(col["metric"])
    s = _summary(results.get(kind.name, {}).get(model))
    entry = kind.entry(metric, s, model) if s else None
    ours, result_ref = metric.shown(entry), kind.result_reference(metric, entry)
    c = references.compare(model, ours, col.get("refs") or metric.refs, (entry or {}).get("comparison_withheld"),
                           [result_ref] if result_ref else [], ci=metric.interval(entry))
    why = ""
    if ours is None:
        if planned is not None and planned.status == "skip":
            why = planned.why
        elif s is None:
            why = "not run yet (re-run the command to finish it)"
        else:
            why = kind.missing(metric, entry)
    prov = (s or {}).get("provenance")
    return {"table": table["id"], "model": model, "column": col["id"], "label": col["label"], **c,
            "why": why, "flags": (s or {}).get("flags", []),
            "computed": computed_text(prov, kind.qualifier(metric, entry)) if ours is not None else ""}


def computed_text(prov: Optional[dict], qualifier: Optional[str] = None) -> str:
    """How a number was computed: ``fp32 on NVIDIA H100, eager`` (per its run's cells), and what its
    benchmark qualifies it with (an ImageNet-C number: ``; ImageNet-C: imagenet-c, on the fly``)."""
    protocol = f"; {qualifier}" if qualifier else ""
    if not prov:
        return "precision and device not recorded" + protocol
    return (f"{settings_text(prov, 'precision')} on {settings_text(prov, 'device_name')}, "
            f"{settings_text(prov, 'compile')}" + protocol)


def cell_text(c: dict) -> str:
    return references.comparison_text(c, missing=f"— ({c['why']})")


def build_tables(plan, results: Dict[str, Dict[str, str]]) -> List[dict]:
    planned = {(c.table, c.model, c.column): c for c in plan.cells}
    out = []
    for t in plan.tables:
        rows = [r for r in t["rows"] if plan.cfg.models is None or r["model"] in plan.cfg.models]
        cells = {(r["model"], col["id"]): cell(t, col, r["model"], planned.get((t["id"], r["model"], col["id"])),
                                               results)
                 for r in rows for col in t["columns"]}
        flags = sorted({f for c in cells.values() for f in c["flags"]})
        out.append({"table": t, "rows": rows, "cells": cells, "flags": flags})
    return out


def _markdown(built: List[dict]) -> str:
    md = ["# PiT paper tables — pit_eval", "",
          "Each cell: ours · reference [source] · Δ (ours − reference). References marked (unverified) "
          "could not be checked against the paper; a missing cell says why.", ""]
    for b in built:
        t = b["table"]
        md += [f"## {t['title']}", ""] + [f"> **{f}**" for f in b["flags"]] + [""]
        md.append("| model | " + " | ".join(c["label"] for c in t["columns"]) + " |")
        md.append("|---|" + "---|" * len(t["columns"]))
        for r in b["rows"]:
            label = r["label"] + (" (extra row)" if r.get("extra") else "")
            md.append(f"| {label} | " + " | ".join(cell_text(b["cells"][(r["model"], c["id"])])
                                                   for c in t["columns"]) + " |")
        computed = sorted({(r["label"], c["computed"]) for r in b["rows"] for c in
                           (b["cells"][(r["model"], col["id"])] for col in t["columns"]) if c["computed"]})
        md += [""] + [f"[{label}] computed in {how}" for label, how in computed]
        md += ["", "Protocols:"] + [f"- **{c['label']}**: {c['protocol']}" for c in t["columns"]]
        md += [f"- {r['label']}: {r['note']}" for r in b["rows"] if r.get("note")] + [""]
    return "\n".join(md)


def _html(built: List[dict]) -> str:
    e = html.escape
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>PiT paper tables — pit_eval</title><style>",
             "body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px;vertical-align:top}th{background:#eee}"
             ".flag{background:#fff3cd;padding:6px;border-left:4px solid #e0a800}.missing{color:#888}"
             ".ours{font-weight:bold}.unverified{color:#a15c00}",
             "</style></head><body><h1>PiT paper tables — pit_eval</h1>",
             "<p>Each cell: <b>ours</b> · reference [source] · Δ (ours − reference). "
             "<span class='unverified'>(unverified)</span> references could not be checked against the paper.</p>"]
    for b in built:
        t = b["table"]
        parts.append(f"<h2>{e(t['title'])}</h2>")
        parts += [f"<p class='flag'>{e(f)}</p>" for f in b["flags"]]
        parts.append("<table><thead><tr><th>model</th>" + "".join(
            f"<th title='{e(c['protocol'])}'>{e(c['label'])}</th>" for c in t["columns"]) + "</tr></thead><tbody>")
        for r in b["rows"]:
            tds = []
            for col in t["columns"]:
                c = b["cells"][(r["model"], col["id"])]
                cls = "ours" if c["ours"] is not None else "missing"
                txt = e(cell_text(c)).replace("(unverified)", "<span class='unverified'>(unverified)</span>")
                tip = f" title='computed in {e(c['computed'])}'" if c["computed"] else ""
                tds.append(f"<td class='{cls}'{tip}>{txt}</td>")
            label = e(r["label"]) + (" <i>(extra row)</i>" if r.get("extra") else "")
            parts.append(f"<tr><th>{label}</th>{''.join(tds)}</tr>")
        parts.append("</tbody></table><ul>" + "".join(
            f"<li><b>{e(c['label'])}</b>: {e(c['protocol'])}</li>" for c in t["columns"]) + "".join(
            f"<li>{e(r['label'])}: {e(r['note'])}</li>" for r in b["rows"] if r.get("note")) + "</ul>")
    parts.append("</body></html>")
    return "\n".join(parts)


def _csv_rows(built: List[dict]):
    for b in built:
        for (model, col_id), c in b["cells"].items():
            col = next(x for x in b["table"]["columns"] if x["id"] == col_id)
            refs = c["references"] or [None]
            for r in refs:
                yield {"table": c["table"], "model": model, "column": col_id, "label": c["label"],
                       "ours": c["ours"], "reference": r["value"] if r else None,
                       "source": r["source"] if r else None, "verified": r["verified"] if r else None,
                       "delta": r["delta"] if r else None,
                       "missing_because": c["why"], "protocol": col["protocol"], "computed": c["computed"],
                       "flags": "; ".join(c["flags"])}


def effective_robustness_table(runs: Dict[str, str]) -> List[dict]:
    """One row per paper model with a robustness run: its effective robustness per shift (timm cloud),
    beside the same quantity from timm's published numbers for it."""
    from .population import shifts
    rows = []
    for model, directory in runs.items():
        er = (_summary(directory) or {}).get("effective_robustness") or {}
        if not er:
            continue
        row = {"model": model}
        for shift in shifts("timm"):
            e = er.get(shift)
            if e is None:
                row[shift] = "— (not run)"
            elif e.get("value") is None:
                row[shift] = f"— ({e['why']})"
            else:
                ci = f" [{e['ci'][0]:+.2f}, {e['ci'][1]:+.2f}]" if e.get("ci") else ""
                ref = e.get("reference")
                row[shift] = f"{e['value']:+.2f}{ci}" + (f" · timm's numbers {ref['value']:+.2f}" if ref else "")
        rows.append(row)
    return rows


ER_TITLE = "Effective robustness (top-1 points above the timm cloud's line; logit fit over its standard models)"


def _er_markdown(rows: List[dict], plots: Dict[str, bytes]) -> str:
    if not rows:
        return ""
    md = ["", f"## {ER_TITLE}", "", markdown_table(rows)]
    md += [""] + [f"![{n}](plots/{n}.png)" for n in plots] + [""]
    return "\n".join(md)


def _er_html(rows: List[dict], plots: Dict[str, bytes]) -> str:
    if not rows:
        return ""
    figures = [html_figure(n, p) for n, p in plots.items()]
    return "\n".join([f"<h2>{html.escape(ER_TITLE)}</h2>", html_table(rows)] + figures)


def write_paper_report(plan, results: Dict[str, Dict[str, str]], out: Path) -> List[str]:
    """The paper report of ``results``: kind -> model -> its results directory of that kind."""
    out.mkdir(parents=True, exist_ok=True)
    built = build_tables(plan, results)
    runs = results.get("robustness", {})
    er_rows = effective_robustness_table(runs)
    figures = effective_robustness_plots([(m, _summary(d) or {}) for m, d in runs.items()]) if er_rows else {}
    plots = {name: figure_png(fig) for name, fig in figures.items()}
    if plots:
        (out / "plots").mkdir(exist_ok=True)
        for name, png in plots.items():
            (out / "plots" / f"{name}.png").write_bytes(png)
    atomic_write(out / "paper.md", _markdown(built) + _er_markdown(er_rows, plots))
    atomic_write(out / "paper.html", _html(built).replace("</body></html>", _er_html(er_rows, plots) + "</body></html>"))
    atomic_write(out / "paper.csv", csv_text(_csv_rows(built)))
    return [str(out / n) for n in ("paper.md", "paper.html", "paper.csv")]
