"""Tables every report writes the same way: a cell's text, a Markdown table and an HTML table from rows
(dicts with the same keys), and how a setting's values over a run's cells read."""
from __future__ import annotations

import html
from typing import List


def fmt(v) -> str:
    """A table cell: — for none, two decimals for a number."""
    return "—" if v is None else (f"{v:.2f}" if isinstance(v, float) else str(v))


def markdown_table(rows: List[dict]) -> str:
    """Rows as a Markdown table (columns: the first row's keys); empty text for no rows."""
    if not rows:
        return ""
    cols = list(rows[0])
    out = ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
    out += ["| " + " | ".join(fmt(r.get(c)) for c in cols) + " |" for r in rows]
    return "\n".join(out)


def html_table(rows: List[dict]) -> str:
    """Rows as an HTML table, cells escaped; ``<p>none</p>`` for no rows."""
    if not rows:
        return "<p>none</p>"
    cols = list(rows[0])
    head = "".join(f"<th>{html.escape(c)}</th>" for c in cols)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(fmt(r.get(c)))}</td>" for c in cols) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def settings_text(prov: dict, name: str) -> str:
    """A setting's value(s) over a run's cells: ``bf16``, ``MIXED: bf16, fp32``, or ``unknown``."""
    vals = [("eager" if name == "compile" else "not recorded") if v is None else str(v)
            for v in (prov.get("values") or {}).get(name, [])]
    text = ("MIXED: " if len(vals) > 1 else "") + ", ".join(vals) if vals else "unknown"
    return text + (f" (+{prov['unknown']} cells unknown)" if prov.get("unknown") and vals else "")
