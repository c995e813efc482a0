"""Size and speed of models (``run_eval.py speed``): parameters, MACs, inference (and optional training-step) throughput and peak
memory, with models timed interleaved so that ratios hold on a noisy machine.

Convention: "FLOPs" in the PiT/DeiT papers are multiply-accumulates; we report GMACs."""
from __future__ import annotations

import logging
import statistics
import time
from dataclasses import asdict, dataclass
from typing import Dict, List, Optional, Tuple

import torch
from . import progress

from . import references
from .engine import Engine, EngineConfig
from .flops import count_macs, count_params
from .models import create_model
from .results import RunDir

logger = logging.getLogger(__name__)

#: the DeiT each model's throughput is compared with (same size class in the PiT paper's table)
DEIT_OF = {"pit_ti": "deit_tiny", "pit_xs": "deit_tiny", "pit_s": "deit_small", "pit_b": "deit_base",
           "pit_ti_distilled": "deit_tiny_distilled", "pit_xs_distilled": "deit_tiny_distilled",
           "pit_s_distilled": "deit_small_distilled", "pit_b_distilled": "deit_base_distilled"}


@dataclass(frozen=True)
class SpeedConfig:
    models: Tuple[str, ...]
    out: Optional[str] = None
    batch_size: int = 128
    input_size: int = 224
    repeats: int = 5
    iters: int = 3          # forward passes per timed repeat
    warmup: int = 2
    train_step: bool = False
    engine: EngineConfig = EngineConfig()

    def validate(self) -> "SpeedConfig":
        if not self.models:
            raise ValueError("--models needs at least one model, e.g. --models pit_s,deit_small")
        for k in ("batch_size", "repeats", "iters", "input_size"):
            if getattr(self, k) < 1:
                raise ValueError(f"--{k.replace('_', '-')} must be >= 1, got {getattr(self, k)}")
        return self


def throughput_ratios(ips: Dict[str, float]) -> Dict[str, dict]:
    """Each PiT's images/s relative to its DeiT, beside the paper's V100 ratio."""
    out = {}
    for m, deit in DEIT_OF.items():
        if m in ips and deit in ips and ips[deit] > 0:
            pm, pd = references.lookup(m, "throughput_v100"), references.lookup(deit, "throughput_v100")
            out[m] = {"vs": deit, "ratio": ips[m] / ips[deit],
                      "paper_ratio": pm["value"] / pd["value"] if pm and pd else None}
    return out


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def _step(model, x, engine: Engine, train: bool) -> None:
    if train:
        with engine.autocast():
            loss = model(x).float().logsumexp(1).mean()
        loss.backward()
        model.zero_grad(set_to_none=True)
    else:
        with torch.inference_mode(), engine.autocast():
            model(x)


def _time(model, x, engine: Engine, cfg: SpeedConfig, train: bool) -> float:
    _sync(engine.device)
    t0 = time.perf_counter()
    for _ in range(cfg.iters):
        _step(model, x, engine, train)
    _sync(engine.device)
    return cfg.batch_size * cfg.iters / (time.perf_counter() - t0)


def run_speed(cfg: SpeedConfig) -> dict:
    cfg.validate()
    engine = Engine(cfg.engine)
    out = cfg.out or "results/speed/" + "-".join(cfg.models)[:80]
    rd = RunDir(out, "speed", {"device": engine.describe(), "batch_size": cfg.batch_size,
                                   "input_size": cfg.input_size}, asdict(cfg), force=True,
                settings=engine.cell_settings())
    try:
        models, rows = {}, {}
        for name in cfg.models:
            model, _ = create_model(name, weights="none")
            rows[name] = {"key": name, "model": name, "params_m": count_params(model) / 1e6,
                          "gmacs": count_macs(model, cfg.input_size) / 1e9}
            models[name] = engine.prepare(model)
        x = torch.randn(cfg.batch_size, 3, cfg.input_size, cfg.input_size, device=engine.device)
        if cfg.engine.channels_last:
            x = x.contiguous(memory_format=torch.channels_last)
        modes = ["infer"] + (["train"] if cfg.train_step else [])
        samples: Dict[Tuple[str, str], List[float]] = {(m, k): [] for m in models for k in modes}
        peak: Dict[str, Optional[float]] = {m: None for m in models}
        for mode in modes:
            for m, model in models.items():
                model.train(mode == "train")
                for _ in range(cfg.warmup):
                    _step(model, x, engine, mode == "train")
            for _ in progress.bar(range(cfg.repeats), desc=f"timing ({mode})", disable=cfg.engine.quiet):
                for m, model in models.items():  # interleaved: every repeat times every model
                    if engine.device.type == "cuda":
                        torch.cuda.reset_peak_memory_stats(engine.device)
                    samples[(m, mode)].append(_time(model, x, engine, cfg, mode == "train"))
                    if engine.device.type == "cuda":
                        peak[m] = max(peak[m] or 0, torch.cuda.max_memory_allocated(engine.device) / 2**20)
        for m, row in rows.items():
            for mode in modes:
                s = samples[(m, mode)]
                row[f"{mode}_ips_median"] = statistics.median(s)
                row[f"{mode}_ips_min"], row[f"{mode}_ips_max"] = min(s), max(s)
            row["peak_mem_mib"] = peak[m]
            rd.add(row)
        ratios = throughput_ratios({m: r["infer_ips_median"] for m, r in rows.items()})
        summary = {"device": engine.describe(), "batch_size": cfg.batch_size, "models": rows,
                   "ratios_vs_deit": ratios, "flags": [], "convention": "GMACs (multiply-accumulates), "
                   "the papers' 'FLOPs'; throughput in images/s, median of interleaved repeats"}
        rd.write_summary(summary, list(rows.values()))
    finally:
        rd.release()
    return {"out": out, "summary": summary}


def format_speed(summary: dict) -> str:
    lines = [f"device {summary['device']['device']}  batch {summary['batch_size']}",
             f"{'model':22s} {'params M':>9s} {'GMACs':>7s} {'img/s':>9s} {'(min–max)':>17s}  ratio vs DeiT (paper V100)"]
    for m, r in summary["models"].items():
        rat = summary["ratios_vs_deit"].get(m)
        rs = f"{rat['ratio']:.2f} vs {rat['vs']} ({rat['paper_ratio']:.2f})" if rat and rat["paper_ratio"] else ""
        lines.append(f"{m:22s} {r['params_m']:9.2f} {r['gmacs']:7.2f} {r['infer_ips_median']:9.1f} "
                     f"{r['infer_ips_min']:8.1f}–{r['infer_ips_max']:<8.1f}  {rs}")
    return "\n".join(lines)
