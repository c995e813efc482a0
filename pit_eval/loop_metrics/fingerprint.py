"""The prediction fingerprint: an order-independent digest of (sample index, top-1 class) pairs, so
two runs can be shown to predict the same class for every image."""
from __future__ import annotations

from typing import Any, Dict

import torch

from .base import Batch, SumMetric, register

FP_MOD = 1 << 40
_GOLDEN = 0x9E3779B97F4A7C15
_LOW29 = (1 << 29) - 1
_G0, _G1 = _GOLDEN & _LOW29, (_GOLDEN >> 29) & ((1 << 28) - 1)   # the constant modulo 2^57, in two pieces


def prediction_fingerprint(indices: torch.Tensor, preds: torch.Tensor) -> int:
    """An order-independent digest of (sample index, top-1 prediction) pairs: a sum of per-sample
    hashes, so shards can be added up. Equal digests = the same prediction for every image.
    (The definition; the loop computes it on the device with :func:`fingerprint_terms`.)"""
    total = 0
    for i, p in zip(indices.tolist(), preds.tolist()):
        total += ((i * 1_000_003 + p + 1) * _GOLDEN >> 17) % FP_MOD
    return total % FP_MOD


def fingerprint_terms(indices: torch.Tensor, preds: torch.Tensor) -> torch.Tensor:
    """The per-sample terms of :func:`prediction_fingerprint` as int64 on the tensors' device, exact:
    bits 17..56 of ``a * GOLDEN`` depend only on the product modulo 2^57, which is formed from 29- and
    28-bit pieces so that no intermediate exceeds 2^63 (no overflow, whatever the device)."""
    a = (indices.long() * 1_000_003 + preds.long() + 1) & ((1 << 57) - 1)
    a0, a1 = a & _LOW29, a >> 29
    mid = ((a1 * _G0 + a0 * _G1) & ((1 << 28) - 1)) << 29
    return (((mid + a0 * _G0) & ((1 << 57) - 1)) >> 17) % FP_MOD


@register
class Fingerprint(SumMetric):
    """``pred_fingerprint``: the sum of per-sample hashes modulo 2^40."""
    name = "fingerprint"
    states = {"fp": ((), torch.int64)}

    def update(self, state, batch: Batch) -> None:
        fp = state["fp"]
        fp.index_add_(0, batch.cells, fingerprint_terms(batch.indices, batch.top1))
        fp.remainder_(FP_MOD)

    def finalize(self, value, n: int) -> Dict[str, Any]:
        return {"pred_fingerprint": value["fp"] % FP_MOD}
