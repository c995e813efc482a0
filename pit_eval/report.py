"""Comparison reports over results directories: report.md, a self-contained report.html (plots
embedded) and summary.csv. Runs that are not comparable (sample vs real data, subset vs full set,
different datasets) go into separate groups, never one column."""
from __future__ import annotations

import base64
import html
import io
import json
import logging
import os
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from . import benchmarks, references, robustness
from .files import atomic_write
from .results import ResultsError, csv_text, read_meta

logger = logging.getLogger(__name__)


class Run:
    def __init__(self, path: Path) -> None:
        self.path = path
        self.meta = read_meta(path)
        sp = path / "summary.json"
        try:
            self.summary = json.loads(sp.read_text())
        except FileNotFoundError:
            raise ResultsError(f"{str(path)!r} has no summary.json (run not finished?); re-run it") from None
        except json.JSONDecodeError as e:
            raise ResultsError(f"{str(sp)!r} is corrupt ({e}); re-run to rebuild it") from None
        self.kind = self.meta["kind"]

    @property
    def model(self) -> str:
        return self.summary.get("model") or self.meta.get("model") or self.path.name

    @property
    def group(self) -> str:
        """Comparability group: runs in different groups are never put in one column."""
        if self.kind == "speed":
            d = self.meta["identity"]["device"]
            return f"speed on {d.get('gpu', d['device'])}, batch {self.meta['identity']['batch_size']}"
        flags = self.summary.get("flags", [])
        if self.kind == "detection":
            data = self.meta["identity"].get("data", {})
            return f"detection on {data.get('ann_file', 'ingested work_dir')}" + \
                (" (sample data)" if any("sample" in f for f in flags) else "")
        ident = self.meta["identity"]
        parts = ["sample data" if ident.get("sample_data") else "real data"]
        if ident.get("max_images"):
            parts.append(f"subset ≤{ident['max_images']} images per dataset")
        if ident.get("subset"):
            parts.append(f"image list {ident['subset']}")
        roots = sorted({v.get("path") or "" for v in self.meta.get("datasets", {}).values() if v.get("path")})
        parts.append("datasets " + ", ".join(os.path.basename(os.path.dirname(r)) or r for r in roots[:1]))
        return "robustness: " + "; ".join(parts)


def find_runs(inputs: List[str]) -> List[Run]:
    runs, seen = [], set()
    for inp in inputs:
        if not Path(inp).exists():
            raise ResultsError(f"{inp!r} does not exist; pass results directories (e.g. results/)")
        for meta in sorted(Path(inp).rglob("meta.json")):
            if meta.parent.resolve() not in seen:
                seen.add(meta.parent.resolve())
                runs.append(Run(meta.parent))
    if not runs:
        raise ResultsError(f"no results found under {', '.join(inputs)} (no meta.json); run "
                           "run_eval.py robustness / detection / speed first")
    return runs


def _pct(v) -> Optional[float]:
    return None if v is None else 100.0 * v


def robustness_rows(runs: List[Run]) -> List[Dict[str, object]]:
    """One row per run: every metric with a report column (display units) of the benchmarks any of
    these runs ran; a metric a run does not define (an incomplete grid) is empty."""
    ran = {name for r in runs for name in r.summary["benchmarks"]}
    metrics = [m for m in benchmarks.metrics().values() if m.column and m.benchmark in ran]
    return [{"model": r.model, "weights": r.meta["identity"]["weights"]["source"],
             **{m.column: m.shown(r.summary["benchmarks"].get(m.benchmark)) for m in metrics},
             "run": r.path.name} for r in runs]


def fmt(v) -> str:
    """A table cell: — for none, two decimals for a number."""
    return "—" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))


def _table_md(rows: List[dict]) -> str:
    if not rows:
        return ""
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def reference_rows(runs: List[Run]) -> List[dict]:
    """Ours / reference / difference for every metric of every run with a reference value (the CLI
    table's comparison rows, one line per reference)."""
    return [{"model": run.model, "metric": row["metric"], "ours": row["ours"],
             "ours 95 % CI": "—" if not row.get("ci") else f"[{row['ci'][0]:.2f}, {row['ci'][1]:.2f}]",
             "reference": references.fmt(r), "source": r["source"], "difference": r["delta"],
             "reference in our CI": {True: "yes", False: "no", None: "—"}[r.get("consistent")]}
            for run in runs for row in robustness.reference_rows(run.model, run.summary["benchmarks"])
            if row["ours"] is not None for r in row["references"]]


# ------------------------------------------------------------------ plots
def _fig_png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    import matplotlib.pyplot as plt
    plt.close(fig)
    return buf.getvalue()


def make_plots(runs: List[Run]) -> Dict[str, bytes]:
    import matplotlib
    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    plots: Dict[str, bytes] = {}
    rob = [r for r in runs if r.kind == "robustness"]
    for unit in benchmarks.ordered():   # each benchmark draws its own figures
        entries = [(f"{r.model} [{r.path.name}]", r.summary["benchmarks"][unit.name]) for r in rob
                   if r.summary["benchmarks"].get(unit.name)]
        if entries:
            plots.update({name: _fig_png(fig) for name, fig in unit.plots(entries).items()})
    plots.update(effective_robustness_plots([(f"{r.model} [{r.path.name}]", r.summary) for r in rob]))
    det = [r for r in runs if r.kind == "detection" and r.summary["benchmarks"].get("coco-c")]
    if det:
        fig, ax = plt.subplots(figsize=(5, 3.2))
        for r in det:
            cc = r.summary["benchmarks"]["coco-c"]
            sev = sorted(cc["ap_by_severity"], key=int)
            ax.plot([0] + [int(s) for s in sev], [100 * cc["P"]] + [100 * cc["ap_by_severity"][s] for s in sev],
                    marker="o", label=r.model)
        ax.set_xlabel("severity (0 = uncorrupted)")
        ax.set_ylabel("box AP %")
        ax.set_title("detection AP vs corruption severity")
        ax.legend(fontsize=7)
        plots["det_ap_vs_severity"] = _fig_png(fig)
    speed_runs = [r for r in runs if r.kind == "speed"]
    if speed_runs and rob:
        ips = {m: row["infer_ips_median"] for b in speed_runs for m, row in b.summary["models"].items()}
        top = benchmarks.headline()
        pts = [(ips[r.model], top.shown(r.summary["benchmarks"].get(top.benchmark)), r.model) for r in rob
               if r.model in ips and top.shown(r.summary["benchmarks"].get(top.benchmark)) is not None]
        if pts:
            fig, ax = plt.subplots(figsize=(5, 3.2))
            for x, y, m in pts:
                ax.scatter(x, y)
                ax.annotate(m, (x, y), fontsize=7)
            ax.set_xlabel("images/s (this machine)")
            ax.set_ylabel(f"{top.label} %")
            ax.set_title("accuracy vs throughput")
            plots["acc_vs_throughput"] = _fig_png(fig)
    return plots


def effective_robustness_plots(summaries: List[Tuple[str, dict]], cloud: str = "timm") -> Dict[str, bytes]:
    """One scatter per shift that some run has an effective robustness for (:func:`population.scatter`)."""
    from . import population
    out = {}
    for shift in population.shifts(cloud):
        points = [(label, s["effective_robustness"][shift]) for label, s in summaries
                  if (s.get("effective_robustness") or {}).get(shift, {}).get("value") is not None]
        if points:
            out[f"effective_robustness_{shift}"] = _fig_png(population.scatter(shift, points, cloud))
    return out


# ------------------------------------------------------------------ assembly
def _sections(runs: List[Run]) -> List[Tuple[str, str, List[dict]]]:
    """(title, explanation, rows) per comparability group and kind."""
    groups: Dict[str, List[Run]] = {}
    for r in runs:
        groups.setdefault(r.group, []).append(r)
    out = []
    for g, rs in sorted(groups.items()):
        kind = rs[0].kind
        if kind == "robustness":
            rows = robustness_rows(rs)
        elif kind == "detection":
            rows = []
            for r in rs:
                b = r.summary["benchmarks"]
                cc = b.get("coco-c", {})
                rows.append({"model": r.model, "run": r.path.name,
                             **{k.replace("bbox_", "AP").replace("APmAP", "AP"): _pct(v)
                                for k, v in b.get("coco", {}).items()},
                             "P": _pct(cc.get("P")), "mPC": _pct(cc.get("mPC")), "rPC": _pct(cc.get("rPC"))})
        else:
            rows = []
            for r in rs:
                for m, row in r.summary["models"].items():
                    rat = r.summary["ratios_vs_deit"].get(m, {})
                    ref = references.lookup(m, "gmacs")
                    rows.append({"model": m, "params M": row["params_m"], "GMACs": row["gmacs"],
                                 "paper GMACs": ref["value"] if ref else None,
                                 "img/s": row["infer_ips_median"],
                                 "img/s min–max": f"{row['infer_ips_min']:.1f}–{row['infer_ips_max']:.1f}",
                                 "vs DeiT": rat.get("ratio"), "paper ratio (V100)": rat.get("paper_ratio"),
                                 "peak MiB": row.get("peak_mem_mib")})
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


def settings_text(prov: dict, name: str) -> str:
    """A setting's value(s) over a run's cells: ``bf16``, ``MIXED: bf16, fp32``, or ``unknown``."""
    vals = [("eager" if name == "compile" else "not recorded") if v is None else str(v)
            for v in (prov.get("values") or {}).get(name, [])]
    text = ("MIXED: " if len(vals) > 1 else "") + ", ".join(vals) if vals else "unknown"
    return text + (f" (+{prov['unknown']} cells unknown)" if prov.get("unknown") and vals else "")


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
    refs = reference_rows([r for r in runs if r.kind == "robustness"])
    prov = provenance(runs)
    md = ["# pit_eval report", "", f"{len(runs)} run(s) from {', '.join(inputs)}.", ""]
    flagged = sorted({f for r in runs for f in r.summary.get("flags", [])})
    md += [f"> **{f}**" for f in flagged] + [""]
    for title, why, rows in sections:
        md += [f"## {title}", "", why, "", _table_md(rows), ""]
    md += ["## Against the paper and timm", "", "Unverified reference values are marked.", "",
           _table_md(refs) or "No reference values for these models.", ""]
    md += ["## Plots", ""] + [f"![{n}](plots/{n}.png)" for n in plots] + [""]
    md += ["## Provenance", "", _table_md(prov), ""]
    atomic_write(outp / "report.md", "\n".join(md))
    atomic_write(outp / "report.html", _html(runs, inputs, flagged, sections, refs, plots, prov))
    _write_csv(outp / "summary.csv", sections)
    logger.info("report written to %s (%d runs, %d plots)", outp, len(runs), len(plots))
    return [str(outp / "report.md"), str(outp / "report.html"), str(outp / "summary.csv")]


def _html_table(rows: List[dict]) -> str:
    if not rows:
        return "<p>none</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _html(runs, inputs, flagged, sections, refs, plots, prov) -> str:
    parts = ["<!doctype html><html><head><meta charset='utf-8'><title>pit_eval report</title><style>",
             "body{font-family:sans-serif;margin:2em;max-width:1200px}table{border-collapse:collapse;margin:1em 0}"
             "td,th{border:1px solid #ccc;padding:3px 8px;font-size:13px}th{background:#eee}"
             ".flag{background:#fff3cd;padding:6px;border-left:4px solid #e0a800}img{max-width:100%}",
             "</style></head><body><h1>pit_eval report</h1>",
             f"<p>{len(runs)} run(s) from {html.escape(', '.join(inputs))}.</p>"]
    parts += [f"<p class='flag'>{html.escape(f)}</p>" for f in flagged]
    for title, why, rows in sections:
        parts += [f"<h2>{html.escape(title)}</h2><p>{html.escape(why)}</p>", _html_table(rows)]
    parts += ["<h2>Against the paper and timm</h2><p>Unverified reference values are marked.</p>", _html_table(refs)]
    parts += ["<h2>Plots</h2>"] + [f"<figure><img alt='{n}' src='data:image/png;base64,"
                                   f"{base64.b64encode(p).decode()}'><figcaption>{n}</figcaption></figure>"
                                   for n, p in plots.items()]
    parts += ["<h2>Provenance</h2>", _html_table(prov), "</body></html>"]
    return "\n".join(parts)


def _write_csv(path: Path, sections) -> None:
    atomic_write(path, csv_text({"group": title, **row} for title, _, rs in sections for row in rs))
