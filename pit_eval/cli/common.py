"""Argument helpers shared by the sub-commands."""
from __future__ import annotations

import argparse
import json

from ..datasets import DATASETS


def engine_args(p: argparse.ArgumentParser) -> None:
    g = p.add_argument_group("device")
    g.add_argument("--device", default="auto", help="auto (CUDA if present) | cpu | cuda | cuda:N")
    g.add_argument("--amp", nargs="?", const="bf16", default=None, choices=["bf16", "fp16"],
                   help="mixed precision (default dtype bf16)")
    g.add_argument("--batch-size", type=int, default=64)
    g.add_argument("--workers", type=int, default=None, help="DataLoader workers (default: from CPU count)")
    g.add_argument("--no-channels-last", action="store_true")
    g.add_argument("--quiet", action="store_true", help="no progress bars (for logs)")
    g.add_argument("--compile", nargs="?", const="default", default=None,
                   choices=["default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs"],
                   help="torch.compile the model (mode; default 'default'); recorded per cell, so compiled "
                        "and eager cells never mix silently")


def engine_cfg(a):
    from ..engine import EngineConfig
    return EngineConfig(device=a.device, amp=a.amp, batch_size=a.batch_size, workers=a.workers,
                        channels_last=not a.no_channels_last, quiet=a.quiet, compile=a.compile)


def dataset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", default=None,
                   help="folder holding imagenet/val, imagenet-c, imagenet-a, ..., imagenet-9")
    for name in DATASETS:
        spec = DATASETS[name]
        p.add_argument(f"--{name}", dest=f"path_{name}", default=None, metavar="DIR" if spec.folders_only else "PATH",
                       help=f"{name} folder (env {spec.env})" if spec.folders_only else
                       f"{name} data: class folders, a save_to_disk dataset, Parquet files or WebDataset shards "
                       f"(a .tar, a brace pattern, a folder; docs/data.md) (env {spec.env})")


def dataset_paths(a) -> tuple:
    return tuple((n, getattr(a, f"path_{n}")) for n in DATASETS if getattr(a, f"path_{n}"))


def key_value(s: str):
    if "=" not in s:
        raise argparse.ArgumentTypeError(f"--cfg-options expects key=value, got {s!r}")
    k, v = s.split("=", 1)
    try:
        v = json.loads(v)
    except json.JSONDecodeError:
        pass
    return k, v
