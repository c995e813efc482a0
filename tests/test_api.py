"""The Python API (pit_eval.evaluate): any nn.Module (its weights named, a wrong normalisation
warned of), the same cells as the CLI, options named."""
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import torchvision

import pit_eval
from pit_eval.images import sample_photographs

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

ROOT = Path(__file__).resolve().parents[1]
IMAGENET_NORM = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))
QUIET = dict(batch_size=5, workers=0, quiet=True)


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

@pytest.mark.e2e
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
