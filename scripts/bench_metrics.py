"""What do calibration and per-image predictions cost? The same evaluation pass (same data, model,
batch and device) with top-1/top-5 alone and with every default metric of a classification cell
(top-k, fingerprint, calibration, predictions, the predictions file written), interleaved so that the
ratio holds on a noisy machine; and the predictions file's size per image.

    python scripts/bench_metrics.py [--model pit_s] [--images 256] [--batch-size 64] [--repeats 3] [--device cuda --amp bf16]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from pit_eval import prediction_files
from pit_eval.datasets import imagenet_wnids, scan_class_folders
from pit_eval.engine import Engine, EngineConfig
from pit_eval.images import EvalTransform, ImageList, sample_paths
from pit_eval.loop_metrics import TopK, default_metrics, rows_of
from pit_eval.models import Normalized, create_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="pit_s")
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--workers", type=int, default=None)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--amp", default=None)
    a = ap.parse_args()
    eng = Engine(EngineConfig(device=a.device, amp=a.amp, batch_size=a.batch_size, workers=a.workers, quiet=True))
    model, _ = create_model(a.model, weights="none")
    t = EvalTransform.from_model(model)
    model = eng.prepare(Normalized(model, t.mean, t.std))
    with tempfile.TemporaryDirectory() as tmp:
        rs = np.random.RandomState(0)
        wnids = imagenet_wnids()[:8]
        for i in range(a.images):
            d = Path(tmp) / "data" / wnids[i % 8]
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rs.randint(0, 255, (224, 224, 3), dtype=np.uint8)).save(d / f"{i}.JPEG", quality=85)
        ds = ImageList(scan_class_folders(Path(tmp) / "data", imagenet_wnids(), "bench", "--x"), t.prerendered(),
                       root=str(Path(tmp) / "data"))
        variants = {"top-1/top-5 alone": lambda: eng.evaluate(model, ds, "topk", [TopK()])}

        def everything():
            metrics = default_metrics()
            value = eng.evaluate(model, ds, "all", metrics)
            return prediction_files.write(tmp, "clean", rows_of(metrics, value), sample_paths(ds))
        variants["+ fingerprint, calibration, predictions (file written)"] = everything
        eng.evaluate(model, ds, "warm-up", [TopK()])
        times = {k: [] for k in variants}
        info = None
        for _ in range(a.repeats):
            for k, f in variants.items():
                t0 = time.perf_counter()
                out = f()
                times[k].append(time.perf_counter() - t0)
                info = out if isinstance(out, dict) and "bytes" in out else info
    base = statistics.median(times["top-1/top-5 alone"])
    print(f"device {eng.device}  workers {eng.workers}  batch {a.batch_size}  model {a.model}  images {a.images}  "
          f"repeats {a.repeats} (interleaved; medians)")
    print(f"| metrics | img/s | seconds | vs top-1 alone |")
    print("|---|---|---|---|")
    for k, v in times.items():
        m = statistics.median(v)
        print(f"| {k} | {a.images / m:.1f} | {m:.2f} | {100 * (m / base - 1):+.1f} % |")
    print(f"predictions file: {info['bytes']} bytes for {info['rows']} images = {info['bytes'] / info['rows']:.1f} "
          "bytes per image (without logits)")


if __name__ == "__main__":
    main()
