"""Corruption rendering speed: reference (imagecorruptions) vs fast backend, ms/image at 224 px in
one process, per corruption and severity, plus the 15-corruption total.

    python scripts/bench_corruptions.py [--images 4] [--severities 1,3,5]
"""
from __future__ import annotations

import argparse
import time

import numpy as np

from pit_eval.corruptions import GROUPS, corrupt_image, parse_severities
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


def _ms(backend: str, imgs, name: str, sev: int) -> float:
    t0 = time.perf_counter()
    for i, img in enumerate(imgs):
        corrupt_image(img, name, sev, seed_value=i, backend=backend)
    return 1000 * (time.perf_counter() - t0) / len(imgs)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", type=int, default=4)
    ap.add_argument("--severities", default="1,2,3,4,5")
    ap.add_argument("--corruptions", default="all")
    a = ap.parse_args()
    imgs = _images(a.images)
    sevs = parse_severities(a.severities)
    names = GROUPS[a.corruptions] if a.corruptions in GROUPS else a.corruptions.split(",")
    corrupt_image(imgs[0], "glass_blur", 1, seed_value=0, backend="fast")  # compile once
    print(f"{'corruption':18s} {'sev':>3s} {'reference ms':>13s} {'fast ms':>9s} {'ratio':>7s}")
    tot_ref = tot_fast = 0.0
    for name in names:
        for s in sevs:
            r, f = _ms("reference", imgs, name, s), _ms("fast", imgs, name, s)
            if name in GROUPS["common"]:
                tot_ref, tot_fast = tot_ref + r, tot_fast + f
            print(f"{name:18s} {s:3d} {r:13.1f} {f:9.1f} {r / f:7.1f}")
    if tot_fast:
        print(f"15 benchmark corruptions x {len(sevs)} severities, per image: reference {tot_ref:.0f} ms, "
              f"fast {tot_fast:.0f} ms, speed-up {tot_ref / tot_fast:.1f}x")


if __name__ == "__main__":
    main()
