"""Do Parquet files, a save_to_disk dataset and WebDataset shards feed the model as fast as a folder tree?
The same ImageNet-sized JPEGs (made from the embedded sample's photographs: 500x375, quality 90, each a
distinct crop) in the four layouts (made by docs/data.md's recipes), read through the evaluation's own
loader and eval transform (resize 256, crop 224, bicubic), no model: images per second per worker, for
each worker count, interleaved over repeats so that the ratios hold on a noisy machine.

    python scripts/bench_sources.py [--images 512] [--workers 1,2] [--repeats 3] [--batch-size 32]
"""
from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

from PIL import Image

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from pit_eval.datasets import imagenet_wnids, scan  # noqa: E402
from pit_eval.engine import Engine, EngineConfig  # noqa: E402
from pit_eval.images import EvalTransform, ImageList, sample_photographs  # noqa: E402


def _docs_copies(src: Path, out: Path, layouts) -> dict:
    """docs/data.md's recipes run on ``src`` into ``out``, as tests/test_sources.py runs them."""
    import importlib.util
    spec = importlib.util.spec_from_file_location("test_sources", ROOT / "tests" / "test_sources.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod._copies(src, out, layouts)


def make_tree(root: Path, n: int) -> None:
    """``n`` distinct 500x375 JPEGs under ``root/<wnid>/``, cut from the sample's photographs."""
    photos = [(p.parent.name, Image.open(p).convert("RGB")) for p in sample_photographs()]
    for i in range(n):
        wnid, im = photos[i % len(photos)]
        w, h = im.size
        k = i // len(photos)
        box = (k % 7 * w // 40, k % 5 * h // 30, w - k % 3 * w // 40, h - k % 4 * h // 30)
        out = root / wnid / f"ILSVRC2012_val_{i + 1:08d}.JPEG"
        out.parent.mkdir(parents=True, exist_ok=True)
        im.crop(box).resize((500, 375), Image.BICUBIC).save(out, quality=90)


#: the recipes' outputs and the layouts they are
LAYOUTS = {"val-parquet": "Parquet files", "val-wds": "WebDataset shards", "val-hf": "save_to_disk dataset"}


def copies(src: Path, out: Path) -> dict:
    import importlib.util
    names = [n for n in LAYOUTS if n != "val-hf" or importlib.util.find_spec("datasets") is not None]
    return {"class folders": str(src), **{LAYOUTS[n]: path for n, path in _docs_copies(src, out, names).items()}}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=512)
    ap.add_argument("--workers", default="1,2")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--batch-size", type=int, default=32)
    ap.add_argument("--out", default="results/bench-sources.json")
    args = ap.parse_args()
    tmp = Path(tempfile.mkdtemp(prefix="bench-sources-"))
    make_tree(tmp / "val", args.images)
    size = sum(f.stat().st_size for f in (tmp / "val").rglob("*.JPEG"))
    layouts = copies(tmp / "val", tmp / "copies")
    transform = EvalTransform().full()
    sets = {}
    for label, path in layouts.items():
        samples, reader = scan(path, imagenet_wnids(), "bench", "--imagenet")
        sets[label] = ImageList(samples, transform, root=path, reader=reader)
    print(f"{args.images} JPEGs 500x375 ({size / args.images / 1024:.0f} KiB each); layouts: {', '.join(layouts)}; "
          f"{os.cpu_count()} cores", flush=True)
    rows = []
    for w in [int(x) for x in args.workers.split(",")]:
        eng = Engine(EngineConfig(device="cpu", batch_size=args.batch_size, workers=w, quiet=True))
        times = {k: [] for k in sets}
        for r in range(args.repeats):
            order = list(sets)[r % len(sets):] + list(sets)[:r % len(sets)]   # each layout first once
            for label in order:
                ds = sets[label]
                t0 = time.perf_counter()
                n = sum(len(b[1]) for b in eng.loader(ds))
                times[label].append(time.perf_counter() - t0)
                assert n == args.images, (label, n)
        base = statistics.median(times["class folders"])
        for label, t in times.items():
            med = statistics.median(t)
            rows.append({"workers": w, "layout": label, "img/s": round(args.images / med, 1),
                         "img/s per worker": round(args.images / med / w, 1), "vs folders": round(base / med, 2)})
    print("\n| workers | layout | images/s | per worker | vs class folders |\n|---|---|---|---|---|")
    for r in rows:
        print(f"| {r['workers']} | {r['layout']} | {r['img/s']} | {r['img/s per worker']} | {r['vs folders']:.2f} |")
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps({"images": args.images, "bytes_per_image": size // args.images,
                                          "batch_size": args.batch_size, "repeats": args.repeats, "rows": rows}, indent=1))


if __name__ == "__main__":
    main()
