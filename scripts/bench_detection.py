"""Detector latency and training-step time with PiT-S vs ResNet-50 vs DeiT-S backbones (DETR, same
input size), timed interleaved in one process; prints ratios to ResNet-50.

    python scripts/bench_detection.py [--size 512 640] [--repeats 5] [--detector detr|deformable_detr]
"""
from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import torch
from mmengine.config import Config

import backbones  # noqa: F401

ROOT = Path(__file__).resolve().parents[1]


def _model(cfg_name: str):
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    cfg = Config.fromfile(str(ROOT / "configs" / f"{cfg_name}.py"))
    cfg.model.backbone.pop("init_cfg", None)
    m = MODELS.build(cfg.model)
    m.init_weights()
    return m


def _inputs(model, h, w, n=2):
    from mmdet.structures import DetDataSample
    from mmengine.structures import InstanceData
    data = {"inputs": [torch.randint(0, 255, (3, h, w), dtype=torch.uint8) for _ in range(n)], "data_samples": []}
    for _ in range(n):
        s = DetDataSample(metainfo=dict(img_shape=(h, w), ori_shape=(h, w), pad_shape=(h, w),
                                        scale_factor=(1.0, 1.0), batch_input_shape=(h, w)))
        s.gt_instances = InstanceData(bboxes=torch.tensor([[10., 20., w / 2, h / 2]]), labels=torch.tensor([1]))
        data["data_samples"].append(s)
    return model.data_preprocessor(data, True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--size", type=int, nargs=2, default=[512, 640])
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--detector", default="detr", choices=["detr", "deformable_detr"])
    a = ap.parse_args()
    names = [f"{a.detector}_{b}" for b in ("r50", "pit_s", "deit_s")]
    models = {n: _model(n) for n in names}
    data = {n: _inputs(m, *a.size) for n, m in models.items()}
    fwd = {n: [] for n in names}
    step = {n: [] for n in names}
    for r in range(a.repeats + 1):
        for n, m in models.items():
            m.eval()
            t0 = time.perf_counter()
            with torch.no_grad():
                m.predict(data[n]["inputs"], data[n]["data_samples"])
            t1 = time.perf_counter()
            m.train()
            losses = m.loss(data[n]["inputs"], data[n]["data_samples"])
            sum(v for k, v in losses.items() if "loss" in k).backward()
            m.zero_grad(set_to_none=True)
            t2 = time.perf_counter()
            if r:  # first round is warm-up
                fwd[n].append(t1 - t0)
                step[n].append(t2 - t1)
    base = names[0]
    print(f"{a.detector}, batch 2 at {a.size[0]}x{a.size[1]}, {a.repeats} interleaved repeats, device cpu")
    for n in names:
        f, s = statistics.median(fwd[n]), statistics.median(step[n])
        print(f"{n:24s} forward {1000 * f:8.1f} ms ({f / statistics.median(fwd[base]):.2f}x r50)   "
              f"train step {1000 * s:8.1f} ms ({s / statistics.median(step[base]):.2f}x r50)")


if __name__ == "__main__":
    main()
