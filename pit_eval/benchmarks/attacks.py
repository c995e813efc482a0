"""L-infinity FGSM and PGD in [0, 1] pixel space (the model normalises its input itself).

Defaults follow the protocol widely used for ViT robustness (RVT, Mao et al. 2022): FGSM one step
eps = 1/255; PGD 5 steps, eps = 1/255, step 0.5/255, random start; results clamped to [0, 1].
Each eps is one cell; PGD draws its random start per batch and rank, so its cells also depend on the
batch size. Page: docs/benchmarks/attacks.md.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, List, Optional, Tuple

import torch
import torch.nn.functional as F
from torch import nn

from ..settings import floats, option, positive
from .base import Benchmark, Cell, Metric, SummaryContext, curve, register


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


def _pgd_step(model, x, y, cfg: AttackConfig, generator):
    step = (cfg.step_size if cfg.step_size is not None else cfg.eps / 2) / 255.0
    return pgd(model, x, y, cfg.eps / 255.0, cfg.steps, step, cfg.random_start, generator)


@dataclass(frozen=True)
class FGSMOptions:
    fgsm_eps: Tuple[float, ...] = option((1.0,), "in /255 units, comma list", parse=floats)

    def __post_init__(self) -> None:
        self.attacks()

    def attacks(self) -> Tuple[AttackConfig, ...]:
        return tuple(AttackConfig(eps=e) for e in self.fgsm_eps)


@dataclass(frozen=True)
class PGDOptions:
    pgd_eps: Tuple[float, ...] = option((1.0,), "in /255 units, comma list", parse=floats)
    pgd_steps: int = option(5, "gradient steps", parse=positive(int))
    pgd_step_size: float = option(0.5, "in /255 units", parse=float)
    pgd_random_start: bool = option(True, "start from a uniform draw in the eps ball", parse=bool,
                                    flag="--pgd-no-random-start")

    def __post_init__(self) -> None:
        self.attacks()

    def attacks(self) -> Tuple[AttackConfig, ...]:
        return tuple(AttackConfig(eps=e, steps=self.pgd_steps, step_size=self.pgd_step_size,
                                  random_start=self.pgd_random_start) for e in self.pgd_eps)


class Attack(Benchmark):
    """Top-1 of the clean ImageNet val images after an L-inf attack, one cell per eps."""
    dataset = "imagenet"
    doc = "docs/benchmarks/attacks.md"

    def __init__(self, name: str, title: str, order: int, options: type, attack: Callable,
                 forwards_per_image: Callable, metric: Metric, batch_dependent: bool) -> None:
        self.name, self.title, self.order, self.options = name, title, order, options
        self.attack, self._forwards, self.metrics = attack, forwards_per_image, (metric,)
        self.batch_dependent = batch_dependent   # PGD: its random start is drawn per batch and rank

    def cost(self, images, opts) -> float:
        return images(self.dataset) * self._forwards(opts) * len(opts.attacks())

    def plan(self, run, opts) -> List[Cell]:
        clean, fp = run.clean()
        return [Cell(f"{self.name}/eps={a.eps:g}/steps={a.steps}/step={a.step_size}/rs={a.random_start}",
                     self.name, self.name, a.eps, fp, loop=lambda a=a: (clean, None, self._perturb(run, a)))
                for a in opts.attacks()]

    def _perturb(self, run, cfg: AttackConfig):
        """The attack as the engine's ``perturb``; its random draws seeded per run seed and rank."""
        gen = torch.Generator().manual_seed(run.seed + run.engine.rank)
        return lambda model, x, y: self.attack(model, x, y, cfg, gen)

    def summarize(self, cells: List[dict], ctx: SummaryContext) -> Optional[dict]:
        return curve(cells, "eps")

    def plots(self, runs):
        from ..plots import sweep_plot
        return {f"{self.name}_curve": sweep_plot(runs, "eps", f"{self.title} accuracy vs ε", "ε (/255)")}


register(Attack("fgsm", "FGSM", 40, FGSMOptions, lambda model, x, y, cfg, gen: fgsm(model, x, y, cfg.eps / 255.0),
                lambda opts: 4, Metric("acc1", "FGSM top-1 (first eps)", path=("acc1", 0),
                                       refs=("paper_fgsm_acc1",), column="FGSM", ci=("acc1_ci", 0)), batch_dependent=False))
register(Attack("pgd", "PGD", 41, PGDOptions, _pgd_step, lambda opts: 1 + 3 * opts.pgd_steps,
                Metric("acc1", "PGD top-1 (first eps)", path=("acc1", 0), column="PGD", ci=("acc1_ci", 0)), batch_dependent=True))
