"""Shape bias on cue-conflict stimuli: known counts on a generated tree, equality with a plain
re-implementation of the toolbox's procedure on real weights, bad input, the report's figure."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from PIL import Image
from torch import nn

import pit_eval
from pit_eval import references
from pit_eval.benchmarks.shape_bias import CATEGORIES, NAMES
from pit_eval.images import SAMPLE_ROOT, DataError
from pit_eval.datasets import imagenet_wnids

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

QUIET = dict(batch_size=3, workers=0, quiet=True, device="cpu")


def _png(path: Path, rgb) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    Image.new("RGB", (224, 224), tuple(rgb)).save(path)


class ColourCode(nn.Module):
    """Decides the category whose index is coded in the red channel (value 10 * index)."""

    def __init__(self) -> None:
        super().__init__()
        self.scale = nn.Parameter(torch.tensor(20.0))
        self.register_buffer("first", torch.tensor([CATEGORIES[c][0] for c in NAMES]))

    def forward(self, x):
        k = (x[:, 0].mean(dim=(1, 2)) * 255 / 10).round().long()
        return F.one_hot(self.first[k], 1000).float() * self.scale


#: (file, decided category): 8 stimuli, 7 with a cue conflict
CODED = [("cat/cat1-dog1.png", "cat"), ("cat/cat2-dog2.png", "dog"), ("cat/cat3-clock1.png", "bird"),
         ("cat/cat4-cat1.png", "cat"), ("dog/dog1-knife1.png", "knife"), ("dog/dog2-cat3.png", "dog"),
         ("knife/knife1-oven1.png", "knife"), ("oven/oven1-truck2.png", "oven")]


def _coded_tree(root: Path) -> Path:
    for name, decided in CODED:
        _png(root / name, (10 * NAMES.index(decided), 0, 0))
    return root


def test_categories_are_the_toolbox_lists():
    assert NAMES == ("airplane", "bear", "bicycle", "bird", "boat", "bottle", "car", "cat", "chair", "clock",
                     "dog", "elephant", "keyboard", "knife", "oven", "truck")
    assert [len(CATEGORIES[c]) for c in NAMES] == [1, 4, 2, 49, 5, 7, 3, 6, 4, 3, 109, 2, 2, 1, 1, 8]
    every = [i for c in NAMES for i in CATEGORIES[c]]
    assert len(set(every)) == len(every) == 207 and all(list(CATEGORIES[c]) == sorted(CATEGORIES[c]) for c in NAMES)
    wnids = imagenet_wnids()
    assert wnids[CATEGORIES["airplane"][0]] == "n02690373"           # airliner
    assert wnids[CATEGORIES["knife"][0]] == "n03041632"              # cleaver
    assert wnids[CATEGORIES["oven"][0]] == "n04111531"               # rotisserie
    assert [wnids[i] for i in CATEGORIES["cat"]][:2] == ["n02123045", "n02123159"]   # tabby, tiger cat
    assert wnids[CATEGORIES["dog"][0]] == "n02085782" and wnids[CATEGORIES["dog"][-1]] == "n02113978"


def test_known_counts_on_a_generated_tree(tmp_path):
    root = _coded_tree(tmp_path / "cue-conflict")
    s = pit_eval.evaluate(ColourCode(), name="coded", benchmarks="shape-bias", cue_conflict=str(root),
                          out=str(tmp_path / "r"), **QUIET).summary
    sb = s["benchmarks"]["shape-bias"]
    # shape: cat1, dog2, knife1, oven1; texture: cat2 (dog), dog1 (knife); cat3 decided neither;
    # cat4-cat1 has no conflict and is left out
    assert (sb["n"], sb["n_conflict"]) == (8, 7)
    assert sb["shape_bias"] == pytest.approx(4 / 6)
    assert (sb["shape_fraction"], sb["texture_fraction"]) == (4 / 8, 2 / 8)   # over every stimulus, as the toolbox
    assert sb["per_category"]["cat"] == {"shape_bias": 0.5, "shape": 1, "texture": 1, "n_conflict": 3}
    assert sb["per_category"]["knife"]["shape_bias"] == 1.0 and sb["per_category"]["truck"]["shape_bias"] is None
    row = next(r for r in s["reference"] if r["metric"].startswith("shape bias"))
    assert row["ours"] == pytest.approx(4 / 6) and row["references"] == []


def _toolbox_shape_bias(model, mean, std, root: Path) -> tuple:
    """The procedure written out plainly, as model-vs-human computes it: softmax, the mean over each
    category's indices, the top category; then ShapeBias.analysis on (category, imagename, response)."""
    rows = []
    for f in sorted(root.rglob("*.png")):
        x = torch.from_numpy(np.asarray(Image.open(f).convert("RGB"), dtype=np.float32) / 255).permute(2, 0, 1)
        x = (x - torch.tensor(mean).view(3, 1, 1)) / torch.tensor(std).view(3, 1, 1)
        with torch.no_grad():
            probs = torch.softmax(model(x[None]), dim=1)[0].numpy()
        means = np.array([np.mean(np.take(probs, CATEGORIES[c], axis=-1), axis=-1) for c in NAMES])
        response = NAMES[np.flip(np.argsort(means))[0]]
        texture = "".join(ch for ch in f.name.split("_")[-1].split(".")[0].split("-")[-1] if not ch.isdigit())
        rows.append((f.parent.name, texture, response))
    conflict = [r for r in rows if r[0] != r[1]]
    shape = sum(r[2] == r[0] for r in conflict) / len(rows)
    texture = sum(r[2] == r[1] for r in conflict) / len(rows)
    return shape / (shape + texture), shape, texture, [r[2] for r in rows]


def test_equals_a_plain_reimplementation_with_real_weights(tmp_path, lite0_weights):
    """Crops of the sample photographs as stimuli; EfficientNet-Lite0 with its ImageNet weights."""
    from pit_eval.models import create_model
    photos = sorted(p for p in (SAMPLE_ROOT / "imagenet/val").rglob("*") if p.is_file())
    root, names = tmp_path / "cue-conflict", ["cat", "clock", "dog", "bottle", "truck", "bird"]
    k = 0
    for i, photo in enumerate(photos):
        im = Image.open(photo).convert("RGB")
        w, h = im.size
        for j, box in enumerate([(0, 0, w, h), (0, 0, w // 2 + 1, h // 2 + 1), (w // 3, h // 3, w, h),
                                 (w // 4, 0, 3 * w // 4 + 1, h)]):
            shape, texture = names[(i + j) % len(names)], names[(i + 2 * j + 1) % len(names)]
            dest = root / shape / f"{shape}{k}-{texture}{j}.png"
            dest.parent.mkdir(parents=True, exist_ok=True)
            im.crop(box).resize((224, 224), Image.BICUBIC).save(dest)
            k += 1
    s = pit_eval.evaluate("efficientnet_lite0", weights=lite0_weights, benchmarks="shape-bias",
                          cue_conflict=str(root), out=str(tmp_path / "r"), **QUIET).summary
    sb = s["benchmarks"]["shape-bias"]
    model, _ = create_model("efficientnet_lite0", lite0_weights)
    mean, std = model.pretrained_cfg["mean"], model.pretrained_cfg["std"]
    bias, shape, texture, responses = _toolbox_shape_bias(model.eval(), mean, std, root)
    assert len(set(responses)) > 2, responses          # real decisions, not one category
    assert 0 < sb["shape_fraction"] and 0 < sb["texture_fraction"]
    assert (sb["shape_bias"], sb["shape_fraction"], sb["texture_fraction"]) == pytest.approx((bias, shape, texture))
    assert sb["n"] == k == 24


@pytest.mark.parametrize("bad, message", [
    ("cat/cat1.png", "cue-conflict stimulus {root}/cat/cat1.png: the name has no '-<texture>' part"),
    ("cat/cat1-tiger2.png", "cue-conflict stimulus {root}/cat/cat1-tiger2.png: texture category 'tiger' is not one of the 16"),
    ("tiger/tiger1-cat1.png", "cue-conflict folder {root}/tiger: 'tiger' is not one of the 16 categories"),
])
def test_bad_stimuli_stop_before_compute_naming_the_file(tmp_path, monkeypatch, bad, message):
    root = _coded_tree(tmp_path / "cue-conflict")
    _png(root / bad, (0, 0, 0))
    from pit_eval.engine import Engine
    monkeypatch.setattr(Engine, "cell_values", lambda *a, **k: pytest.fail("computed before the data was checked"))
    with pytest.raises(DataError) as e:
        pit_eval.evaluate(ColourCode(), name="coded", benchmarks="shape-bias", cue_conflict=str(root),
                          out=str(tmp_path / "r"), **QUIET)
    assert str(e.value).startswith(message.format(root=root))


def test_report_plots_shape_bias_per_category_and_the_paper_column(tmp_path):
    from pit_eval.report import build_report
    root = _coded_tree(tmp_path / "cue-conflict")
    pit_eval.evaluate(ColourCode(), name="coded", benchmarks="shape-bias", cue_conflict=str(root),
                      out=str(tmp_path / "runs/coded"), **QUIET)
    paths = build_report([str(tmp_path / "runs")], str(tmp_path / "report"))
    md = Path(paths[0]).read_text()
    assert "![shape_bias_per_category](plots/shape_bias_per_category.png)" in md
    assert (tmp_path / "report/plots/shape_bias_per_category.png").stat().st_size > 10_000
    header = next(line for line in md.splitlines() if line.startswith("| model | weights"))
    assert "| shape bias |" in header and "mCE" not in header      # only the metrics this group has
    doc = json.loads(references.PATH.read_text())
    cols = {c["id"]: c for t in doc["tables"] for c in t["columns"]}
    assert cols["shape_bias"]["metric"] == "shape-bias.shape_bias"
