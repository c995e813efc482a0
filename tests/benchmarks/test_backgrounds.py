"""ImageNet-9 and the Background Challenge: the runner against a plain re-implementation of the
published procedure (github MadryLab/backgrounds_challenge: challenge_eval.py, in9_eval.py,
tools/model_utils.py), resume, and bad input."""
import json
import os
import shutil
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader
from torchvision import datasets as tvd
from torchvision import transforms

from pit_eval.benchmarks import backgrounds as background
from pit_eval.images import DataError, SAMPLE_ROOT
from pit_eval.engine import EngineConfig
from pit_eval.metrics import clopper_pearson
from pit_eval.robustness import RobustnessConfig, RobustnessRun

SAMPLE_IN9 = SAMPLE_ROOT / "imagenet-9"
ENGINE = EngineConfig(batch_size=8, workers=0, quiet=True)


def _runner(tmp_path, root, benchmarks, engine=ENGINE, **kw):
    cfg = RobustnessConfig(model="pit_ti", weights="none", out=str(tmp_path / "out"),
                           paths=(("imagenet-9", str(root)),), benchmarks=benchmarks, engine=engine, **kw)
    return RobustnessRun(cfg)


class ReferenceModel(torch.nn.Module):
    """The reference's wrapper: clamp to [0, 1], then normalise (tools/model_utils.py)."""

    def __init__(self, run: RobustnessRun) -> None:
        super().__init__()
        self.inner = run.model.model.float().to(memory_format=torch.contiguous_format)
        self.mean = torch.tensor(run.transform.mean).view(3, 1, 1)
        self.std = torch.tensor(run.transform.std).view(3, 1, 1)

    def forward(self, x):
        return self.inner((torch.clamp(x, 0, 1) - self.mean) / self.std)


def _mapped(output, in9_map):
    pred = output.topk(1, 1, True, True)[1][:, 0]
    return torch.tensor([in9_map[str(int(p))] for p in pred])


def plain_challenge(model, root: Path, in9_map) -> dict:
    """One foreground at a time against every background, batches of 32, as challenge_eval.py."""
    bg_loader = DataLoader(tvd.ImageFolder(str(root / "only_bg_t" / "val"), transforms.ToTensor(), allow_empty=True),
                           batch_size=32)
    base = root / "fg_mask" / "val"
    classes = sorted(os.listdir(base))
    flags = {}
    with torch.no_grad():
        for fg_class, cname in enumerate(classes):
            for mask_name in sorted(n for n in os.listdir(base / cname) if n.endswith(".npy")):
                m = np.load(base / cname / mask_name)
                m = np.tile(m[:, :, np.newaxis], [1, 1, 3]).astype("uint8")
                mask = transforms.ToTensor()(Image.fromarray(m * 255))
                img = transforms.ToTensor()(Image.open(root / "original" / "val" / cname /
                                                       mask_name.replace("npy", "JPEG")))
                vulnerable = False
                for inp, _ in bg_loader:
                    big_im, big_mask = img.repeat(len(inp), 1, 1, 1), mask.repeat(len(inp), 1, 1, 1)
                    combined = inp * (1 - big_mask) + big_mask * big_im
                    if (_mapped(model(combined), in9_map) != fg_class).any():
                        vulnerable = True
                        break
                flags[f"{cname}/{mask_name[:-4]}"] = vulnerable
    return flags


def plain_in9_accuracy(model, root: Path, variant: str, in9_map) -> float:
    ds = tvd.ImageFolder(str(root / variant / "val"), transforms.ToTensor(), allow_empty=True)
    correct = 0
    with torch.no_grad():
        for inp, target in DataLoader(ds, batch_size=32):
            correct += int((_mapped(model(inp), in9_map) == target).sum())
    return correct / len(ds)


def _photos():
    """224x224 RGB photographs: the sample set's images plus scikit-image textures."""
    import skimage.data as skd
    out = []
    for p in sorted(SAMPLE_ROOT.rglob("*")):
        if p.suffix.lower() in (".jpeg", ".jpg", ".png") and "coco" not in p.parts and "imagenet-9" not in p.parts:
            out.append(Image.open(p).convert("RGB"))
    for name in ("astronaut", "brick", "grass", "gravel", "coins", "horse"):
        a = getattr(skd, name)()
        out.append(Image.fromarray((a * 255).astype(np.uint8) if a.dtype == bool else a).convert("RGB"))
    return [im.resize((224, 224), Image.BICUBIC) for im in out]


def make_tree(root: Path, model, in9_map, n_fg: int = 14, n_bg: int = 9) -> None:
    """An IN-9 tree whose foregrounds carry the model's own mapped prediction as their class (so
    some survive every background) on large elliptical masks; backgrounds are other photos."""
    photos = _photos()
    fgs, bgs = photos[:n_fg], photos[n_fg:n_fg + n_bg]
    classes = [f"{i:02d}_c{i}" for i in range(9)]
    for v in ("original", "fg_mask", "only_bg_t", "mixed_rand"):
        for c in classes:
            (root / v / "val" / c).mkdir(parents=True, exist_ok=True)
    yy, xx = np.mgrid[:224, :224]
    for i, im in enumerate(fgs):
        tmp = root / "original" / "val" / f"fg{i:02d}.JPEG"
        im.save(tmp, quality=95)
        with torch.no_grad():
            pred = int(_mapped(model(transforms.ToTensor()(Image.open(tmp))[None]), in9_map)[0])
        label = pred if pred >= 0 else i % 9
        r = (0.9, 1.2, 1.5)[i % 3]   # 1.5: the mask covers the whole image
        mask = (((yy - 112) / (112 * r)) ** 2 + ((xx - 112) / (112 * r)) ** 2 <= 1).astype(np.float32)
        tmp.rename(root / "original" / "val" / classes[label] / f"fg{i:02d}.JPEG")
        np.save(root / "fg_mask" / "val" / classes[label] / f"fg{i:02d}.npy", mask)
        Image.composite(im, bgs[i % n_bg], Image.fromarray((mask * 255).astype(np.uint8))).save(
            root / "mixed_rand" / "val" / classes[label] / f"fg{i:02d}.JPEG", quality=95)
    for j, im in enumerate(bgs):
        im.save(root / "only_bg_t" / "val" / classes[j % 9] / f"bg{j:02d}.JPEG", quality=95)


@pytest.fixture(scope="module")
def seeded_tree(tmp_path_factory):
    tmp = tmp_path_factory.mktemp("in9")
    run = _runner(tmp, SAMPLE_IN9, ("in9",))
    model = ReferenceModel(run).eval()
    in9_map = json.loads(background.MAP_PATH.read_text())
    make_tree(tmp / "tree", model, in9_map)
    return tmp / "tree", model, in9_map


def _journal_flags(out: Path) -> dict:
    (journal,) = (p for p in out.glob("bgc-*.jsonl") if ".progress." not in p.name)
    return {r["key"]: r["vulnerable"] for r in map(json.loads, journal.read_text().splitlines())}


def test_challenge_equals_published_procedure(seeded_tree, tmp_path):
    root, model, in9_map = seeded_tree
    ref = plain_challenge(model, root, in9_map)
    labels = {k.split("/")[0] for k in ref}
    assert len(labels) >= 2, f"the tree's foregrounds are all one class: {labels}"
    assert any(ref.values()) and not all(ref.values()), f"flags are not mixed: {ref}"
    res = _runner(tmp_path, root, ("bgc", "in9")).run()
    assert _journal_flags(Path(res["out"])) == ref
    bgc = res["summary"]["benchmarks"]["bgc"]
    n_vuln = sum(ref.values())
    assert (bgc["n_foregrounds"], bgc["vulnerable"], bgc["n_backgrounds"]) == (len(ref), n_vuln, 9)
    assert bgc["challenge_acc"] == pytest.approx(1 - n_vuln / len(ref), abs=1e-12)
    assert bgc["protocol"].startswith("every foreground")
    for v in ("original", "mixed_rand", "only_bg_t"):
        ours = res["summary"]["benchmarks"]["in9"][v]["acc1"]
        assert ours == pytest.approx(plain_in9_accuracy(model, root, v, in9_map), abs=1e-12), v


def test_challenge_on_sample_tree_and_in9_table(tmp_path):
    res = _runner(tmp_path, SAMPLE_IN9, ("in9", "bgc")).run()
    s = res["summary"]
    in9 = s["benchmarks"]["in9"]
    assert list(in9)[:3] == ["original", "mixed_same", "mixed_rand"]
    assert in9["bg_gap"] == in9["mixed_same"]["acc1"] - in9["mixed_rand"]["acc1"]
    assert in9["calibration"] is None and in9["calibration_note"].startswith("none: a prediction is the IN-9 superclass")
    assert s["benchmarks"]["bgc"]["n_foregrounds"] == 3 and s["benchmarks"]["bgc"]["n_backgrounds"] == 8
    bgc = json.loads((Path(res["out"]) / "cells.jsonl").read_text().splitlines()[-1])
    assert bgc["key"] == "bgc" and bgc["timing"]["images"] == 3 and bgc["timing"]["batches"] == 1, bgc["timing"]
    assert bgc["challenge_acc"] == s["benchmarks"]["bgc"]["challenge_acc"] and "acc1" not in bgc
    assert s["benchmarks"]["bgc"]["challenge_acc_ci"] == clopper_pearson(3 - bgc["vulnerable"], 3)
    labels = [r["metric"] for r in s["reference"]]
    assert "Background Challenge accuracy" in labels and "IN-9 BG-gap (mixed_same - mixed_rand)" in labels


def test_challenge_resumes_per_round(seeded_tree, tmp_path, monkeypatch, kill_on_call):
    root, _, _ = seeded_tree
    full = _journal_flags(Path(_runner(tmp_path / "a", root, ("bgc",)).run()["out"]))
    monkeypatch.setattr(background, "ROUND_FOREGROUNDS", 4)
    orig = kill_on_call(background, "_round", 3)  # killed in the third round
    with pytest.raises(KeyboardInterrupt):
        _runner(tmp_path / "b", root, ("bgc",)).run()
    assert len(_journal_flags(tmp_path / "b" / "out")) == 8
    seen = []
    monkeypatch.setattr(background, "_round", lambda group, *a: seen.extend(f.key for f in group) or orig(group, *a))
    _runner(tmp_path / "b", root, ("bgc",)).run()
    assert len(seen) == len(full) - 8, f"re-ran finished foregrounds: {seen}"
    assert _journal_flags(tmp_path / "b" / "out") == full


def test_challenge_resumes_each_foreground_where_it_stopped(seeded_tree, tmp_path, monkeypatch, kill_on_call):
    """Killed in the middle of a round: no decided foreground and no survived background is evaluated
    again. With batch size 1 each step evaluates one (foreground, background) pair, so the composites
    before the kill plus those after it must equal a run that was never killed."""
    root, _, _ = seeded_tree
    monkeypatch.setattr(background, "ROUND_FOREGROUNDS", 1000)   # one round: only progress records help
    monkeypatch.setattr(background, "PROGRESS_SECONDS", 0.0)
    orig = background.mapped_predictions
    seen = []

    def count_composites():
        monkeypatch.setattr(background, "mapped_predictions", lambda m, x, c: seen.append(len(x)) or orig(m, x, c))

    def run(where):
        return _runner(where, root, ("bgc",), engine=EngineConfig(batch_size=1, workers=0, quiet=True)).run()
    count_composites()
    full = _journal_flags(Path(run(tmp_path / "a")["out"]))
    n_full, seen[:] = sum(seen), []
    kill_on_call(background, "mapped_predictions", n_full // 2)
    with pytest.raises(KeyboardInterrupt):
        run(tmp_path / "b")
    n_before, seen[:] = sum(seen), []
    assert [p.name.split(".")[1] for p in (tmp_path / "b" / "out").glob("bgc-*.jsonl")] == ["progress"], \
        "only the progress journal exists: the round never ended"
    count_composites()
    run(tmp_path / "b")
    assert n_before + sum(seen) == n_full, (n_before, sum(seen), n_full)
    assert _journal_flags(tmp_path / "b" / "out") == full


def test_background_subset_is_flagged(seeded_tree, tmp_path):
    root, _, _ = seeded_tree
    s = _runner(tmp_path, root, ("bgc",), bgc_max_backgrounds=3, max_images=5).run()["summary"]
    bgc = s["benchmarks"]["bgc"]
    assert (bgc["n_foregrounds"], bgc["n_backgrounds"]) == (5, 3)
    assert any("Background Challenge on a subset" in f for f in s["flags"])


def test_vulnerable_flags_retire_fooled_foregrounds():
    """A model that predicts from the top-left pixel: foreground k is fooled exactly by backgrounds
    whose top-left colour maps elsewhere; each composite batch holds only undecided foregrounds."""
    in9_map = torch.full((1000,), -1)
    in9_map[:9] = torch.arange(9)
    seen = []

    def model(x):
        seen.append(len(x))
        logits = torch.zeros(len(x), 1000)
        logits[torch.arange(len(x)), (x[:, 0, 0, 0] * 255).round().long()] = 1
        return logits
    fgs = torch.zeros(3, 3, 4, 4, dtype=torch.uint8)
    masks = torch.zeros(3, 1, 4, 4)
    masks[:, :, 1:, 1:] = 1                      # the top-left pixel is always background
    bgs = torch.zeros(5, 3, 4, 4, dtype=torch.uint8)
    bgs[:, 0, 0, 0] = torch.tensor([1, 1, 1, 2, 1])
    labels = torch.tensor([1, 2, 1])
    flags = background.vulnerable_flags(model, fgs, masks, labels, bgs, in9_map, batch_size=3)
    assert flags.tolist() == [True, True, True]
    flags = background.vulnerable_flags(model, fgs, masks, torch.tensor([1, 2, 7]),
                                        bgs[:3], in9_map, batch_size=4)
    assert flags.tolist() == [False, True, True]
    assert sum(seen[-2:]) <= 4 + 2, f"fooled foregrounds kept being composited: {seen}"


def _copy_sample(tmp_path) -> Path:
    root = tmp_path / "in9"
    shutil.copytree(SAMPLE_IN9, root)
    return root


def test_bad_input_is_refused_before_compute(tmp_path, monkeypatch):
    monkeypatch.setattr(background, "run_challenge", lambda *a, **k: pytest.fail("computed"))
    root = _copy_sample(tmp_path)
    mask = root / "fg_mask/val/02_vehicle/motorcycle_left.npy"
    np.save(mask, np.ones((200, 224), dtype=np.uint8))
    with pytest.raises(DataError, match=r"mask .*motorcycle_left\.npy' has shape \(200, 224\) but its image"):
        _runner(tmp_path, root, ("bgc",))
    np.save(mask, np.ones((224, 224), dtype=np.uint8))
    np.save(root / "fg_mask/val/02_vehicle/ghost.npy", np.ones((224, 224), dtype=np.uint8))
    with pytest.raises(DataError, match=r"mask .*ghost\.npy' has no image: .*original/val/02_vehicle/ghost\.JPEG"):
        _runner(tmp_path, root, ("bgc",))
    os.remove(root / "fg_mask/val/02_vehicle/ghost.npy")
    shutil.rmtree(root / "mixed_rand/val/08_fish")
    with pytest.raises(DataError, match=r"mixed_rand/val' has 8 class folders, expected 9"):
        _runner(tmp_path, root, ("in9",))


def test_map_file_must_have_1000_entries(tmp_path):
    bad = tmp_path / "in_to_in9.json"
    bad.write_text(json.dumps({str(i): -1 for i in range(999)}))
    with pytest.raises(DataError, match=r"in_to_in9\.json' has 999 entries"):
        _runner(tmp_path, SAMPLE_IN9, ("in9",), in9_map=str(bad))
    assert background.load_map().count(-1) == 630 and len(background.load_map()) == 1000


def test_reference_mask_arithmetic(tmp_path):
    """The reference multiplies a uint8 mask by 255 in uint8 before ToTensor: 0/1 masks give 0/1."""
    np.save(tmp_path / "m.npy", np.array([[0, 1], [1, 0]], dtype=np.float32))
    assert background.load_mask(str(tmp_path / "m.npy")).tolist() == [[[0.0, 1.0], [1.0, 0.0]]]
