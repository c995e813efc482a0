"""Corruption rendering speed: reference (the protocol's generator) vs exact ("fast") vs torch backend,
ms/image at 224 px in one process, per corruption and severity, plus the 15-corruption totals.

    python scripts/bench_corruptions.py [--protocol imagenet-c|imagecorruptions] [--images 4]
                                        [--severities 1,3,5] [--torch-batch 64] [--device cpu]
                                        [--end-to-end REPEAT --workers 2] [--per-core REPEAT]

The torch column renders one batch of --torch-batch images (the photos repeated) on --device; for the
corruptions the torch backend leaves to the exact one, its total counts the exact time. --end-to-end
first measures the runner's on-the-fly ImageNet-C data path per backend, cell by cell (every cell
decodes every image) and in one-decode passes (as the runner evaluates), side by side. --per-core
measures the exact backend's one-decode data path against the raw backend on the same images: the raw
chain in one process on one core, the runner's loader per worker core (no model: the model is on
another device), and the runner with a small model in the loop (its stall share).
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

from pit_eval.corruptions import GROUPS, IMAGENET_C, PROTOCOLS, torch_backend, corrupt_image, parse_severities
from pit_eval.images import SAMPLE_ROOT, load_rgb


def _images(n: int):
    paths = sorted(p for p in (SAMPLE_ROOT / "imagenet" / "val").rglob("*") if p.is_file())
    imgs = []
    for p in paths:
        im = load_rgb(p)
        s = 224 / min(im.size)
        im = im.resize((max(224, round(im.width * s)), max(224, round(im.height * s))))
        l, t = (im.width - 224) // 2, (im.height - 224) // 2
        imgs.append(np.asarray(im.crop((l, t, l + 224, t + 224))))
    return (imgs * n)[:n]


def _ms(backend: str, imgs, name: str, sev: int, protocol: str) -> float:
    t0 = time.perf_counter()
    for i, img in enumerate(imgs):
        corrupt_image(img, name, sev, seed_value=i, backend=backend, protocol=protocol)
    return 1000 * (time.perf_counter() - t0) / len(imgs)


def _torch_ms(imgs, name: str, sev: int, batch: int, device: str, protocol: str) -> float:
    x = torch.from_numpy(np.stack((imgs * batch)[:batch])).to(device)
    torch_backend.corrupt_batch(x[:2], name, sev, [0, 1], protocol)  # warm-up (first-call allocations, caches)
    if device.startswith("cuda"):
        torch.cuda.synchronize()   # the warm-up's kernels are not timed
    t0 = time.perf_counter()
    torch_backend.corrupt_batch(x, name, sev, list(range(batch)), protocol)
    if device.startswith("cuda"):
        torch.cuda.synchronize()
    return 1000 * (time.perf_counter() - t0) / batch


def _end_to_end(backend: str, repeat: int, workers: int, device: str, one_decode: bool, protocol: str) -> float:
    """Images x cells per second through the runner's on-the-fly ImageNet-C data path (decode, resize,
    crop, corrupt, JPEG; the torch backend renders in the loop), 15 corruptions at severity 3, no model:
    cell by cell (each cell decodes every image) or as the runner does it, in one-decode passes."""
    from pit_eval.corruptions import CorruptedImageNet, ImageNetCPass
    from pit_eval.engine import Engine, EngineConfig
    from pit_eval.images import EvalTransform, ImageList
    from pit_eval.datasets import imagenet_wnids, scan_class_folders
    root = SAMPLE_ROOT / "imagenet" / "val"
    base = ImageList(scan_class_folders(root, imagenet_wnids(), "imagenet", "--imagenet") * repeat,
                     EvalTransform().full(), root=str(root))
    engine = Engine(EngineConfig(device=device, batch_size=16, workers=workers, quiet=True))
    cells = [CorruptedImageNet(base, name, 3, backend=torch_backend.render_backend(backend, name, 3, protocol),
                               protocol=protocol, threads=max(1, workers)) for name in GROUPS["common"]]
    n, t0 = 0, time.perf_counter()
    if one_decode:  # a pass for the cells torch renders, one for those the exact backend renders
        groups = ([c for c in cells if c.renders_in_loop], [c for c in cells if not c.renders_in_loop])
        for data in (ImageNetCPass(g) for g in groups if g):
            for batch in engine.loader(data, range(len(data)), data.loader_batch(engine.cfg.batch_size)):
                n += sum(len(g[2]) for g in data.split(*batch[:3], engine.device))
    else:
        for ds in cells:
            for images, labels, indices, _ in engine.loader(ds):
                if ds.renders_in_loop:
                    images = ds.finish_batch(images, indices, engine.device)
                n += len(labels)
    return n / (time.perf_counter() - t0)


def _per_core(repeat: int, workers: int, model_name: str, protocol: str) -> None:
    """Raw exact backend (one process, one core) vs the runner's data path per worker core, same images."""
    import cv2
    from pit_eval.corruptions import CorruptedImageNet, ImageNetCPass
    from pit_eval.engine import Engine, EngineConfig
    from pit_eval.images import EvalTransform, ImageList
    from pit_eval.datasets import imagenet_wnids, scan_class_folders
    from pit_eval.models import load_for_evaluation
    from pit_eval.stall import StallMeter
    from pit_eval.loop_metrics import default_metrics
    root = SAMPLE_ROOT / "imagenet" / "val"
    base = ImageList(scan_class_folders(root, imagenet_wnids(), "imagenet", "--imagenet") * repeat,
                     EvalTransform().full(), root=str(root))
    data = ImageNetCPass([CorruptedImageNet(base, name, 3, backend="fast", protocol=protocol)
                          for name in GROUPS["common"]])
    k, n = len(data.cells), len(data)
    data[0]  # compile the kernels once
    threads = torch.get_num_threads(), cv2.getNumThreads()
    torch.set_num_threads(1)
    cv2.setNumThreads(1)
    t0 = time.perf_counter()
    for i in range(n):
        data[i]
    raw = n * k / (time.perf_counter() - t0)
    torch.set_num_threads(threads[0])
    cv2.setNumThreads(threads[1])
    eng = Engine(EngineConfig(device="cpu", batch_size=64, workers=workers, quiet=True))
    t0, m = time.perf_counter(), 0
    for b in eng.loader(data, range(n), data.loader_batch(64)):
        m += sum(len(g[2]) for g in data.split(*b[:3], eng.device))
    runner = m / (time.perf_counter() - t0)
    model = load_for_evaluation(model_name, "none", eng)[0]
    meter = StallMeter(eng.device)
    eng.cell_values(model, data, "bench", default_metrics(), k, data.split, indices=range(n),
                    loader_batch=data.loader_batch(64), meter=meter)
    t = meter.result(n, n * k)
    print(f"exact backend, {protocol} protocol, 15 corruptions at severity 3, {n} sample images, {workers} workers, "
          "image-cells/s:")
    print(f"{'raw chain, 1 process, 1 core':44s} {raw:8.1f}")
    print(f"{'runner data path, no model':44s} {runner:8.1f}   per worker core {runner / workers:6.1f} "
          f"= {runner / workers / raw:.2f} of raw")
    print(f"{'runner with ' + model_name + ' on the same CPU':44s} {t['image_cells_per_s']:8.1f}   stall share "
          f"{100 * t['stall_share']:.0f} %, model busy {100 * t['device_busy']:.0f} %")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--protocol", default=IMAGENET_C, choices=list(PROTOCOLS))
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--severities", default="1,2,3,4,5")
    ap.add_argument("--corruptions", default="all")
    ap.add_argument("--torch-batch", type=int, default=64, help="0 = no torch column")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--end-to-end", type=int, default=0, metavar="REPEAT",
                    help="also measure the on-the-fly ImageNet-C data path on the sample set repeated REPEAT times")
    ap.add_argument("--end-to-end-backends", default="reference,fast,torch", metavar="LIST")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--no-table", action="store_true", help="only the end-to-end measurement")
    ap.add_argument("--per-core", type=int, default=0, metavar="REPEAT",
                    help="raw exact backend per core vs the runner's data path per worker core (sample x REPEAT)")
    ap.add_argument("--per-core-model", default="mobilenetv3_small_050", help="the small model of --per-core")
    a = ap.parse_args()
    if a.per_core:
        _per_core(a.per_core, a.workers, a.per_core_model, a.protocol)
    if a.end_to_end:
        print(f"on-the-fly ImageNet-C data path, {a.protocol} protocol, 15 corruptions at severity 3, the sample "
              f"images x {a.end_to_end}, batch 16, {a.workers} workers, device {a.device}, images x cells / s:")
        print(f"{'backend':9s} {'cell by cell':>12s} {'one decode':>10s} {'ratio':>6s}")
        for backend in a.end_to_end_backends.split(","):
            per_cell, once = (_end_to_end(backend, a.end_to_end, a.workers, a.device, m, a.protocol)
                              for m in (False, True))
            print(f"{backend:9s} {per_cell:12.1f} {once:10.1f} {once / per_cell:6.2f}")
    if a.no_table:
        return
    imgs = _images(a.images)
    sevs = parse_severities(a.severities)
    names = GROUPS[a.corruptions] if a.corruptions in GROUPS else a.corruptions.split(",")
    for name in ("glass_blur", "motion_blur"):  # compile once
        corrupt_image(imgs[0], name, 1, seed_value=0, backend="fast", protocol=a.protocol)
    print(f"{a.protocol} protocol; torch column: batch {a.torch_batch} on {a.device} ({torch.get_num_threads()} threads)")
    print(f"{'corruption':18s} {'sev':>3s} {'reference ms':>13s} {'fast ms':>9s} {'torch ms':>9s} "
          f"{'ref/fast':>8s} {'ref/torch':>9s}")
    tot = {"reference": 0.0, "fast": 0.0, "torch": 0.0}
    for name in names:
        for s in sevs:
            r, f = _ms("reference", imgs, name, s, a.protocol), _ms("fast", imgs, name, s, a.protocol)
            torch_renders = torch_backend.supports(name, s, a.protocol)
            t = (_torch_ms(imgs, name, s, a.torch_batch, a.device, a.protocol) if torch_renders else f) \
                if a.torch_batch else float("nan")
            if name in GROUPS["common"]:
                tot = {"reference": tot["reference"] + r, "fast": tot["fast"] + f, "torch": tot["torch"] + t}
            exact_note = "" if torch_renders else "  (torch: exact)"
            print(f"{name:18s} {s:3d} {r:13.1f} {f:9.1f} {t:9.1f} {r / f:8.1f} {r / t:9.1f}{exact_note}")
    if tot["fast"]:
        print(f"{sum(n in GROUPS['common'] for n in names)} benchmark corruptions x {len(sevs)} severities, per image: reference {tot['reference']:.0f} ms, "
              f"fast {tot['fast']:.0f} ms ({tot['reference'] / tot['fast']:.1f}x), torch {tot['torch']:.0f} ms "
              f"({tot['reference'] / tot['torch']:.1f}x)")


if __name__ == "__main__":
    main()
