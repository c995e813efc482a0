import json
import shutil
from pathlib import Path

import pytest
from browser import render, screenshot

from pit_eval.speed import SpeedConfig, run_speed, throughput_ratios
from pit_eval.engine import EngineConfig
from pit_eval.report import build_report
from pit_eval.results import ResultsError
from pit_eval.robustness import RobustnessConfig, RobustnessRun

ROOT = Path(__file__).resolve().parents[1]
ENG = EngineConfig(batch_size=5, workers=0, quiet=True)


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    root = tmp_path_factory.mktemp("results")
    for model in ("pit_ti", "deit_tiny"):
        RobustnessRun(RobustnessConfig(
            model=model, weights="none", out=str(root / "robustness" / model),
            benchmarks=("clean", "imagenet-c", "occlusion", "fgsm"), corruptions=("fog", "snow"),
            severities=(1, 2), engine=ENG)).run()
    run_speed(SpeedConfig(models=("pit_ti", "deit_tiny"), out=str(root / "speed"), batch_size=2,
                                  repeats=2, iters=1, warmup=1, engine=EngineConfig(quiet=True)))
    return root


def test_throughput_ratio_on_fixed_timings():
    r = throughput_ratios({"pit_s": 1266.0, "deit_small": 980.0, "pit_ti": 30.0, "deit_tiny": 20.0})
    assert r["pit_s"]["ratio"] == pytest.approx(1266 / 980) and r["pit_s"]["paper_ratio"] == pytest.approx(1266 / 980)
    assert r["pit_ti"] == {"vs": "deit_tiny", "ratio": 1.5, "paper_ratio": pytest.approx(3030 / 2564)}
    assert "pit_b" not in r


def test_speed_numbers(runs):
    s = json.loads((runs / "speed" / "summary.json").read_text())
    pit = s["models"]["pit_ti"]
    assert abs(pit["params_m"] - 4.85) < 0.01 and abs(pit["gmacs"] - 0.71) / 0.71 < 0.05
    assert all(m["infer_ips_median"] > 0 and m["infer_ips_min"] <= m["infer_ips_median"] <= m["infer_ips_max"]
               for m in s["models"].values())
    assert s["ratios_vs_deit"]["pit_ti"]["ratio"] == pytest.approx(
        pit["infer_ips_median"] / s["models"]["deit_tiny"]["infer_ips_median"])


def test_report_sections_and_numbers(runs, tmp_path, artifacts):
    paths = build_report([str(runs)], str(tmp_path / "rep"))
    md = Path(paths[0]).read_text()
    for section in ("## speed on", "## robustness: sample data", "## Against the paper and timm",
                    "## Plots", "## Provenance", "sample data — not comparable to the paper",
                    "random weights"):
        assert section in md, section
    for plot in ("ce_per_corruption", "acc_vs_severity", "occlusion_curve", "fgsm_curve", "acc_vs_throughput",
                 "clean_reliability", "ece_vs_severity"):
        assert (tmp_path / "rep" / "plots" / f"{plot}.png").exists(), plot
    rows = {r["model"]: r for r in __import__("csv").DictReader(open(paths[2])) if r.get("clean")}
    for model in ("pit_ti", "deit_tiny"):
        s = json.loads((runs / "robustness" / model / "summary.json").read_text())
        assert float(rows[model]["clean"]) == pytest.approx(100 * s["benchmarks"]["clean"]["acc1"])
        # the models compared on calibration too, and every reference row says where our interval lies
        assert float(rows[model]["clean ECE"]) == pytest.approx(100 * s["benchmarks"]["clean"]["calibration"]["ece"])
        assert float(rows[model]["ImageNet-C ECE"]) == pytest.approx(100 * s["benchmarks"]["imagenet-c"]["calibration"]["ece"])
        ic = s["benchmarks"]["imagenet-c"]
        assert not ic["mean_corrupted_acc_complete"] and rows[model]["mean C acc (15)"] == "", \
            "a mean over a subset of the 15 x 5 cells is not the published mean corrupted accuracy"
    lo, hi = (100 * v for v in json.loads((runs / "robustness/pit_ti/summary.json").read_text())["benchmarks"]["clean"]["acc1_ci"])
    line = next(l for l in md.splitlines() if l.startswith("| pit_ti | clean top-1 |") and "pit_readme" in l)
    assert f"| [{lo:.2f}, {hi:.2f}] | 73 | pit_readme |" in line and line.endswith("| no |"), line
    shutil.copytree(tmp_path / "rep", artifacts / "report", dirs_exist_ok=True)


def test_a_speed_run_of_its_former_name_is_read(runs, tmp_path):
    """Speed results written when the command was called ``benchmark`` (kind "benchmark")."""
    old = tmp_path / "old" / "speed"
    shutil.copytree(runs / "speed", old)
    meta = json.loads((old / "meta.json").read_text())
    meta["kind"] = "benchmark"
    (old / "meta.json").write_text(json.dumps(meta))
    md = Path(build_report([str(tmp_path / "old")], str(tmp_path / "rep"))[0]).read_text()
    assert "## speed on" in md and "| pit_ti |" in md


def test_sample_and_real_runs_are_kept_apart(runs, tmp_path):
    real = tmp_path / "real"
    shutil.copytree(runs / "robustness" / "pit_ti", real)
    meta = json.loads((real / "meta.json").read_text())
    meta["identity"]["sample_data"] = False
    (real / "meta.json").write_text(json.dumps(meta))
    md = Path(build_report([str(runs), str(real)], str(tmp_path / "rep"))[0]).read_text()
    assert "## robustness: real data" in md and "## robustness: sample data" in md


def test_report_bad_input(tmp_path, runs):
    with pytest.raises(ResultsError, match="no results found"):
        build_report([str(tmp_path)], str(tmp_path / "o"))
    bad = tmp_path / "bad"
    bad.mkdir()
    (bad / "meta.json").write_text(json.dumps({"schema_version": 99, "kind": "robustness"}))
    with pytest.raises(ResultsError, match="schema version 99"):
        build_report([str(bad)], str(tmp_path / "o"))
    (bad / "meta.json").write_text(json.dumps({"schema_version": 1, "kind": "calibration"}))
    (bad / "summary.json").write_text("{}")
    with pytest.raises(ResultsError) as e:
        build_report([str(bad)], str(tmp_path / "o"))
    assert str(e.value) == (f"{str(bad)!r} is a 'calibration' result; this pit_eval reads kinds "
                            "['robustness', 'detection', 'speed']")
    (bad / "meta.json").write_text("{not json")
    with pytest.raises(ResultsError, match="corrupt"):
        build_report([str(bad)], str(tmp_path / "o"))
    with pytest.raises(ResultsError, match="not writable"):
        build_report([str(runs)], "/proc/pit_eval_report")


def test_html_report_renders_in_chromium(runs, tmp_path, artifacts):
    html = Path(build_report([str(runs)], str(tmp_path / "rep"))[1])
    seen = render(html, tmp_path / "profile")
    assert seen["IMAGES"] >= 4 and seen["BROKEN"] == 0 and seen["ERRORS"] == 0, seen
    screenshot(html, artifacts / "report_screenshot.png", tmp_path / "profile")


def test_a_new_result_kind_is_one_registered_module(tmp_path, monkeypatch):
    """A kind registered in RESULT_KINDS gets its group, table, plot and numbers into the report and
    the paper report with no other edit (the three kinds shipped are such modules)."""
    import dataclasses
    from pit_eval import result_kinds
    from pit_eval.benchmarks import Metric
    from pit_eval.paper_report import cell
    from pit_eval.result_kinds.base import RESULT_KINDS, ResultKind
    from pit_eval.results import RunDir

    class Calibration(ResultKind):
        name, order = "calibration", 30
        metric = dataclasses.replace(Metric("ece", "ECE %"), benchmark="calibration")

        def metrics(self):
            return {self.metric.id: self.metric}

        def entry(self, metric, summary, model):
            return summary.get("ece_by_model", {}).get(model)

        def group(self, run):
            return "calibration tables"

        def rows(self, runs):
            return [{"model": m, "ECE %": 100 * e["ece"]} for r in runs for m, e in r.summary["ece_by_model"].items()]

        def plots(self, runs, every):
            import matplotlib.pyplot as plt
            fig, ax = plt.subplots()
            ax.bar([0], [1])
            return {"ece_bars": fig}

    monkeypatch.setitem(RESULT_KINDS._items, "calibration", Calibration())
    with RunDir(tmp_path / "cal", "calibration", {"model": "pit_s"}, {}) as rd:
        rd.write_summary({"model": "pit_s", "ece_by_model": {"pit_s": {"ece": 0.05}}, "flags": []}, [])
    paths = build_report([str(tmp_path / "cal")], str(tmp_path / "rep"))
    md = Path(paths[0]).read_text()
    assert "## calibration tables" in md and "| pit_s | 5.00 |" in md and "![ece_bars](plots/ece_bars.png)" in md
    assert result_kinds.metric("calibration.ece")[0].name == "calibration"
    c = cell({"id": "t"}, {"id": "ece", "label": "ECE", "metric": "calibration.ece", "refs": []}, "pit_s", None,
             {"calibration": {"pit_s": str(tmp_path / "cal")}})
    assert c["ours"] == pytest.approx(5.0) and c["why"] == ""
