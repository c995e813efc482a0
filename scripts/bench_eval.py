"""Does the data path keep the model busy? End-to-end evaluation throughput on pre-rendered-style
data (224x224 JPEGs, ImageNet-C layout) vs the bare model forward at the same batch size and device.

    python scripts/bench_eval.py [--model pit_s] [--images 256] [--batch-size 64] [--workers N] [--device cuda --amp]
"""
from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from pit_eval.images import EvalTransform, ImageList
from pit_eval.datasets import imagenet_wnids, scan_class_folders
from pit_eval.engine import Engine, EngineConfig
from pit_eval.models import Normalized, create_model


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--model", default="pit_s")
    ap.add_argument("--images", type=int, default=256)
    ap.add_argument("--batch-size", type=int, default=64)
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
            d = Path(tmp) / wnids[i % 8]
            d.mkdir(exist_ok=True)
            Image.fromarray(rs.randint(0, 255, (224, 224, 3), dtype=np.uint8)).save(d / f"{i}.JPEG", quality=85)
        ds = ImageList(scan_class_folders(tmp, imagenet_wnids(), "bench", "--x"), t.prerendered(), root=tmp)
        eng.counts(model, ds, "warmup")
        t0 = time.perf_counter()
        eng.counts(model, ds, "end-to-end")
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
    print(f"device {eng.device}  workers {eng.workers}  batch {a.batch_size}  model {a.model}")
    print(f"end-to-end {e2e:.1f} img/s   bare forward {bare:.1f} img/s   ratio {e2e / bare:.2f}")


if __name__ == "__main__":
    main()
