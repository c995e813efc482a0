"""ImageNet-O: AUROC / AUPR / FPR95 with real weights equal a plain re-implementation of
natural-adv-examples' eval_many_models.py + calibration_tools.get_measures; the in-distribution scores
reused from the clean cell (and equal to a pass of the benchmark's own); both datasets located, either
missing skips or refuses the benchmark naming the folder; bad trees refused before any compute."""
import json
import shutil
from pathlib import Path

import numpy as np
import pytest
import sklearn.metrics as sk
import torch
import torch.nn.functional as F
from PIL import Image, ImageOps
from torchvision import transforms as T

import pit_eval
from pit_eval.benchmarks.imagenet_o import fpr_at_recall
from pit_eval.benchmarks.imagenet_o import imagenet_o_wnids
from pit_eval.datasets import imagenet_wnids
from pit_eval.images import SAMPLE_ROOT, DataError

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

QUIET = dict(batch_size=4, workers=0, quiet=True, device="cpu")
O_CLASSES = ("n03196217", "n04579432", "n07753275")         # digital clock, whistle, pineapple (ImageNet-O's)


def _trees(root: Path):
    """A val tree (the sample photographs, and crops of them filed under three ImageNet-O classes) and an
    ImageNet-O tree (other crops and renditions, in two of those classes' folders)."""
    photos = sorted(p for p in (SAMPLE_ROOT / "imagenet/val").rglob("*") if p.is_file())
    val, o = root / "val", root / "imagenet-o"
    for p in photos:
        (val / p.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, val / p.parent.name / p.name)
    for i, p in enumerate(photos):
        im = Image.open(p).convert("RGB")
        w, h = im.size
        for j, box in enumerate([(0, 0, w // 2, h // 2), (w // 3, h // 3, w, h)]):
            dest = val / O_CLASSES[(i + j) % 3] / f"{p.stem}_{j}.JPEG"
            dest.parent.mkdir(parents=True, exist_ok=True)
            im.crop(box).save(dest, quality=92)
        for j, img in enumerate([ImageOps.mirror(im), ImageOps.posterize(im, 2), im.rotate(90, expand=True)]):
            dest = o / O_CLASSES[(i + j) % 2] / f"o_{p.stem}_{j}.jpg"
            dest.parent.mkdir(parents=True, exist_ok=True)
            img.save(dest, quality=92)
    return val, o


def _published_fpr(y_true, y_score, recall_level=0.95):
    """calibration_tools.fpr_and_fdr_at_recall, step by step as published."""
    y_true = y_true == 1
    desc = np.argsort(y_score, kind="mergesort")[::-1]
    y_score, y_true = y_score[desc], y_true[desc]
    distinct = np.where(np.diff(y_score))[0]
    threshold_idxs = np.r_[distinct, y_true.size - 1]
    tps = np.cumsum(y_true, dtype=np.float64)[threshold_idxs]
    fps = 1 + threshold_idxs - tps
    recall = tps / tps[-1]
    last_ind = tps.searchsorted(tps[-1])
    sl = slice(last_ind, None, -1)
    recall, fps = np.r_[recall[sl], 1], np.r_[fps[sl], 0]
    cutoff = np.argmin(np.abs(recall - recall_level))
    return fps[cutoff] / np.sum(np.logical_not(y_true))


def _get_measures(pos, neg):
    examples = np.squeeze(np.vstack((np.array(pos).reshape(-1, 1), np.array(neg).reshape(-1, 1))))
    labels = np.zeros(len(examples), dtype=np.int32)
    labels[:len(pos)] += 1
    return sk.roc_auc_score(labels, examples), sk.average_precision_score(labels, examples), _published_fpr(labels, examples)


def _reference(model, mean, std, val: Path, o: Path, batch: int):
    """eval_many_models.py: the val folders of the classes ImageNet-O has (its symlink farm), every
    folder of ImageNet-O, logits masked to the 200 classes, -max softmax as the score."""
    mask = [w in set(imagenet_o_wnids()) for w in imagenet_wnids()]
    tf = T.Compose([T.Resize(256, interpolation=T.InterpolationMode.BICUBIC), T.CenterCrop(224), T.PILToTensor()])

    def confidences(files):
        out = []
        for k in range(0, len(files), batch):
            x = torch.stack([tf(Image.open(f).convert("RGB")) for f in files[k:k + batch]]).float() / 255
            x = (x - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
            with torch.no_grad():
                out += F.softmax(model(x)[:, mask], dim=1).max(1)[0].tolist()
        return np.array(out)
    in_files = sorted(f for d in sorted(o.iterdir()) for f in (val / d.name).iterdir())
    out_files = sorted(f for d in sorted(o.iterdir()) for f in d.iterdir())
    return _get_measures(-confidences(out_files), -confidences(in_files)), len(in_files), len(out_files)


def test_measures_equal_eval_many_models_with_real_weights(tmp_path, lite0_weights):
    from pit_eval.models import create_model
    val, o = _trees(tmp_path)
    r = pit_eval.evaluate("efficientnet_lite0", weights=lite0_weights, benchmarks="clean,imagenet-o",
                          imagenet=str(val), imagenet_o=str(o), out=str(tmp_path / "r"), **QUIET)
    e = r.summary["benchmarks"]["imagenet-o"]
    model, _ = create_model("efficientnet_lite0", lite0_weights)
    (auroc, aupr, fpr), n_in, n_out = _reference(model.eval(), model.pretrained_cfg["mean"],
                                                 model.pretrained_cfg["std"], val, o, QUIET["batch_size"])
    assert 0 < auroc < 1 and 0 < fpr <= 1
    assert (e["auroc"], e["aupr"], e["fpr95"]) == pytest.approx((auroc, aupr, fpr), abs=1e-9)
    # only the two classes with an ImageNet-O folder are in-distribution; the scores came from the clean pass
    assert e["n"] == n_out == 18 and e["in_distribution"]["n"] == n_in and e["in_distribution"]["classes"] == 2
    assert e["in_distribution"]["source"].startswith("clean cell")
    assert not (tmp_path / "r/predictions/imagenet-o/in-distribution.parquet").exists()
    # alone, the benchmark scores the same val images in a pass of its own: the same numbers
    alone = pit_eval.evaluate("efficientnet_lite0", weights=lite0_weights, benchmarks="imagenet-o",
                              imagenet=str(val), imagenet_o=str(o), out=str(tmp_path / "alone"), **QUIET)
    a = alone.summary["benchmarks"]["imagenet-o"]
    assert a["in_distribution"]["source"].startswith("own pass")
    assert (a["auroc"], a["aupr"], a["fpr95"]) == pytest.approx((e["auroc"], e["aupr"], e["fpr95"]), abs=1e-9)
    df = pit_eval.predictions(tmp_path / "alone", "imagenet-o/in-distribution")
    assert len(df) == n_in and set(df["label"]) <= set(range(200))
    # both datasets are fingerprinted in the cell; resuming computes nothing
    cell = json.loads((tmp_path / "r/cells.jsonl").read_text().splitlines()[-1])
    assert set(cell["data"]) == {"in", "out"} and cell["data"]["in"]["images"] == n_in


def test_fpr_at_recall_equals_the_published_function_on_ties_and_random_scores():
    rng = np.random.default_rng(0)
    for _ in range(200):
        pos = np.round(rng.normal(0.5, 1, rng.integers(1, 40)), rng.integers(0, 3))  # rounding: many ties
        neg = np.round(rng.normal(0, 1, rng.integers(1, 40)), rng.integers(0, 3))
        labels = np.r_[np.ones(len(pos), np.int32), np.zeros(len(neg), np.int32)]
        assert fpr_at_recall(pos, neg) == _published_fpr(labels, np.r_[pos, neg])


def test_either_dataset_missing_names_its_folder(tmp_path):
    val, o = _trees(tmp_path)
    with pytest.raises(DataError, match="benchmark 'imagenet-o' needs the imagenet-o folder: not found"):
        pit_eval.evaluate("test_vit", weights="random", benchmarks="imagenet-o", imagenet=str(val), **QUIET)
    with pytest.raises(DataError, match="benchmark 'imagenet-o' needs the imagenet folder: not found"):
        pit_eval.evaluate("test_vit", weights="random", benchmarks="imagenet-o", imagenet_o=str(o), **QUIET)


def test_bad_trees_are_refused_before_compute(tmp_path):
    val, o = _trees(tmp_path)
    (o / "n02123045").mkdir()      # tabby cat: not an ImageNet-O class
    shutil.copy(next((o / O_CLASSES[0]).iterdir()), o / "n02123045" / "x.jpg")
    with pytest.raises(DataError, match=r"imagenet-o folder .* has 1 class folder\(s\) that are not expected classes"):
        pit_eval.evaluate("test_vit", weights="random", benchmarks="imagenet-o", imagenet=str(val),
                          imagenet_o=str(o), **QUIET)
    shutil.rmtree(o / "n02123045")
    for d in O_CLASSES:
        shutil.rmtree(val / d)
    with pytest.raises(DataError, match="none of the ImageNet val images in .* is of the 2 classes with an ImageNet-O folder"):
        pit_eval.evaluate("test_vit", weights="random", benchmarks="imagenet-o", imagenet=str(val),
                          imagenet_o=str(o), **QUIET)


def test_clean_scores_are_reused_after_the_val_tree_moved(tmp_path):
    val, o = _trees(tmp_path / "a")
    kw = dict(weights="random", out=str(tmp_path / "r"), **QUIET)
    pit_eval.evaluate("test_vit", benchmarks="clean", imagenet=str(val), **kw)
    shutil.move(str(tmp_path / "a"), str(tmp_path / "b"))
    e = pit_eval.evaluate("test_vit", benchmarks="clean,imagenet-o", imagenet=str(tmp_path / "b/val"),
                          imagenet_o=str(tmp_path / "b/imagenet-o"), **kw).summary["benchmarks"]["imagenet-o"]
    assert e["in_distribution"]["source"].startswith("clean cell"), e["in_distribution"]
