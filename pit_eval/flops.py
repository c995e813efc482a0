"""Parameter and MAC counts with torch's own FLOP counter.

Convention: the PiT/DeiT papers' "FLOPs" are multiply-accumulates (MACs); torch counts a
multiply-add as 2 FLOPs, so MACs = counted FLOPs / 2. Two traps are handled here: the counter's
module tracker crashes on PiT under ``no_grad`` (so we count with grad enabled), and on CPU fused
scaled-dot-product attention is not counted (so timm's fused attention is switched off while
counting, which routes attention through plain matmuls)."""
from __future__ import annotations

import contextlib
from typing import Iterator

import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode


def count_params(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


@contextlib.contextmanager
def unfused_attention(model: nn.Module) -> Iterator[None]:
    mods = [m for m in model.modules() if getattr(m, "fused_attn", False) is True]
    for m in mods:
        m.fused_attn = False
    try:
        yield
    finally:
        for m in mods:
            m.fused_attn = True


def count_macs(model: nn.Module, input_size: int = 224, batch: int = 1) -> float:
    """MACs of one forward pass per image at ``input_size``."""
    was_training = model.training
    model.eval()
    x = torch.zeros(batch, 3, input_size, input_size, device=next(model.parameters()).device)
    counter = FlopCounterMode(display=False)
    with unfused_attention(model), counter:
        model(x)
    model.train(was_training)
    return counter.get_total_flops() / 2 / batch
