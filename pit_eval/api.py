"""The Python entry point: ``pit_eval.evaluate(model, ...)`` for a timm name or any ``nn.Module``.

    import pit_eval, torchvision
    net = torchvision.models.resnet50(weights=...)          # your trained module
    res = pit_eval.evaluate(net, name="my_r50", mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225),
                            benchmarks=["clean", "imagenet-c", "autoattack"], data_root="/datasets")
    res.summary["benchmarks"]["autoattack"]["robust_acc"]

Keyword arguments are the CLI's flags with ``_`` for ``-`` (``data_root=``, ``imagenet_c=``,
``corruptions=``, ``fgsm_eps=``, ``autoattack_eps=``, ``batch_size=``, ...); lists may be given as
Python sequences. The run is the CLI's run: same protocols, results directory, resume, lock and
torchrun sharding; ``run_eval.py robustness`` is a thin layer over this function.

Normalisation: ``mean`` / ``std`` are the normalisation the module expects of its input (it is
applied inside, so attacks work in [0, 1] pixels); both None = the module takes [0, 1] input. For a
timm name they default to its pretrained cfg. A wrong declaration cannot be detected in general: it
shows as a collapse of clean accuracy (a known-good ImageNet model below a few per cent on the clean
set means the declaration is wrong).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, fields
from typing import Iterable, Optional, Sequence, Union

from torch import nn

from .attacks import AttackConfig
from .autoattack import AutoAttackConfig
from .datasets import DATASETS
from .engine import EngineConfig
from .occlusion import OcclusionConfig
from .robustness import RobustnessConfig, RobustnessRun

#: option -> default; the CLI's protocol flags (see ``run_eval.py robustness -h``)
OPTIONS = {
    "weights": "auto", "out": None, "data_root": None, "benchmarks": None,
    "corruptions": "all", "severities": (1, 2, 3, 4, 5), "imagenet_c_source": "auto",
    "corruption_backend": "fast", "corruption_protocol": "imagenet-c", "imagenet_c_block": 2048, "occlusion_protocol": "patch_drop", "occlusion_levels": (0.0, 0.25, 0.5, 0.75),
    "occlusion_patch": 16, "occlusion_fill": "0", "occlusion_paper_box": 112, "occlusion_paper_fill": "0",
    "fgsm_eps": (1.0,), "pgd_eps": (1.0,), "pgd_steps": 5, "pgd_step_size": 0.5, "pgd_random_start": True,
    "autoattack_eps": 4.0, "autoattack_images": 5000, "bgc_max_backgrounds": None, "in9_map": None,
    "seed": 0, "max_images": None, "on_bad_image": "error", "force": False, "recompute_mismatched": False,
    "crop_pct": None, "interpolation": None, "input_size": None, "mean": None, "std": None,
    **{f.name: f.default for f in fields(EngineConfig)},
    **{name.replace("-", "_"): None for name in DATASETS},
}


@dataclass(frozen=True)
class EvalResult:
    """What :func:`evaluate` returns.

    ``out``: the results directory (meta.json, cells.jsonl, summary.json, summary.csv).
    ``summary``: the summary.json document: ``model``, ``weights`` (source, sha256, random_init),
    ``flags`` (sample data, random weights, subsets), ``benchmarks`` (per benchmark: ``clean`` /
    ``imagenet-a`` / ... ``{acc1, acc5, n}``; ``imagenet-c`` ``{mce, relative_mce, mean_corrupted_acc,
    per_corruption, grid}``; ``occlusion`` ``{levels, acc1, auc, paper_acc1}``; ``fgsm`` / ``pgd``
    ``{eps, acc1}``; ``autoattack`` ``{robust_acc, clean_acc, acc_after, n, eps}``; ``in9``;
    ``bgc``), ``reference`` (ours beside the published values)."""
    out: str
    summary: dict

    def __getitem__(self, key: str):
        return self.summary[key]


def _seq(v, cast=lambda x: x) -> tuple:
    if isinstance(v, str):
        return tuple(cast(x.strip()) for x in v.split(",") if x.strip())
    if isinstance(v, Iterable):
        return tuple(cast(x) for x in v)
    return (cast(v),)


def build_config(model_name: str, **options) -> RobustnessConfig:
    """A RobustnessConfig from CLI-named options (unknown names raise TypeError with suggestions)."""
    unknown = [k for k in options if k not in OPTIONS]
    if unknown:
        k = unknown[0]
        close = difflib.get_close_matches(k, OPTIONS, n=3)
        raise TypeError(f"evaluate() got an unknown option {k!r}"
                        + (f"; did you mean {', '.join(close)}?" if close else "")
                        + f" Options: {', '.join(sorted(OPTIONS))}")
    o = {**OPTIONS, **options}
    pgd_steps, pgd_step, rs = o["pgd_steps"], o["pgd_step_size"], o["pgd_random_start"]
    return RobustnessConfig(
        model=model_name, weights=o["weights"], out=o["out"], data_root=o["data_root"],
        paths=tuple((n, str(o[n.replace("-", "_")])) for n in DATASETS if o[n.replace("-", "_")]),
        benchmarks=_seq(o["benchmarks"]) if o["benchmarks"] else None,
        corruptions=_seq(o["corruptions"]), severities=_seq(o["severities"], int),
        imagenet_c_source=o["imagenet_c_source"], corruption_backend=o["corruption_backend"],
        corruption_protocol=o["corruption_protocol"], imagenet_c_block=int(o["imagenet_c_block"]),
        occlusion=OcclusionConfig(o["occlusion_protocol"], _seq(o["occlusion_levels"], float),
                                  o["occlusion_patch"], str(o["occlusion_fill"]), o["occlusion_paper_box"],
                                  str(o["occlusion_paper_fill"])),
        fgsm=tuple(AttackConfig(eps=e) for e in _seq(o["fgsm_eps"], float)),
        pgd=tuple(AttackConfig(eps=e, steps=pgd_steps, step_size=pgd_step, random_start=rs)
                  for e in _seq(o["pgd_eps"], float)),
        autoattack=AutoAttackConfig(eps=float(o["autoattack_eps"]), n_images=int(o["autoattack_images"])),
        bgc_max_backgrounds=o["bgc_max_backgrounds"], in9_map=o["in9_map"], seed=o["seed"],
        max_images=o["max_images"], on_bad_image=o["on_bad_image"], force=o["force"],
        recompute_mismatched=bool(o["recompute_mismatched"]),
        crop_pct=o["crop_pct"], interpolation=o["interpolation"], input_size=o["input_size"],
        mean=_seq(o["mean"], float) if o["mean"] is not None else None,
        std=_seq(o["std"], float) if o["std"] is not None else None,
        engine=EngineConfig(**{f.name: o[f.name] for f in fields(EngineConfig)}))


def evaluate(model: Union[str, nn.Module], *, name: Optional[str] = None,
             benchmarks: Optional[Union[str, Sequence[str]]] = None, out: Optional[str] = None,
             **options) -> EvalResult:
    """Evaluate ``model`` — a timm / short name (with ``weights=``) or any ``nn.Module`` — on the
    robustness benchmarks; returns an :class:`EvalResult`. ``name`` names a module's run (default:
    its class name). Options: see the module docstring and ``OPTIONS``."""
    if isinstance(model, nn.Module):
        run_name = name or type(model).__name__
        if "weights" in options:
            raise TypeError("weights= is for a model name; a module brings its own weights")
        cfg = build_config(run_name, benchmarks=benchmarks, out=out, **options)
        run = RobustnessRun(cfg, module=model)
    elif isinstance(model, str):
        if name is not None:
            raise TypeError("name= names the run of an nn.Module; a model name names its own run")
        run = RobustnessRun(build_config(model, benchmarks=benchmarks, out=out, **options))
    else:
        raise TypeError(f"model must be a model name or an nn.Module, got {type(model).__name__}")
    res = run.run()
    return EvalResult(out=res["out"], summary=res["summary"])

