"""Reference values (paper, released README, timm results, dataset READMEs) and the paper's tables,
from the declarative ``configs/paper.json``."""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import Optional, Sequence

#: packaged with pit_eval (configs/paper.json in the repository is a link to it)
PATH = Path(__file__).resolve().parent / "assets" / "paper.json"


@functools.lru_cache(None)
def load() -> dict:
    doc = json.loads(PATH.read_text())
    for v in doc["references"]:
        if v["source"] not in doc["sources"]:
            raise ValueError(f"{PATH}: value {v} cites unknown source {v['source']!r}")
    return doc


def lookup(model: str, metric: str) -> Optional[dict]:
    for v in load()["references"]:
        if v["model"] == model and v["metric"] == metric:
            return v
    return None


#: the README's PiT-S V100 speed (images/s) and its GMACs, to scale a model without a published speed
V100_PIT_S = (1266.0, 2.9)


def declared_speed(model: str) -> Optional[float]:
    """A model's V100 images/s from this file: its published throughput, else PiT-S's scaled by its
    GMACs; None without either."""
    ips, gmacs = lookup(model, "throughput_v100"), lookup(model, "gmacs")
    if ips:
        return float(ips["value"])
    return V100_PIT_S[0] * V100_PIT_S[1] / gmacs["value"] if gmacs else None


def fmt(v: Optional[dict]) -> str:
    if v is None:
        return ""
    return f"{v['value']:g}" + ("" if v["verified"] else " (unverified)")


def compare(model: str, ours: Optional[float], metrics: Sequence[str], withheld: Optional[str] = None,
            extra: Sequence[dict] = (), ci: Optional[Sequence[float]] = None) -> dict:
    """Ours beside every reference value known for ``model`` among ``metrics`` (and ``extra`` ones),
    each with its difference: the one "ours · reference · Δ" of the CLI table, the run report and the
    paper report. ``withheld``: why the references must not be compared with ours (then none are).
    ``ci``: our 95 % interval (display units); each reference is then ``consistent`` (inside it) or not."""
    refs = [r for r in (lookup(model, m) for m in metrics) if r] + list(extra)
    withheld = withheld if refs else None
    ci = list(ci) if ci is not None and ours is not None else None
    return {"ours": ours, "ci": ci, "withheld": withheld, "references": [] if withheld else [
        {**r, "delta": None if ours is None else ours - r["value"],
         "consistent": None if ci is None else bool(ci[0] <= r["value"] <= ci[1])} for r in refs]}


SEP = " · "


def comparison_text(c: dict, missing: str = "—") -> str:
    """``ours · reference [source] / ... · Δ +d / ...``; ``missing`` stands for a value we lack."""
    ours = missing if c["ours"] is None else f"{c['ours']:.2f}"
    if c.get("ci"):
        ours += f" [{c['ci'][0]:.2f}, {c['ci'][1]:.2f}]"
    if c.get("withheld"):
        return ours + SEP + f"reference withheld: {c['withheld']}"
    if not c["references"]:
        return ours
    refs = " / ".join(f"{fmt(r)} [{r['source']}]" for r in c["references"])
    if c["ours"] is None:
        return ours + SEP + refs
    return ours + SEP + refs + SEP + "Δ " + " / ".join(f"{r['delta']:+.2f}" for r in c["references"]) + _verdict(c)


def _verdict(c: dict) -> str:
    """Whether each reference lies inside our 95 % interval (sampling noise can explain its Δ) or not."""
    said = [r["consistent"] for r in c["references"] if r.get("consistent") is not None]
    if not said:
        return ""
    words = ["inside" if v else "outside" for v in said]
    return f" ({words[0] if len(set(words)) == 1 else ' / '.join(words)} our 95 % CI)"
