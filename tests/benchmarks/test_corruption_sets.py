"""ImageNet-C-bar and ImageNet-3DCC: a generated folder tree in each set's layout (C-bar's severity
folders named by their parameter, or 1-5) is read, fingerprinted and resumed like ImageNet-C; the
mean is over the evaluated cells, no mCE; files not of the model's input size go through its resize;
unknown corruption folders and a tree without cells are refused before any compute."""
import json
import shutil
from pathlib import Path

import pytest
from PIL import Image

import pit_eval
from pit_eval.benchmarks import BENCHMARKS
from pit_eval.images import SAMPLE_ROOT, DataError, EvalTransform

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

QUIET = dict(batch_size=4, workers=0, quiet=True, device="cpu")


def _cells(root: Path, cells, size: int = 224, named_by_parameter: bool = False) -> Path:
    """``cells``: (corruption, severity); the sample photographs resized to ``size`` x ``size``."""
    photos = sorted(p for p in (SAMPLE_ROOT / "imagenet/val").rglob("*") if p.is_file())
    unit = BENCHMARKS.get("imagenet-c-bar")
    for c, s in cells:
        folder = f"{unit.levels[c][s - 1]:.2f}" if named_by_parameter else str(s)
        for p in photos:
            dest = root / c / folder / p.parent.name / f"{p.stem}.JPEG"
            dest.parent.mkdir(parents=True, exist_ok=True)
            Image.open(p).convert("RGB").resize((size, size)).save(dest, quality=85)
    return root


def _records(out: Path):
    return [json.loads(line) for line in (out / "cells.jsonl").read_text().splitlines()]


def test_c_bar_folders_by_parameter_read_fingerprinted_and_resumed(tmp_path):
    root = _cells(tmp_path / "c-bar", [("caustic_refraction", 1), ("caustic_refraction", 2), ("sparkles", 5)],
                  named_by_parameter=True)
    kw = dict(benchmarks="imagenet-c-bar", imagenet_c_bar=str(root), out=str(tmp_path / "r"), **QUIET)
    e = pit_eval.evaluate("test_vit", weights="random", **kw).summary["benchmarks"]["imagenet-c-bar"]
    recs = _records(tmp_path / "r")
    assert sorted(r["key"] for r in recs) == ["imagenet-c-bar/caustic_refraction/1", "imagenet-c-bar/caustic_refraction/2",
                                             "imagenet-c-bar/sparkles/5"]
    assert all(r["n"] == 6 and r["data"]["source"] == "prerendered" and r["data"]["images"] == 6 for r in recs)
    assert e["cells"] == 3 and not e["complete"] and e["mean_acc"] == pytest.approx(sum(r["acc1"] for r in recs) / 3)
    assert e["grid"] == {"caustic_refraction/1": recs[0]["acc1"], "caustic_refraction/2": recs[1]["acc1"],
                         "sparkles/5": recs[2]["acc1"]} and "mce" not in e and "no mCE" in e["protocol"]
    again = pit_eval.evaluate("test_vit", weights="random", **kw).summary["benchmarks"]["imagenet-c-bar"]
    assert _records(tmp_path / "r") == recs and again == e          # resumed: nothing recomputed
    # moving a file between classes changes the fingerprint: refused, not mixed
    f = next((root / "sparkles/6.00").rglob("*.JPEG"))
    other = next(d for d in (root / "sparkles/6.00").iterdir() if d != f.parent)
    shutil.move(str(f), other / f.name)
    with pytest.raises(DataError, match="cell imagenet-c-bar/sparkles/5 in .* was computed on other data"):
        pit_eval.evaluate("test_vit", weights="random", **kw)


def test_3dcc_severity_folders_and_files_of_another_size(tmp_path):
    root = tmp_path / "3dcc"
    _cells(root / "tmp", [("caustic_refraction", 1)])                   # any names; moved below
    for c, s in (("fog_3d", 3), ("near_focus", 1)):
        shutil.copytree(root / "tmp/caustic_refraction/1", root / c / str(s))
    shutil.rmtree(root / "tmp")
    e = pit_eval.evaluate("test_vit", weights="random", benchmarks="imagenet-3dcc", imagenet_3dcc=str(root),
                          out=str(tmp_path / "r"), **QUIET).summary["benchmarks"]["imagenet-3dcc"]
    assert set(e["grid"]) == {"fog_3d/3", "near_focus/1"} and e["images_per_cell"] == 6
    t = EvalTransform().prerendered()
    stored = Image.new("RGB", (224, 224), (1, 2, 3))
    assert t(stored).shape == (3, 224, 224) and t(stored)[:, 0, 0].tolist() == [1, 2, 3]
    big = Image.new("RGB", (320, 300), (9, 9, 9))
    assert t(big).shape == (3, 224, 224)                               # the model's own resize and crop
    assert EvalTransform(input_size=160).prerendered()(stored).shape == (3, 160, 160)


def test_unknown_corruption_folders_and_empty_trees_are_refused(tmp_path):
    root = _cells(tmp_path / "3dcc", [("caustic_refraction", 1)])
    with pytest.raises(DataError, match=r"imagenet-3dcc folder .* has folders that are not ImageNet-3DCC corruptions: "
                                        r"\['caustic_refraction'\]; expected near_focus, far_focus"):
        pit_eval.evaluate("test_vit", weights="random", benchmarks="imagenet-3dcc", imagenet_3dcc=str(root), **QUIET)
    (tmp_path / "empty/sparkles").mkdir(parents=True)
    with pytest.raises(DataError, match="imagenet-c-bar folder .* holds none of its cells"):
        pit_eval.evaluate("test_vit", weights="random", benchmarks="imagenet-c-bar",
                          imagenet_c_bar=str(tmp_path / "empty"), **QUIET)
