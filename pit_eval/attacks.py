"""L-infinity FGSM and PGD in [0, 1] pixel space (the model normalises its input itself).

Defaults follow the protocol widely used for ViT robustness (RVT, Mao et al. 2022): FGSM one step
eps = 1/255; PGD 5 steps, eps = 1/255, step 0.5/255, random start; results clamped to [0, 1].
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Optional

import torch
import torch.nn.functional as F
from torch import nn

from .registry import Registry


@dataclass(frozen=True)
class AttackConfig:
    eps: float                 # in /255 units
    steps: int = 1
    step_size: Optional[float] = None  # in /255 units; FGSM uses eps
    random_start: bool = False

    def __post_init__(self) -> None:
        if self.eps < 0:
            raise ValueError(f"attack eps must be >= 0 (in /255 units), got {self.eps}")
        if self.steps < 1:
            raise ValueError(f"attack steps must be >= 1, got {self.steps}")
        if self.step_size is not None and self.step_size <= 0:
            raise ValueError(f"attack step size must be > 0 (in /255 units), got {self.step_size}")


def _input_grad(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> torch.Tensor:
    x = x.detach().requires_grad_(True)
    with torch.enable_grad():
        loss = F.cross_entropy(model(x).float(), y)
        (grad,) = torch.autograd.grad(loss, x)
    return grad


def fgsm(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float) -> torch.Tensor:
    """One signed-gradient step of size ``eps`` (pixel units in [0, 1])."""
    return (x + eps * _input_grad(model, x, y).sign()).clamp(0, 1).detach()


def pgd(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, steps: int,
        step_size: float, random_start: bool = True,
        generator: Optional[torch.Generator] = None) -> torch.Tensor:
    """Projected gradient ascent on the cross-entropy inside the L-inf ball of radius ``eps``."""
    adv = x.clone()
    if random_start and eps > 0:
        noise = torch.rand(x.shape, generator=generator, device="cpu").to(x.device, x.dtype)
        adv = (x + (noise * 2 - 1) * eps).clamp(0, 1)
    for _ in range(steps):
        adv = adv + step_size * _input_grad(model, adv, y).sign()
        adv = torch.min(torch.max(adv, x - eps), x + eps).clamp(0, 1).detach()
    return adv


ATTACKS: Registry = Registry("attack")


@ATTACKS.register("fgsm")
def _run_fgsm(model, x, y, cfg: AttackConfig, generator=None):
    return fgsm(model, x, y, cfg.eps / 255.0)


@ATTACKS.register("pgd")
def _run_pgd(model, x, y, cfg: AttackConfig, generator=None):
    step = (cfg.step_size if cfg.step_size is not None else cfg.eps / 2) / 255.0
    return pgd(model, x, y, cfg.eps / 255.0, cfg.steps, step, cfg.random_start, generator)
