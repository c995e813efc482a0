"""The contract every registered benchmark keeps, parametrised over the registry (a new module is held
to it with no edit here): it plans cells, they run on the embedded sample, its summary entry gives every
metric as a number (or says it is undefined), a second run resumes it with nothing recomputed and the
same entry, and its page documents it. One run of every benchmark, shared by the whole module."""
import dataclasses
import json
import math
from pathlib import Path

import pytest

from pit_eval import benchmarks
from pit_eval.benchmarks import autoattack, backgrounds
from pit_eval.engine import Engine, EngineConfig
from pit_eval.robustness import RobustnessConfig, RobustnessRun

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

ROOT = Path(__file__).resolve().parents[2]
NAMES = benchmarks.names()


def _config(out) -> RobustnessConfig:
    """Every benchmark on the sample, each at its smallest protocol."""
    return RobustnessConfig(model="pit_ti", weights="none", out=str(out), benchmarks=tuple(NAMES),
                            corruptions=("gaussian_noise", "fog"), severities=(1,), bgc_max_backgrounds=2,
                            autoattack_eps=4.0, autoattack_images=2,
                            engine=EngineConfig(batch_size=4, workers=0, quiet=True))


@pytest.fixture(scope="module")
def contract(tmp_path_factory):
    """(the first run's plan, its summary and cells, the resumed run's summary and meta), resumed with
    every way of computing predictions refused."""
    out = tmp_path_factory.mktemp("contract") / "run"
    first = RobustnessRun(_config(out))
    summary = first.run()["summary"]
    cells = {c["key"]: c for c in map(json.loads, (out / "cells.jsonl").read_text().splitlines())}

    def refuse(*a, **k):
        raise AssertionError("a resumed run computed a prediction")
    mp = pytest.MonkeyPatch()
    for owner, name in ((Engine, "cell_values"), (backgrounds, "vulnerable_flags"), (autoattack, "attack_batch")):
        mp.setattr(owner, name, refuse)
    try:
        resumed = RobustnessRun(_config(out)).run()["summary"]
    finally:
        mp.undo()
    return {"plan": first.cells, "summary": summary, "cells": cells, "resumed": resumed,
            "meta": json.loads((out / "meta.json").read_text())}


def test_the_run_covers_the_whole_registry(contract):
    assert set(contract["summary"]["benchmarks"]) == set(NAMES) and len(NAMES) >= 17
    keys = [c.key for c in contract["plan"]]
    assert len(keys) == len(set(keys))
    assert [r["cells_computed"] for r in contract["meta"]["runs"]] == [len(keys), 0]


@pytest.mark.parametrize("name", NAMES)
def test_plans_cells_that_run_on_the_sample(contract, name):
    mine = [c for c in contract["plan"] if c.benchmark == name]
    assert mine, f"{name} planned no cell"
    for c in mine:
        record = contract["cells"][c.key]
        assert record["benchmark"] == name and record["data"] == json.loads(json.dumps(c.fingerprint)), c.key


@pytest.mark.parametrize("name", NAMES)
def test_summary_entry_gives_every_metric(contract, name):
    unit = benchmarks.BENCHMARKS.get(name)
    entry = contract["summary"]["benchmarks"][name]
    assert isinstance(entry, dict) and unit.metrics, name
    shown = {m.name: m.shown(entry) for m in unit.metrics}
    for m in unit.metrics:
        v = shown[m.name]
        if m.scale is None:
            assert v is None or isinstance(v, str), (m.id, v)
        else:
            assert v is None or (isinstance(v, float) or isinstance(v, int)) and math.isfinite(v), (m.id, v)
        if v is None and m.requires:
            assert not entry.get(m.requires), (m.id, "undefined although its requirement holds")
    assert any(v is not None for v in shown.values()), f"{name}: no metric has a value on the sample"
    assert unit.metric_title(unit.metrics[0], entry).startswith(unit.metrics[0].label)


@pytest.mark.parametrize("name", NAMES)
def test_resumes_with_nothing_recomputed_and_the_same_entry(contract, name):
    assert contract["resumed"]["benchmarks"][name] == contract["summary"]["benchmarks"][name]


@pytest.mark.parametrize("name", NAMES)
def test_its_page_documents_it(name):
    unit = benchmarks.BENCHMARKS.get(name)
    page = ROOT / unit.doc
    assert unit.doc.startswith("docs/benchmarks/") and page.is_file(), unit.doc
    text = page.read_text()
    assert f"`{name}`" in text or f"{name}." in text, f"{unit.doc} does not name {name}"
    missing = [m.name for m in unit.metrics if m.name not in text]
    assert not missing, f"{unit.doc} does not document {missing}"
    assert page.name in (ROOT / "docs/README.md").read_text(), f"docs/README.md does not link {unit.doc}"
    undocumented = [flag for flag in _flags(unit) if flag not in text]
    assert not undocumented, f"{unit.doc} does not document {undocumented}"


def _flags(unit) -> list:
    """The command-line flags of a benchmark's options, as ``run_eval.py robustness`` declares them
    (the shared --subset is documented on the data page)."""
    from pit_eval.cli import build_parser
    sub = next(a for a in build_parser()._actions if a.dest == "command").choices["robustness"]
    fields = {f.name for f in dataclasses.fields(unit.options)} - {"subset"}
    flags = [max(a.option_strings, key=len) for a in sub._actions if a.dest in fields]
    assert len(flags) == len(fields), (unit.name, fields, flags)
    return flags
