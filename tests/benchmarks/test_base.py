"""The benchmark registry: declarations, generated options, metrics named by paper.json, and results
directories written before the registry resuming with nothing recomputed."""
import dataclasses
import json
import os
import shutil
from pathlib import Path

import pytest

from pit_eval import api, benchmarks, metrics, paper, references
from pit_eval.benchmarks import autoattack, backgrounds
from pit_eval.datasets import DATASETS
from pit_eval.engine import Engine, EngineConfig
from pit_eval.images import SAMPLE_ROOT
from pit_eval.registry import unknown_name_message
from pit_eval.robustness import RobustnessConfig, RobustnessRun

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

ROOT = Path(__file__).resolve().parents[2]
PREVIOUS = ROOT / "tests/data/previous_layout"
#: the fixed path the previous-layout run read its data from (fingerprints hold absolute paths)
DATA = Path("/tmp/pit-eval-previous-layout-data")


#: sample files added after the previous-layout run was written (its data is the sample without them)
LATER = ("imagenet/val/n03196217", "imagenet-o")


def _previous_data() -> None:
    """A copy of the embedded sample, as it was, where tests/data/previous_layout/make.py read it."""
    def then(root: Path):
        return sorted(str(p.relative_to(root)) for p in root.rglob("*")
                      if not any(str(p.relative_to(root)).startswith(x) for x in LATER))
    if DATA.exists() and sorted(str(p.relative_to(DATA)) for p in DATA.rglob("*")) == then(SAMPLE_ROOT):
        return
    tmp = DATA.with_name(f"{DATA.name}.{os.getpid()}")
    shutil.rmtree(tmp, ignore_errors=True)
    shutil.copytree(SAMPLE_ROOT, tmp, ignore=lambda d, names: [n for n in names if any(
        str((Path(d) / n).relative_to(SAMPLE_ROOT)) == x for x in LATER)])
    shutil.rmtree(DATA, ignore_errors=True)
    os.replace(tmp, DATA)


def _previous_config(out) -> RobustnessConfig:
    """tests/data/previous_layout/make.py's run, in today's options."""
    return RobustnessConfig(
        model="pit_ti", weights="none", out=str(out),
        paths=tuple((n, str(DATA / s.subdir)) for n, s in DATASETS.items() if (SAMPLE_ROOT / s.subdir).exists()),
        benchmarks=("clean", "imagenet-c", "imagenet-a", "imagenet-r", "imagenet-sketch", "imagenet-v2",
                    "occlusion", "fgsm", "pgd", "in9", "bgc", "autoattack"),
        corruptions=("gaussian_noise", "fog"), severities=(1, 3), imagenet_c_block=2, bgc_max_backgrounds=3,
        autoattack_eps=4.0, autoattack_images=2, engine=EngineConfig(batch_size=2, workers=0, quiet=True))


@pytest.fixture
def no_compute(monkeypatch):
    """Every way a benchmark computes predictions raises."""
    def refuse(*a, **k):
        raise AssertionError("a prediction was computed")
    monkeypatch.setattr(Engine, "cell_values", refuse)
    monkeypatch.setattr(backgrounds, "vulnerable_flags", refuse)
    monkeypatch.setattr(autoattack, "attack_batch", refuse)


def _lines(path: Path):
    return [json.loads(line) for line in path.read_text().splitlines()]


def _holds(new, old, where="summary") -> None:
    """Every key of ``old`` is in ``new`` with the same value (``new`` may have more)."""
    if isinstance(old, dict):
        assert isinstance(new, dict), where
        for k, v in old.items():
            assert k in new, f"{where}: {k!r} is gone"
            _holds(new[k], v, f"{where}.{k}")
    elif isinstance(old, list) and old and isinstance(old[0], dict):
        assert len(new) == len(old), where
        for i, (a, b) in enumerate(zip(new, old)):
            _holds(a, b, f"{where}[{i}]")
    else:
        assert new == old, f"{where}: {new!r} != {old!r}"


#: the classification cells of the previous layout's run: clean, 4 ImageNet-C, A, R, Sketch, V2, 5 occlusion,
#: FGSM, PGD, 6 IN-9 variants, AutoAttack (all but the Background Challenge)
CLASSIFICATION = 22


def test_previous_layout_resumes_with_no_cell_recomputed(tmp_path, no_compute):
    """Every number of the old summary is kept; the intervals the old counts allow are added; the
    cells without calibration or predictions are named, and none is recomputed."""
    _previous_data()
    out = tmp_path / "run"
    shutil.copytree(PREVIOUS / "run", out)
    before = (out / "cells.jsonl").read_text()
    s = RobustnessRun(_previous_config(out)).run()["summary"]
    assert (out / "cells.jsonl").read_text() == before
    old = json.loads((PREVIOUS / "run/summary.json").read_text())
    _holds(s["benchmarks"], old["benchmarks"])
    assert s["provenance"] == old["provenance"]
    assert s["flags"][:len(old["flags"])] == old["flags"] and len(s["flags"]) == len(old["flags"]) + 1
    assert s["flags"][-1].startswith(f"{CLASSIFICATION} cell(s) written by an earlier pit_eval lack calibration, "
                                     "fingerprint, predictions, subset-top1, topk (autoattack/eps=4/n=2, clean, fgsm/"), s["flags"][-1]
    assert s["flags"][-1].endswith("; their other numbers are kept; --recompute-incomplete recomputes them")
    assert len(s["incomplete_cells"]) == CLASSIFICATION and s["incomplete_cells"]["clean"] == ["calibration", "predictions", "subset-top1"]
    clean = s["benchmarks"]["clean"]
    assert clean["acc1_ci"] == pytest.approx(metrics.clopper_pearson(round(clean["acc1"] * clean["n"]), clean["n"]))
    assert clean["calibration"] is None
    meta = json.loads((out / "meta.json").read_text())
    assert meta["runs"][-1]["cells_computed"] == 0 and len(meta["runs"]) == 2
    # the reference rows are the same, but for one: the 15-corruption mean needs the complete grid
    # now in the CLI table as in the reports (this run has 2 corruptions x 2 severities)
    new_rows, old_rows = ({r["metric"]: r for r in doc["reference"]} for doc in (s, old))
    dropped = "ImageNet-C mean top-1, 15 benchmark corruptions [imagenet-c, on the fly]"
    assert set(old_rows) - set(new_rows) == {dropped} and set(new_rows) <= set(old_rows)
    for k in new_rows:
        _holds(new_rows[k], old_rows[k], k)


def test_previous_layout_recomputes_incomplete_cells_on_request(tmp_path):
    """--recompute-incomplete recomputes exactly the cells the summary named, with the same
    predictions (fingerprints), and then none is incomplete."""
    _previous_data()
    out = tmp_path / "run"
    shutil.copytree(PREVIOUS / "run", out)
    old = {c["key"]: c for c in _lines(out / "cells.jsonl")}
    cfg = dataclasses.replace(_previous_config(out), recompute_incomplete=True)
    s = RobustnessRun(cfg).run()["summary"]
    assert s["incomplete_cells"] == {} and not any("earlier pit_eval" in f for f in s["flags"])
    new = {c["key"]: c for c in _lines(out / "cells.jsonl")[len(old):]}
    assert len(new) == CLASSIFICATION and "bgc" not in new
    for key, c in new.items():
        assert c["predictions"]["rows"] == c["n"], key
        if key.startswith(("pgd", "autoattack")):
            continue      # batch-dependent draws / a clean pass that now runs through the loop
        assert c["pred_fingerprint"] == old[key]["pred_fingerprint"], key


def test_previous_layout_partial_work_resumes_from_its_journals(tmp_path, no_compute):
    """Cells whose work is journalled but not yet recorded (a kill after the last block) are rebuilt
    from the journals the previous layout named, with no prediction computed."""
    _previous_data()
    out = tmp_path / "run"
    shutil.copytree(PREVIOUS / "run", out)
    old = _lines(out / "cells.jsonl")
    journalled = ("imagenet-c", "bgc", "autoattack")
    (out / "cells.jsonl").write_text("".join(json.dumps(c) + "\n" for c in old if c["benchmark"] not in journalled))
    journals = sorted(p.name for p in out.glob("*.jsonl"))
    RobustnessRun(_previous_config(out)).run()
    assert sorted(p.name for p in out.glob("*.jsonl")) == journals   # no new journal
    new = {c["key"]: c for c in _lines(out / "cells.jsonl")}
    counts = ("n", "correct1", "correct5", "skipped", "pred_fingerprint", "vulnerable", "clean_correct",
              "correct_after", "data", "variant", "param")
    renamed = {"bgc": {"correct1": None}, "autoattack": {"correct1": "robust_correct"}}   # their own names now
    for c in old:
        now = new[c["key"]]
        for k in counts:
            if k in renamed.get(c["benchmark"], {}):
                assert renamed[c["benchmark"]][k] is None or now[renamed[c["benchmark"]][k]] == c[k], (c["key"], k)
            else:
                assert c.get(k) == now.get(k), (c["key"], k)


def test_every_benchmark_declares_what_the_orchestrator_needs():
    units = benchmarks.ordered()
    assert [b.name for b in units][:2] == ["clean", "imagenet-c"]
    assert "autoattack" in benchmarks.names() and "autoattack" not in benchmarks.names(default_only=True)
    for b in units:
        assert b.dataset in DATASETS, b.name
        assert b.title and (ROOT / b.doc).is_file(), f"{b.name}: no page {b.doc}"
        assert dataclasses.is_dataclass(b.options) and b.metrics, b.name
        for f in dataclasses.fields(b.options):
            assert f.metadata.get("help"), f"{b.name}: option {f.name} has no help"
    ids = [m.id for b in units for m in b.metrics]
    assert len(ids) == len(set(ids)) and "imagenet-c.mce" in ids and "clean.acc1" in ids


def test_options_generate_cli_flags_api_keywords_and_config_fields():
    from pit_eval.cli import build_parser
    args = build_parser().parse_args(["robustness", "--model", "pit_ti"])
    config = {f.name: f.default for f in dataclasses.fields(RobustnessConfig)}
    for name, f in benchmarks.options().items():
        assert api.OPTIONS[name] == f.default == config[name], name
        assert getattr(args, name) == benchmarks.parse_option(f, f.default), name
    a = build_parser().parse_args(["robustness", "--model", "x", "--severities", "2,4", "--pgd-no-random-start",
                                   "--occlusion-levels", "0.5", "--corruptions", "blur"])
    cfg = api.build_config("x", **{k: getattr(a, k) for k in benchmarks.options()})
    assert cfg.severities == (2, 4) and cfg.pgd_random_start is False and cfg.occlusion_levels == (0.5,)
    assert cfg.corruptions == ("defocus_blur", "glass_blur", "motion_blur", "zoom_blur")
    assert RobustnessConfig(model="x", severities=[3, "5"]).severities == (3, 5)   # the API's values too


def test_bad_option_values_name_their_flag(capsys):
    from pit_eval.cli import main
    with pytest.raises(SystemExit) as e:
        main(["robustness", "--model", "pit_ti", "--severities", "1,x"])
    assert e.value.code == 2
    assert ("error: argument --severities: severity 'x' is not an integer; use values 1..5, e.g. --severities "
            "3,4,5") in capsys.readouterr().err
    with pytest.raises(ValueError, match=r"--occlusion-levels: expected comma-separated numbers, got 'a'"):
        RobustnessConfig(model="x", occlusion_levels="a")
    with pytest.raises(ValueError, match=r"--imagenet-c-block: must be >= 1, got 0"):
        RobustnessConfig(model="x", imagenet_c_block=0)
    with pytest.raises(ValueError, match=r"occlusion levels must be fractions in \[0, 1\], got \[2.0\]"):
        RobustnessConfig(model="x", occlusion_levels=(2,)).validate()


def test_paper_columns_name_registered_metrics(monkeypatch):
    """Every paper.json column names its number one way, by a result kind's metric id (a benchmark's,
    speed's or detection's), and nothing else: no kind, path or scale of its own."""
    from pit_eval import result_kinds
    owners = set()
    for t in paper.tables():
        for c in t["columns"]:
            kind, metric = result_kinds.metric(c["metric"])
            assert metric.id == c["metric"] and not {"kind", "path", "scale", "requires"} & set(c), c
            owners.add(kind.name)
    assert owners == {"robustness", "speed", "detection"}
    every = {i: m for k in result_kinds.ordered() for i, m in k.metrics().items()}
    assert set(benchmarks.metrics()) < set(every) and {"speed.gmacs", "coco-c.mPC"} < set(every)
    doc = json.loads(references.PATH.read_text())
    doc["tables"][1]["columns"][0]["metric"] = "clean.top1"
    monkeypatch.setattr(references, "load", lambda: doc)
    with pytest.raises(ValueError) as e:
        paper.tables()
    assert str(e.value) == (f"{references.PATH}: table 'robustness', column 'standard': "
                            f"{unknown_name_message('metric', 'clean.top1', every)} (a column names its number "
                            "as '<part>.<metric>': a benchmark's metric, speed.* or coco.* / coco-c.*; docs/paper.md)")
    assert "Did you mean 'clean.acc1'" in str(e.value)


def test_every_metric_of_a_summary_has_one_comparison():
    """The CLI table, the run report and the paper report show the same ours · reference · Δ."""
    c = references.compare("pit_s", 80.0, ("clean_acc1", "clean_acc1_timm"))
    text = references.comparison_text(c)
    assert text.startswith("80.00 · 80.9 [pit_readme] / ") and "Δ -0.90 / " in text
    withheld = references.compare("resnet50.tv_in1k", 50.0, ("mce",), "because")
    assert withheld["references"] == [] and references.comparison_text(withheld) == "50.00 · reference withheld: because"
    assert references.compare("pit_s", 50.0, ("mce",), "because")["withheld"] is None   # nothing to withhold


def test_every_benchmark_has_a_cost_for_the_paper_plan():
    """The plan's estimate reads each benchmark's own cost (a table once missed AutoAttack)."""
    values = RobustnessConfig(model="x").option_values()
    costs = {b.name: b.cost(lambda dataset: 100, b.configure(values)) for b in benchmarks.ordered()}
    assert all(c > 0 for c in costs.values()), costs
    assert costs["clean"] == 100 and costs["fgsm"] == 400 and costs["pgd"] == 1600
    assert costs["imagenet-c"] == 100 * 19 * 5 and costs["occlusion"] == 100 * 5
    assert costs["autoattack"] == 100 * autoattack.FORWARDS_PER_IMAGE[1] and costs["bgc"] == 25 ** 2


def test_benchmarks_use_only_the_typed_run_context():
    """Every ``run.<name>`` a benchmark module reads (``run``, ``self.run``, ``<pass>.run``) is a field or
    method of :class:`RunContext`, and the orchestrator hands the benchmarks that context."""
    import ast
    from pit_eval.benchmarks.base import RunContext
    offered = {f.name for f in dataclasses.fields(RunContext)} | {"clean"}
    used = {}
    for path in (ROOT / "pit_eval/benchmarks").glob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Attribute) and (
                    isinstance(node.value, ast.Name) and node.value.id == "run"
                    or isinstance(node.value, ast.Attribute) and node.value.attr == "run"):
                used.setdefault(node.attr, path.name)
    assert used and not set(used) - offered, {k: v for k, v in used.items() if k not in offered}
    seen = []
    orig = benchmarks.BENCHMARKS.get("clean").plan
    try:
        benchmarks.BENCHMARKS.get("clean").plan = lambda run, opts: seen.append(run) or orig(run, opts)
        RobustnessRun(RobustnessConfig(model="pit_ti", weights="none", benchmarks=("clean",), max_images=2,
                                       engine=EngineConfig(batch_size=2, workers=0, quiet=True)), plan_only=True)
    finally:
        del benchmarks.BENCHMARKS.get("clean").plan
    assert len(seen) == 1 and type(seen[0]) is RunContext and seen[0].model is None and seen[0].max_images == 2
