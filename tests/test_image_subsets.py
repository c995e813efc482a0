"""--subset robustbench-5k: RobustBench's exact list of 5,000 ImageNet val images, shipped with its
source; clean, ImageNet-C and AutoAttack restricted to it; an incomplete tree refused before compute."""
import hashlib
import re
from pathlib import Path

import pytest

from pit_eval.datasets import IMAGE_SUBSETS, image_subset
from pit_eval.engine import Engine, EngineConfig
from pit_eval.images import DataError
from pit_eval.robustness import RobustnessConfig, RobustnessRun

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

ROOT = Path(__file__).resolve().parents[1]


def test_the_shipped_list_is_robustbenchs():
    path = IMAGE_SUBSETS["robustbench-5k"]
    source = (path.parent / "SOURCE.md").read_text()
    recorded = re.search(r"sha256: ([0-9a-f]{64})", source).group(1)
    assert hashlib.sha256(path.read_bytes()).hexdigest() == recorded
    assert "78fcc9e48a07a861268f295a777b975f25155964" in source and (path.parent / "LICENSE").read_text().startswith(
        "The code of the RobustBench benchmark is released under the MIT license.")
    names = image_subset("robustbench-5k")
    assert len(names) == len(set(names)) == 5000
    assert all(re.fullmatch(r"n\d{8}/ILSVRC2012_val_\d{8}\.JPEG", n) for n in names)


def _tree(root: Path, names, extra: int = 3) -> None:
    """Empty files named like ImageNet val (the plan only scans; nothing is decoded here)."""
    for n in names:
        (root / n).parent.mkdir(parents=True, exist_ok=True)
        (root / n).touch()
    for i in range(extra):
        (root / "n01440764" / f"ILSVRC2012_val_9{i:07d}.JPEG").touch()


def _run(tmp_path, val, subset, benchmarks=("clean", "autoattack")):
    return RobustnessRun(RobustnessConfig(model="pit_ti", weights="random", out=str(tmp_path / "r"),
                                          paths=(("imagenet", str(val)),), benchmarks=benchmarks, subset=subset,
                                          engine=EngineConfig(batch_size=2, workers=0, quiet=True)))


def test_clean_and_autoattack_take_exactly_the_listed_images(tmp_path, monkeypatch):
    names = image_subset("robustbench-5k")
    val = tmp_path / "val"
    _tree(val, names)
    monkeypatch.setattr(Engine, "cell_values", lambda *a, **k: pytest.fail("planning computes nothing"))
    run = _run(tmp_path, val, "robustbench-5k")
    ds, _, fp = run.dataset("imagenet")
    assert sorted(ds.key(i) for i in range(len(ds))) == sorted(names)
    aa = next(c for c in run.cells if c.benchmark == "autoattack")
    assert aa.key == "autoattack/eps=4/n=5000" and aa.fingerprint["files_sha256"] == fp["files_sha256"]
    assert run.identity()["subset"] == "robustbench-5k"
    everything = _run(tmp_path / "all", val, None)
    assert len(everything.dataset("imagenet")[0]) == 5003
    assert everything.dataset("imagenet")[2]["files_sha256"] != fp["files_sha256"]


def test_an_incomplete_tree_is_refused_before_compute(tmp_path):
    names = image_subset("robustbench-5k")
    val = tmp_path / "val"
    _tree(val, names[2:], extra=0)
    with pytest.raises(DataError) as e:
        _run(tmp_path, val, "robustbench-5k", benchmarks=("clean",))
    assert str(e.value) == (f"--subset robustbench-5k: 2 of the 5000 listed images are missing from imagenet "
                            f"data {str(val)!r} (e.g. {names[0]}); the list names ImageNet val files as "
                            "<wnid>/ILSVRC2012_val_<n>.JPEG: give the full val set, or drop --subset")


def test_an_unknown_subset_is_named():
    with pytest.raises(ValueError, match=r"unknown --subset 'robustbench-10k'. Did you mean 'robustbench-5k'"):
        RobustnessConfig(model="pit_ti", subset="robustbench-10k").validate()


def test_the_summary_says_which_subset_its_numbers_used():
    from pit_eval.models import WeightsInfo
    from pit_eval.robustness import summarize
    w = WeightsInfo(source="random", sha256=None, random_init=True)
    flags = summarize([], "pit_ti", w, False, None, [], "robustbench-5k")["flags"]
    assert ("subset: RobustBench's 5,000 ImageNet val images (robustbench/helper_files/imagenet_test_image_ids.txt) "
            "for ImageNet val and ImageNet-C (and so AutoAttack); compare with RobustBench's leaderboard only under "
            "this subset") in flags
