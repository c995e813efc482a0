"""run_eval.py sweep: three models, one with unreadable weights — the other two finish, sweep.json names
the failure, the exit status is non-zero; re-running after fixing the weights computes only the missing
model; unknown models and empty patterns refused before any work; --launcher local completes a
two-model sweep through submitit; --launcher slurm without submitit names the install."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

import pit_eval
from pit_eval.registry import UnknownNameError
from pit_eval.sweeps import expand_models

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
FAST = ["--benchmarks", "clean,imagenet-a", "--workers", "0", "--batch-size", "4", "--quiet", "--device", "cpu"]


def _sample_val():
    from pit_eval.images import SAMPLE_ROOT
    return [p for p in (SAMPLE_ROOT / "imagenet/val").rglob("*") if p.is_file()]


def _sweep(out: Path, models_file: Path):
    return subprocess.run([PY, str(ROOT / "run_eval.py"), "sweep", "--models", f"@{models_file}", "--weights", "random",
                           "--out", str(out), *FAST], capture_output=True, text=True, timeout=600, cwd=ROOT)


@pytest.mark.e2e
def test_a_failing_model_does_not_end_the_sweep_and_a_rerun_computes_only_it(tmp_path):
    bad = tmp_path / "broken.pth"
    bad.write_bytes(b"not a checkpoint")
    models = tmp_path / "models.txt"
    models.write_text(f"test_vit\n# a comment\ntest_resnet {bad}\ntest_convnext\n")
    r = _sweep(tmp_path / "s", models)
    assert r.returncode == 1, r.stderr[-3000:]
    doc = json.loads((tmp_path / "s/sweep.json").read_text())
    status = {e["model"]: e for e in doc["models"]}
    assert [status[m]["status"] for m in ("test_vit", "test_resnet", "test_convnext")] == ["done", "failed", "done"]
    assert "broken.pth" in status["test_resnet"]["error"] and status["test_vit"]["seconds"] > 0
    assert "FAILED test_resnet:" in r.stdout and "re-run the same command" in r.stdout
    lines = r.stdout.splitlines()
    assert lines[0].split()[:2] == ["model", "weights"] and sum(l.startswith("test_") for l in lines) == 2
    board = (tmp_path / "s/report/report.md").read_text()
    assert "test_vit" in board and "test_convnext" in board and "test_resnet" not in board
    before = {m: (tmp_path / "s" / m / "cells.jsonl").read_text() for m in ("test_vit", "test_convnext")}
    models.write_text("test_vit\ntest_resnet\ntest_convnext\n")       # the weights fixed (random, --weights)
    r = _sweep(tmp_path / "s", models)
    assert r.returncode == 0, r.stderr[-3000:]
    assert {m: (tmp_path / "s" / m / "cells.jsonl").read_text() for m in before} == before   # nothing recomputed
    doc = json.loads((tmp_path / "s/sweep.json").read_text())
    assert [e["status"] for e in doc["models"]] == ["done", "done", "done"]
    assert (tmp_path / "s/test_resnet/summary.json").is_file()


def test_models_are_expanded_and_unknown_ones_refused_before_any_work(tmp_path):
    assert [m.name for m in expand_models(["pit_*"])][:2] == ["pit_b_224.in1k", "pit_b_distilled_224.in1k"]
    assert len(expand_models(["pit_*"])) == 8                          # timm's names only, not our aliases too
    assert [m.name for m in expand_models(["pit_s", "pit_s", "resnet50"])] == ["pit_s", "resnet50"]
    with pytest.raises(UnknownNameError, match=r"the pattern 'pitt_\*' matches no model with pretrained weights; close names"):
        expand_models(["pitt_*"])
    with pytest.raises(UnknownNameError, match=r"--models: unknown model 'pit_zz'. Did you mean 'pit_s'"):
        pit_eval.sweep(["test_vit", "pit_zz"], out=str(tmp_path / "s"))
    assert not (tmp_path / "s").exists()
    (tmp_path / "m.txt").write_text("test_vit random extra\n")
    with pytest.raises(ValueError, match=r"m.txt:1: expected 'model \[weights\]'"):
        expand_models([f"@{tmp_path / 'm.txt'}"])
    with pytest.raises(TypeError, match="unknown option 'benchmark'"):
        pit_eval.sweep(["test_vit"], out=str(tmp_path / "s"), benchmark="clean")


@pytest.mark.e2e
def test_local_launcher_completes_a_two_model_sweep_with_two_ranks_per_job(tmp_path):
    """One submitit job for the render group; its two tasks are the two (gloo) ranks of each model's run,
    set up from submitit's job environment as torchrun would; the cells equal a one-process run's."""
    kw = dict(weights="random", benchmarks="clean", workers=0, batch_size=4, quiet=True, device="cpu")
    res = pit_eval.sweep(["test_vit", "test_resnet"], out=str(tmp_path / "s"), launcher="local", gpus_per_node=2, **kw)
    assert not res["failed"] and [e["status"] for e in res["models"]] == ["done", "done"]
    doc = json.loads((tmp_path / "s/sweep.json").read_text())
    assert all(e["launcher"] == "local" for e in doc["models"])
    assert len({e["job_id"] for e in doc["models"]}) == 1 and doc["models"][0]["job_id"]
    alone = pit_eval.evaluate("test_resnet", out=str(tmp_path / "alone"), **kw)
    for e in doc["models"]:
        meta = json.loads((Path(e["out"]) / "meta.json").read_text())
        assert meta["runs"][-1]["engine"]["world_size"] == 2
    shared = json.loads((Path(doc["models"][1]["out"]) / "summary.json").read_text())["benchmarks"]["clean"]
    assert shared["n"] == alone.summary["benchmarks"]["clean"]["n"] == len(_sample_val())
    assert shared["acc1"] == alone.summary["benchmarks"]["clean"]["acc1"]


def test_slurm_without_submitit_names_the_install(tmp_path, monkeypatch):
    from pit_eval.extras import MissingInstall
    monkeypatch.setitem(sys.modules, "submitit", None)
    with pytest.raises(MissingInstall, match=r"--launcher slurm submits through submitit, which is not installed: "
                                             r"pip install submitit==1.5.4"):
        pit_eval.sweep(["test_vit"], out=str(tmp_path / "s"), launcher="slurm", weights="random")


def test_ctrl_c_stops_cleanly_and_a_rerun_resumes(tmp_path, kill_on_call):
    import pit_eval.sweeps as sweeps
    kw = dict(out=str(tmp_path / "s"), weights="random", benchmarks="clean", workers=0, batch_size=4, quiet=True,
              device="cpu")
    kill_on_call(sweeps, "run_model", 2)
    with pytest.raises(KeyboardInterrupt):
        pit_eval.sweep(["test_vit", "test_resnet"], **kw)
    doc = json.loads((tmp_path / "s/sweep.json").read_text())
    assert [(e["model"], e["status"]) for e in doc["models"]] == [("test_vit", "done"), ("test_resnet", "interrupted")]
    first = (tmp_path / "s/test_vit/cells.jsonl").read_text()
    monkey_free = pit_eval.sweep(["test_vit", "test_resnet"], **kw)   # the patch raises only on call 2
    assert [e["status"] for e in monkey_free["models"]] == ["done", "done"]
    assert (tmp_path / "s/test_vit/cells.jsonl").read_text() == first


def test_cuda_out_of_memory_halves_the_batch_down_to_one(tmp_path, monkeypatch):
    import torch
    import pit_eval.robustness as robustness
    import pit_eval.sweeps as sweeps
    from pit_eval.api import build_config
    tried, fits = [], [3]

    class Run:          # a run whose batches above fits[0] do not fit on the device
        def __init__(self, cfg):
            self.cfg = cfg

        def run(self):
            tried.append(self.cfg.engine.batch_size)
            if self.cfg.engine.batch_size > fits[0]:
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")
            return {"out": self.cfg.out, "summary": {}}
    monkeypatch.setattr(robustness, "RobustnessRun", Run)
    job = sweeps.ModelRun("test_vit", build_config("test_vit", out=str(tmp_path / "v"), batch_size=32))
    entry = sweeps.run_model(job)
    assert tried == [32, 16, 8, 4, 2] and entry["batch_size"] == 2 and entry["oom_retries"] == [32, 16, 8, 4]
    tried.clear()
    fits[0] = 0
    with pytest.raises(torch.cuda.OutOfMemoryError):
        sweeps.run_model(sweeps.ModelRun("test_vit", build_config("test_vit", out=str(tmp_path / "v"), batch_size=4)))
    assert tried == [4, 2, 1]


def test_a_sweeps_models_share_one_scan_of_each_folder(tmp_path, monkeypatch):
    import pit_eval.datasets as datasets
    scans = []
    real = datasets._scan

    def counting(root, *args):
        scans.append(str(root))
        return real(root, *args)
    monkeypatch.setattr(datasets, "_scan", counting)
    pit_eval.sweep(["test_vit", "test_resnet"], out=str(tmp_path / "s"), weights="random", benchmarks="clean,imagenet-a",
                   workers=0, batch_size=4, quiet=True, device="cpu")
    assert len(scans) == len(set(scans)) == 2, scans         # val and imagenet-a, once each for both models


def test_one_render_feeds_every_model_and_each_records_as_if_alone(tmp_path, monkeypatch):
    """On-the-fly ImageNet-C in a sweep: each clean image is rendered once per cell for both models
    (counted), and each model's cells and predictions equal those of the same model run alone; the
    provenance names the shared pass; a resume recomputes nothing."""
    from pit_eval.corruptions import imagenet_c as rendering
    renders = []
    real = rendering.CorruptedImageNet._corrupt

    def counting(self, crop, index):
        renders.append((self.corruption, index))
        return real(self, crop, index)
    monkeypatch.setattr(rendering.CorruptedImageNet, "_corrupt", counting)
    kw = dict(weights="random", benchmarks="imagenet-c", corruptions="gaussian_noise,contrast", severities="2",
              imagenet_c_source="on-the-fly", corruption_backend="fast", imagenet_c_block=4, workers=0,
              batch_size=4, quiet=True, device="cpu")
    res = pit_eval.sweep(["test_vit", "test_resnet"], out=str(tmp_path / "s"), **kw)
    assert [e["status"] for e in res["models"]] == ["done", "done"]
    n_images = len(pit_eval.predictions(res["models"][0]["out"], "imagenet-c/contrast/2"))
    assert sorted(renders) == sorted((c, i) for c in ("gaussian_noise", "contrast") for i in range(n_images))
    alone = pit_eval.evaluate("test_resnet", out=str(tmp_path / "alone"), **kw)
    for key in ("imagenet-c/gaussian_noise/2", "imagenet-c/contrast/2"):
        shared = pit_eval.predictions(res["models"][1]["out"], key)
        own = pit_eval.predictions(alone.out, key)
        assert shared.drop(columns="path").equals(own.drop(columns="path"))
    cells = [json.loads(line) for line in (Path(res["models"][1]["out"]) / "cells.jsonl").read_text().splitlines()]
    alone_cells = {c["key"]: c for c in (json.loads(line) for line in
                                         (Path(alone.out) / "cells.jsonl").read_text().splitlines())}
    for c in cells:
        assert c["timing"]["shared_with"] == ["test_vit", "test_resnet"]
        assert c["data"] == alone_cells[c["key"]]["data"]
        assert c["acc1"] == alone_cells[c["key"]]["acc1"] and c["n"] == alone_cells[c["key"]]["n"]
        assert c["timing"]["pass"] == alone_cells[c["key"]]["timing"]["pass"]
    renders.clear()
    again = pit_eval.sweep(["test_vit", "test_resnet"], out=str(tmp_path / "s"), **kw)
    assert [e["status"] for e in again["models"]] == ["done", "done"] and renders == []


def test_dry_run_writes_the_plan_as_data_without_reading_weights(tmp_path, monkeypatch):
    """--dry-run: every model's cells as data (plan.json) before any work, no weights read and no model
    directory made; the planned cells are those the sweep then computes, on the same data."""
    import pit_eval.robustness as robustness
    kw = dict(weights="random", benchmarks="clean,imagenet-a,imagenet-c", corruptions="contrast", severities="1",
              imagenet_c_source="on-the-fly", workers=0, batch_size=4, quiet=True, device="cpu")
    with monkeypatch.context() as m:
        m.setattr(robustness, "create_model", lambda *a, **k: pytest.fail("the plan read weights"))
        m.setattr(robustness.timm, "create_model", lambda *a, **k: pytest.fail("the plan built a model"))
        res = pit_eval.sweep(["test_vit", "test_resnet"], out=str(tmp_path / "s"), dry_run=True, **kw)
    doc = json.loads((tmp_path / "s/plan.json").read_text())
    assert doc["models"] == json.loads(json.dumps(res["plan"], default=str))
    assert [p["model"] for p in doc["models"]] == ["test_vit", "test_resnet"]
    assert not (tmp_path / "s/test_vit").exists() and not (tmp_path / "s/sweep.json").exists()
    n = len(_sample_val())
    for p in doc["models"]:
        assert p["transform"]["input_size"] == 160 and p["forwards"] == n + 1 + n    # clean, the clock, contrast/1
        assert (p["seconds"], p["speed_basis"]) == (None, "no speed reference")      # no published speed, no run yet
        assert [(c["key"], c["computed_by"]) for c in p["cells"]] == [
            ("clean", "loop"), ("imagenet-a", "loop"), ("imagenet-c/contrast/1", "shared pass")]
    done = pit_eval.sweep(["test_vit", "test_resnet"], out=str(tmp_path / "s"), **kw)
    for p, e in zip(doc["models"], done["models"]):
        records = {r["key"]: r for r in map(json.loads, (Path(e["out"]) / "cells.jsonl").read_text().splitlines())}
        assert {c["key"]: c["data"] for c in p["cells"]} == {k: r["data"] for k, r in records.items()}
    # planned again after the run: the time comes from each model's measured speed
    again = pit_eval.sweep(["test_vit", "test_resnet"], out=str(tmp_path / "s"), dry_run=True, **kw)["plan"]
    for p, e in zip(again, done["models"]):
        rate = json.loads((Path(e["out"]) / "summary.json").read_text())["throughput"]["image_cells_per_s"]
        assert p["seconds"] == pytest.approx(p["forwards"] / rate)
        assert p["speed_basis"] == f"measured: {rate:,.0f} image-cells/s by its earlier run here (CPU)"
