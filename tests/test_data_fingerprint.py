"""A dataset's fingerprint is its relative file list and labels, not its root: a moved dataset (or one
mounted elsewhere) resumes with nothing recomputed; a changed file list is refused, naming the dataset
and how many files differ; the root stays as provenance."""
import json
import shutil
from pathlib import Path

import pytest

import pit_eval
from pit_eval.datasets import FILE_LISTS, comparable
from pit_eval.images import SAMPLE_ROOT, DataError

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

QUIET = dict(batch_size=4, workers=0, quiet=True, device="cpu")


def _records(out: Path):
    return [json.loads(line) for line in (out / "cells.jsonl").read_text().splitlines()]


def _run(val: Path, out: Path, objectnet: Path):
    return pit_eval.evaluate("test_vit", weights="random", benchmarks="clean,occlusion,objectnet", imagenet=str(val),
                             objectnet=str(objectnet), occlusion_levels="0.5", out=str(out), **QUIET)


def test_moved_data_resumes_and_changed_files_are_counted(tmp_path):
    shutil.copytree(SAMPLE_ROOT / "imagenet/val", tmp_path / "a/val")
    shutil.copytree(SAMPLE_ROOT / "objectnet", tmp_path / "a/objectnet")
    out = tmp_path / "r"
    _run(tmp_path / "a/val", out, tmp_path / "a/objectnet")
    first = _records(out)
    assert {r["data"]["root"] for r in first if r["benchmark"] == "clean"} == {str(tmp_path / "a/val")}
    assert len(list((out / FILE_LISTS).glob("*.txt.gz"))) == 2          # val (clean and occlusion share it), objectnet
    shutil.move(str(tmp_path / "a"), str(tmp_path / "b"))                 # another mount point, same files
    s = _run(tmp_path / "b/val", out, tmp_path / "b/objectnet").summary
    assert _records(out) == first                                        # nothing recomputed, no --force
    assert s["benchmarks"]["clean"]["n"] == 6
    # one file gone and one new in the val tree: refused, counted
    val = tmp_path / "b/val"
    gone = next(val.rglob("chelsea.*"))
    shutil.move(str(gone), str(val / "n07920052" / "chelsea_moved.JPEG"))
    with pytest.raises(DataError, match=r"cell clean in .* was computed on other data than now: 1 of its 6 files "
                                        r"\(with their labels\) are gone or changed and 1 are new, under .*b/val; "
                                        r"point the dataset flag at the data it was computed on"):
        _run(val, out, tmp_path / "b/objectnet")
    assert _records(out) == first


def test_comparable_drops_every_root():
    fp = {"out": {"root": "/x", "images": 3, "files_sha256": "ab"}, "in": {"root": "/y", "images": 2}, "seed": 0}
    assert comparable(fp) == {"out": {"images": 3, "files_sha256": "ab"}, "in": {"images": 2}, "seed": 0}


def test_an_imagenet_c_pass_killed_midway_resumes_its_blocks_after_the_data_moved(tmp_path, kill_on_call):
    """The pass journal is named without the data's root: the blocks journalled before the kill are not
    rendered again on the new mount; the finished cells equal those of an uninterrupted run."""
    from pit_eval.benchmarks.imagenet_c import RunPass
    shutil.copytree(SAMPLE_ROOT / "imagenet/val", tmp_path / "a/val")
    kw = dict(weights="random", benchmarks="imagenet-c", corruptions="contrast", severities="1",
              imagenet_c_source="on-the-fly", corruption_backend="fast", imagenet_c_block=2, **QUIET)
    kill_on_call(RunPass, "evaluate_block", 2)                           # dies in the second block
    with pytest.raises(KeyboardInterrupt):
        pit_eval.evaluate("test_vit", imagenet=str(tmp_path / "a/val"), out=str(tmp_path / "r"), **kw)
    journal = next((tmp_path / "r").glob("imagenet-c-pass-*.jsonl"))
    assert [json.loads(line)["key"] for line in journal.read_text().splitlines()] == ["images-0-2"]
    shutil.move(str(tmp_path / "a"), str(tmp_path / "b"))
    blocks = []
    real = RunPass.evaluate_block

    def counting(self, key, members):
        blocks.append(key)
        return real(self, key, members)
    pit_eval_mp = pytest.MonkeyPatch()
    pit_eval_mp.setattr(RunPass, "evaluate_block", counting)
    try:
        pit_eval.evaluate("test_vit", imagenet=str(tmp_path / "b/val"), out=str(tmp_path / "r"), **kw)
    finally:
        pit_eval_mp.undo()
    assert blocks == ["images-2-4", "images-4-6"]
    whole = pit_eval.evaluate("test_vit", imagenet=str(tmp_path / "b/val"), out=str(tmp_path / "w"), **kw)
    assert (pit_eval.predictions(str(tmp_path / "r"), "imagenet-c/contrast/1").drop(columns="path")
            .equals(pit_eval.predictions(whole.out, "imagenet-c/contrast/1").drop(columns="path")))
