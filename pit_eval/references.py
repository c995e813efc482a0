"""Reference values (paper, released README, timm results, dataset READMEs) and the paper's tables,
from the declarative ``configs/paper.json``."""
from __future__ import annotations

import functools
import json
from pathlib import Path
from typing import List, Optional

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


def for_model(model: str) -> List[dict]:
    return [v for v in load()["references"] if v["model"] == model]


def fmt(v: Optional[dict]) -> str:
    if v is None:
        return ""
    return f"{v['value']:g}" + ("" if v["verified"] else " (unverified)")
