"""Does the data path keep the model busy, and what do calibration and per-image predictions cost?
On pre-rendered-style data (224x224 JPEGs, ImageNet-C layout), at the same batch size and device:

1. end-to-end evaluation throughput vs the bare model forward;
2. the same evaluation pass with top-1/top-5 alone and with every default metric of a classification
   cell (top-k, fingerprint, calibration, predictions, the predictions file written), interleaved
   so that the ratio holds on a noisy machine, and the predictions file's size per image.

    python scripts/bench_eval.py [--model pit_s] [--images 256] [--batch-size 64] [--repeats 3] [--device cuda --amp bf16]
"""
from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path
from typing import List, Tuple

import numpy as np
import torch
from PIL import Image

from pit_eval import prediction_files
from pit_eval.datasets import imagenet_wnids, scan_class_folders
from pit_eval.engine import Engine, EngineConfig
from pit_eval.images import ImageList, sample_paths
from pit_eval.loop_metrics import TopK, default_metrics, rows_of
from pit_eval.models import load_for_evaluation


def metric_costs(eng, model, ds, repeats: int, out: str) -> Tuple[List[dict], dict]:
    """Step 2: both metric sets on the same pass, interleaved; one row each (medians) and what the
    predictions file took. scripts/gpu_check.py reports the same rows."""
    def top1_alone():
        eng.evaluate(model, ds, "top-k", [TopK()])

    def everything():
        metrics = default_metrics()
        value = eng.evaluate(model, ds, "all", metrics)
        return prediction_files.write(out, "clean", rows_of(metrics, value), sample_paths(ds))
    variants = {"top-1/top-5 alone": top1_alone,
                "+ fingerprint, calibration, predictions (file written)": everything}
    times, info = {k: [] for k in variants}, None
    for _ in range(repeats):
        for k, f in variants.items():
            t0 = time.perf_counter()
            info = f() or info
            times[k].append(time.perf_counter() - t0)
    base = statistics.median(times["top-1/top-5 alone"])
    rows = [{"metrics": k, "img/s": round(len(ds) / statistics.median(v), 1),
             "seconds": round(statistics.median(v), 2),
             "vs top-1 alone": f"{100 * (statistics.median(v) / base - 1):+.1f} %"} for k, v in times.items()]
    return rows, info


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
    model, t, _ = load_for_evaluation(a.model, "none", eng)
    with tempfile.TemporaryDirectory() as tmp:
        rs = np.random.RandomState(0)
        wnids = imagenet_wnids()[:8]
        data = Path(tmp) / "data"
        for i in range(a.images):
            d = data / wnids[i % 8]
            d.mkdir(parents=True, exist_ok=True)
            Image.fromarray(rs.randint(0, 255, (224, 224, 3), dtype=np.uint8)).save(d / f"{i}.JPEG", quality=85)
        ds = ImageList(scan_class_folders(data, imagenet_wnids(), "bench", "--x"), t.prerendered(), root=str(data))
        eng.evaluate(model, ds, "warmup", [TopK()])
        t0 = time.perf_counter()
        eng.evaluate(model, ds, "end-to-end", [TopK()])
        e2e = a.images / (time.perf_counter() - t0)
        x = torch.rand(a.batch_size, 3, 224, 224, device=eng.device)
        n_batches = -(-a.images // a.batch_size)
        with torch.inference_mode(), eng.autocast():
            model(eng.to_input((x * 255).to(torch.uint8)))
            if eng.device.type == "cuda":
                torch.cuda.synchronize()
            t0 = time.perf_counter()
            for _ in range(n_batches):
                model(eng.to_input((x * 255).to(torch.uint8)))
            if eng.device.type == "cuda":
                torch.cuda.synchronize()
        bare = n_batches * a.batch_size / (time.perf_counter() - t0)
        print(f"device {eng.device}  workers {eng.workers}  batch {a.batch_size}  model {a.model}  images {a.images}")
        print(f"end-to-end {e2e:.1f} img/s   bare forward {bare:.1f} img/s   ratio {e2e / bare:.2f}")
        rows, info = metric_costs(eng, model, ds, a.repeats, tmp)
    print(f"metrics of the same pass, {a.repeats} interleaved repeats (medians):")
    print("| metrics | img/s | seconds | vs top-1 alone |")
    print("|---|---|---|---|")
    for r in rows:
        print(f"| {r['metrics']} | {r['img/s']} | {r['seconds']} | {r['vs top-1 alone']} |")
    print(f"predictions file: {info['bytes']} bytes for {info['rows']} images = "
          f"{info['bytes'] / info['rows']:.1f} bytes per image (without logits)")


if __name__ == "__main__":
    main()
