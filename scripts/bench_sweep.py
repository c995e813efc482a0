"""Render once, many models: a sweep of three models over on-the-fly ImageNet-C against the three
models run one after another, in one process, per corruption backend.

    python scripts/bench_sweep.py [--images 40] [--backends reference,fast] [--models test_vit,test_resnet,test_convnext]
                                  [--severities 3] [--workers 2] [--out /tmp/bench-sweep]

The val tree is --images distinct files made from the embedded sample photographs (each photograph
mirrored and shifted, so no two files are equal); the 15 common corruptions at --severities; random
weights (the models' cost, not their accuracy, is measured). Separate: ``pit_eval.evaluate`` per model,
each rendering its own ImageNet-C. Sweep: ``pit_eval.sweep`` with the three models in one render group
(each block rendered once, every model fed from it). Both write fresh results directories; the table
gives seconds and the ratio sweep / separate, and checks that every model's predictions are equal.
"""
from __future__ import annotations

import argparse
import json
import logging
import shutil
import tempfile
import time
from pathlib import Path

from PIL import ImageOps

import pit_eval
from pit_eval.images import SAMPLE_ROOT, load_rgb


def make_val(root: Path, n: int) -> Path:
    """``n`` distinct JPEGs in the sample's class folders: photograph k, variant j = mirrored when j is
    odd, the crop window moved by j pixels."""
    photos = sorted(p for p in (SAMPLE_ROOT / "imagenet" / "val").rglob("*") if p.is_file())
    val = root / "imagenet" / "val"
    for i in range(n):
        src = photos[i % len(photos)]
        j = i // len(photos)
        img = load_rgb(src)
        img = img.crop((j, j, img.width - 8 + j, img.height - 8 + j))
        img = ImageOps.mirror(img) if j % 2 else img
        dest = val / src.parent.name / f"{src.stem}_{i:03d}.JPEG"
        dest.parent.mkdir(parents=True, exist_ok=True)
        img.save(dest, quality=92)
    return val


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=40)
    ap.add_argument("--backends", default="reference,fast")
    ap.add_argument("--models", default="test_vit,test_resnet,test_convnext")
    ap.add_argument("--severities", default="3")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--out", default=None, help="scratch directory (default: a temporary one, removed)")
    a = ap.parse_args()
    logging.getLogger("pit_eval").setLevel(logging.ERROR)      # the runs' stall advice is not the measurement
    scratch = Path(a.out or tempfile.mkdtemp(prefix="bench-sweep-"))
    models = a.models.split(",")
    val = make_val(scratch / "data", a.images)
    rows = []
    for backend in a.backends.split(","):
        kw = dict(imagenet=str(val), weights="random", benchmarks="imagenet-c", corruptions="common",
                  severities=a.severities, imagenet_c_source="on-the-fly", corruption_backend=backend,
                  workers=a.workers, batch_size=a.batch_size, quiet=True, device="cpu")
        t0 = time.perf_counter()
        alone = [pit_eval.evaluate(m, out=str(scratch / backend / "separate" / m), **kw).out for m in models]
        separate = time.perf_counter() - t0
        t0 = time.perf_counter()
        res = pit_eval.sweep(models, out=str(scratch / backend / "sweep"), render_group=len(models), **kw)
        swept = time.perf_counter() - t0
        same = _same_predictions(alone, [e["out"] for e in res["models"]])
        rows.append((backend, separate, swept, same))
    print(f"on-the-fly ImageNet-C, 15 corruptions x severities {a.severities}, {a.images} images, models "
          f"{', '.join(models)}, {a.workers} workers, CPU")
    print(f"{'backend':10s} {'3 separate runs s':>18s} {'one sweep s':>12s} {'ratio':>6s}  predictions equal")
    for backend, separate, swept, same in rows:
        print(f"{backend:10s} {separate:18.1f} {swept:12.1f} {swept / separate:6.2f}  {same}")
    if a.out is None:
        shutil.rmtree(scratch, ignore_errors=True)


def _same_predictions(alone, swept) -> bool:
    """Every cell's predictions of each model equal between its separate run and the sweep."""
    for a_dir, s_dir in zip(alone, swept):
        cells = [json.loads(line)["key"] for line in (Path(a_dir) / "cells.jsonl").read_text().splitlines()]
        for key in cells:
            x = pit_eval.predictions(a_dir, key).drop(columns="path")
            y = pit_eval.predictions(s_dir, key).drop(columns="path")
            if not x.equals(y):
                return False
    return True


if __name__ == "__main__":
    main()
