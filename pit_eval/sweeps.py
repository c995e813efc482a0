"""Many models in one command: ``run_eval.py sweep --models ...`` / ``pit_eval.sweep(...)`` (:func:`run`).

Each model is a normal robustness run in ``<out>/<model>/`` (``robustness`` and ``report`` read it; a
re-run resumes it), with every other option applied to all. ``<out>/sweep.json`` records per model
its status (``done``, ``failed``, ``skipped``), the error, the duration, the batch size it ran with and
its results directory; a failing model does not end the sweep (a CUDA out-of-memory halves the batch
and retries, down to 1). At the end a leaderboard over the finished models: printed, and the report
(Markdown, HTML with plots, CSV) in ``<out>/report/``. ``launcher``: ``none`` runs the models here one
after another; ``local`` and ``slurm`` submit one job per model through submitit (its local executor,
or SLURM). Docs: docs/sweep.md."""
from __future__ import annotations

import difflib
import fnmatch
import json
import logging
import re
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Callable, Dict, List, Optional, Sequence, Tuple

from .datasets import shared_scans
from .extras import MissingInstall
from .models import MODEL_ALIASES, resolve_model_name
from .registry import UnknownNameError
from .files import atomic_write

logger = logging.getLogger(__name__)

SWEEP_FILE = "sweep.json"
PLAN_FILE = "plan.json"
LAUNCHERS = ("none", "local", "slurm")
SUBMITIT_INSTALL = "pip install submitit==1.5.4"
#: the most models held at once for one shared render (a group closes earlier when they fill half the device)
RENDER_GROUP = 8
#: the share of the accelerator's memory a render group's models may hold
DEVICE_SHARE = 0.5


@dataclass(frozen=True)
class SweepModel:
    name: str                      # as given or expanded (a timm name, a short name)
    weights: Optional[str] = None  # None: the sweep's --weights

    @property
    def folder(self) -> str:
        return re.sub(r"[^A-Za-z0-9._-]+", "_", self.name)


def expand_models(specs: Sequence[str]) -> List[SweepModel]:
    """Names, timm patterns (``pit_*``: ``timm.list_models(pattern, pretrained=True)``) and ``@file`` (a
    model per line, optionally followed by its weights; ``#`` comments) -> the models, in order, each
    once. An unknown name or a pattern that matches nothing raises, with close matches, before any work."""
    import timm
    out: List[SweepModel] = []
    for spec in specs:
        if spec.startswith("@"):
            path = Path(spec[1:])
            if not path.is_file():
                raise ValueError(f"--models {spec}: the model list {str(path)!r} does not exist")
            for n, line in enumerate(path.read_text().splitlines(), 1):
                parts = line.split("#")[0].split()
                if not parts:
                    continue
                if len(parts) > 2:
                    raise ValueError(f"{path}:{n}: expected 'model [weights]', got {line.strip()!r}")
                out.append(SweepModel(_known(parts[0], f"{path}:{n}"), parts[1] if len(parts) > 1 else None))
        elif any(ch in spec for ch in "*?["):
            found = timm.list_models(spec, pretrained=True) or [a for a in MODEL_ALIASES if fnmatch.fnmatch(a, spec)]
            if not found:
                close = difflib.get_close_matches(spec.replace("*", ""), list(MODEL_ALIASES) + timm.list_models(), n=5)
                raise UnknownNameError(f"--models: the pattern {spec!r} matches no model with pretrained weights"
                                       + (f"; close names: {', '.join(close)}" if close else ""))
            out += [SweepModel(n) for n in found]
        else:
            out.append(SweepModel(_known(spec, "--models")))
    seen, unique = set(), []
    for m in out:
        if m.name not in seen:
            seen.add(m.name)
            unique.append(m)
    if not unique:
        raise ValueError("--models names no model")
    return unique


def _known(name: str, where: str) -> str:
    try:
        resolve_model_name(name)
    except ValueError as e:
        raise UnknownNameError(f"{where}: {e}") from None
    return name


@dataclass(frozen=True)
class SweepConfig:
    models: Tuple[str, ...]
    out: str
    options: Dict[str, Any] = field(default_factory=dict)   # pit_eval.evaluate keywords, for every model
    launcher: str = "none"
    slurm: Dict[str, Any] = field(default_factory=dict)     # partition, gpus_per_node, timeout_min, extra
    render_group: int = RENDER_GROUP   # models that share one render (on-the-fly ImageNet-C); 1: none
    dry_run: bool = False              # write the plan (plan.json) and stop


def load_state(out: Path) -> Dict[str, dict]:
    path = out / SWEEP_FILE
    return {e["model"]: e for e in json.loads(path.read_text())["models"]} if path.is_file() else {}


def _save(out: Path, cfg: SweepConfig, state: Dict[str, dict]) -> None:
    doc = {"models": list(state.values()), "launcher": cfg.launcher,
           "options": {k: v for k, v in cfg.options.items() if v is not None}}
    atomic_write(out / SWEEP_FILE, json.dumps(doc, indent=2, sort_keys=True, default=str) + "\n")


@dataclass(frozen=True)
class ModelRun:
    """One model's robustness run in a sweep (or the paper's): its name (the sweep.json key) and its
    whole config (``out`` set)."""
    name: str
    config: Any         # a RobustnessConfig


def run_model(job: ModelRun, built=None) -> dict:
    """One model's run (``built``: its RobustnessRun, already made for a shared render); a CUDA
    out-of-memory halves the batch and retries down to 1. Returns its sweep.json entry (the caller
    records an exception as ``failed``)."""
    import torch
    from .robustness import RobustnessRun
    batch, retries, t0 = job.config.engine.batch_size, [], time.time()
    while True:
        try:
            run = built or RobustnessRun(replace(job.config, engine=replace(job.config.engine, batch_size=batch)))
            res = run.run()
            break
        except torch.cuda.OutOfMemoryError:
            run = built = None          # its model leaves the device before the retry's is built
            if batch == 1:
                raise
            retries.append(batch)
            batch = max(1, batch // 2)
            logger.warning("%s: CUDA out of memory; retrying with batch size %d", job.name, batch)
            torch.cuda.empty_cache()
    return {"model": job.name, "status": "done", "error": None, "seconds": round(time.time() - t0, 1),
            "out": res["out"], "batch_size": batch, "oom_retries": retries}


def plan(jobs: List[ModelRun], scans: Optional[dict] = None) -> List[dict]:
    """Every model's plan as data, before any work, without building a model or reading weights: its
    transform, its cells' specs (:meth:`pit_eval.benchmarks.Cell.spec`), its forward-pass equivalents
    and their time (:func:`seconds_estimate`). The datasets are scanned once for all the models (into
    ``scans``, which the run that follows may go on from: :func:`run_here`)."""
    from .robustness import RobustnessRun
    out = []
    with shared_scans(scans):
        for job in jobs:
            run = RobustnessRun(job.config, plan_only=True)
            forwards = run.forwards()
            seconds, basis = seconds_estimate(job.name, forwards, job.config.out)
            out.append({"model": job.name, "out": job.config.out, "transform": run.transform.to_dict(),
                        "benchmarks": [u.name for u in run.units], "forwards": forwards,
                        "seconds": seconds, "speed_basis": basis, "cells": [c.spec() for c in run.cells]})
    return out


def seconds_estimate(model: str, forwards: int, out: Optional[str] = None) -> Tuple[Optional[float], str]:
    """Seconds for ``forwards`` forward-pass equivalents of ``model`` and what the speed rests on:
    measured (the image-cells per second of the model's earlier run in ``out``, on that run's device)
    or declared (its V100 images/s in the paper file, or PiT-S's scaled by GMACs:
    :func:`pit_eval.references.declared_speed`); ``(None, "no speed reference")`` without either."""
    from . import references
    summary = Path(out or "", "summary.json")
    if out and summary.is_file():
        t = (json.loads(summary.read_text()).get("throughput") or {})
        rate = t.get("image_cells_per_s")
        if rate:
            timer = "GPU" if "cuda" in t.get("device_timer", "") else "CPU"
            return forwards / rate, f"measured: {rate:,.0f} image-cells/s by its earlier run here ({timer})"
    arch = resolve_model_name(model)
    names = [model] + [a for a, n in MODEL_ALIASES.items() if n == arch and a != model]
    speed = next((v for v in map(references.declared_speed, names) if v), None)
    if speed:
        return forwards / speed, f"declared: {speed:,.0f} images/s on a V100 (the paper file)"
    return None, "no speed reference"


def duration(seconds: Optional[float]) -> str:
    if seconds is None:
        return "?"
    if seconds < 60:
        return f"{seconds:.1f} s"
    return f"{seconds / 3600:.1f} h" if seconds >= 3600 else f"{seconds / 60:.1f} min"


def format_plan(planned: List[dict]) -> str:
    """The CLI's plan: per model its input size, benchmarks, cells, forward-pass equivalents and time."""
    known = [p["seconds"] for p in planned if p["seconds"] is not None]
    lines = [f"sweep plan: {len(planned)} model(s), {sum(p['forwards'] for p in planned):,} forward-pass "
             "equivalents in all, " + (f"~{duration(sum(known))} for the {len(known)} of {len(planned)} with a "
                                       "known speed" if known else "no model's speed known")]
    width = max(len(p["model"]) for p in planned)
    for p in planned:
        lines.append(f"  {p['model']:{width}s}  {p['transform']['input_size']} px  {len(p['cells'])} cells  "
                     f"{p['forwards']:>12,} forwards  ~{duration(p['seconds'])} ({p['speed_basis']})  "
                     f"{', '.join(p['benchmarks'])}")
    return "\n".join(lines)


def api(models, *, out: str, launcher: str = "none", partition: Optional[str] = None, gpus_per_node: int = 1,
        timeout_min: Optional[int] = None, slurm: Optional[Dict[str, Any]] = None, render_group: int = RENDER_GROUP,
        dry_run: bool = False, **options) -> dict:
    """``pit_eval.sweep(["pit_*", "resnet50"], out="sweeps/pit", benchmarks="clean,imagenet-a", ...)``: the
    sweep command from Python; ``options``: :func:`pit_eval.evaluate`'s keywords, for every model (an
    unknown one raises TypeError, with close matches, before any work)."""
    models = (models,) if isinstance(models, str) else tuple(models)
    return run(SweepConfig(models, out, options, launcher, {"partition": partition, "gpus_per_node": gpus_per_node,
                                                             "timeout_min": timeout_min, "extra": dict(slurm or {})},
                           render_group, dry_run))


def run(cfg: SweepConfig) -> dict:
    """Run every model (resuming the sweep in ``cfg.out``); returns ``{"models": [...], "failed": [...],
    "report": [...]}``. Everything is checked before the first model starts."""
    from .api import build_config
    if cfg.launcher not in LAUNCHERS:
        raise ValueError(f"--launcher must be one of {', '.join(LAUNCHERS)}, got {cfg.launcher!r}")
    if cfg.render_group < 1:
        raise ValueError(f"--render-group must be 1 (no shared render) or more, got {cfg.render_group}")
    models = expand_models(cfg.models)
    out = Path(cfg.out)
    # bad options and bad weights values stop here, not after the first model
    jobs = [ModelRun(m.name, build_config(m.name, out=str(out / m.folder),
                                          **{**cfg.options, **({"weights": m.weights} if m.weights else {})}).validate())
            for m in models]
    out.mkdir(parents=True, exist_ok=True)
    # planned here for a run in this process, which goes on from the plan's scans; submitit jobs plan
    # their own models (a SLURM sweep's data may be mounted only on its nodes)
    scans: dict = {}
    if cfg.dry_run or cfg.launcher == "none":
        planned = plan(jobs, scans)
        atomic_write(out / PLAN_FILE, json.dumps({"models": planned}, indent=1, default=str) + "\n")
        if cfg.dry_run:
            return {"models": [], "failed": [], "report": [], "plan": planned}
        logger.info("%s", format_plan(planned))
    state = load_state(out)
    logger.info("sweep of %d model(s) into %s (%s)", len(models), out,
                ", ".join(f"{m.name}: {state[m.name]['status']}" if m.name in state else m.name for m in models))
    if cfg.launcher == "none":
        run_here(jobs, cfg.render_group, state, lambda: _save(out, cfg, state), scans)
    else:
        _run_submitit(jobs, cfg, out, state)
    return finish(out, models, state)


def run_here(jobs: List[ModelRun], render_group: int = RENDER_GROUP, state: Optional[Dict[str, dict]] = None,
             save: Callable[[], None] = lambda: None, scans: Optional[dict] = None) -> Dict[str, dict]:
    """Run the models here, in render groups of ``render_group``: a group's shared passes first (one
    render for all, :func:`_share_renders`), then each model's run, a failure recorded and the next
    model started (Ctrl-C: the model in progress is ``interrupted`` and the interrupt goes on).
    ``state``: the sweep.json entries so far (``done`` models are left out of render groups; their
    runs resume, computing what is missing); ``save()`` after each change; ``scans``: a plan's (:func:`plan`),
    not scanned again. Returns ``state``."""
    state = {} if state is None else state
    with shared_scans(scans):         # each dataset folder scanned once for all the models
        rest, share = list(jobs), render_group > 1
        while rest:
            group = rest[:render_group] if share else rest
            pending = [j for j in group if state.get(j.name, {}).get("status") != "done"]
            built: Dict[str, Any] = {}
            if share and len(pending) > 1:
                took, share, built = _share_renders(pending)
                group = rest[:rest.index(pending[took - 1]) + 1]
            for j in group:        # a finished model too: its run resumes (options may have grown)
                _run_one_here(j, state, save, built.pop(j.name, None))
            rest = rest[len(group):]
    return state


def _share_renders(candidates: List[ModelRun]) -> Tuple[int, bool, Dict[str, Any]]:
    """Build the candidates' runs (fewer when they fill :data:`DEVICE_SHARE` of the accelerator) and
    let them compute their shared passes together (:func:`pit_eval.robustness.run_together`). Returns
    how many candidates the group took, whether the plan has anything to share (False: the rest of the
    sweep runs model by model) and the built runs by name (each model's own run then uses its own; a
    model is built once). A model that cannot be built is left to its own run, which records the
    failure; a failing shared pass only costs the sharing."""
    import torch
    from .robustness import RobustnessRun, run_together
    runs, names, took = [], [], 0
    try:
        for job in candidates:
            took += 1
            try:
                runs.append(RobustnessRun(job.config))
                names.append(job.name)
            except Exception as e:      # its own run reports it
                logger.warning("%s: not in the shared render (%s: %s)", job.name, type(e).__name__, e)
            device = runs[0].engine.device if runs else None
            if device is not None and device.type == "cuda":
                free, total = torch.cuda.mem_get_info(device)
                if total - free > DEVICE_SHARE * total:
                    logger.info("render group closed at %d model(s): they hold %.0f %% of the device memory",
                                len(runs), 100 * (total - free) / total)
                    break
        shareable = len(runs) < 2 or run_together(runs, names) > 0
        return took, shareable, (dict(zip(names, runs)) if shareable else {})
    except Exception as e:  # a CUDA out-of-memory included: the models still render alone
        logger.warning("the shared render of %s failed (%s: %s); each model renders alone", ", ".join(names),
                       type(e).__name__, e)
        runs.clear()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
        return took, True, {}


def _run_one_here(job: ModelRun, state: Dict[str, dict], save: Callable[[], None], built=None) -> None:
    t0, name = time.time(), job.name
    state[name] = {"model": name, "status": "running", "error": None, "out": job.config.out}
    save()
    try:
        state[name] = run_model(job, built)
    except KeyboardInterrupt:
        state[name] = {**state[name], "status": "interrupted", "seconds": round(time.time() - t0, 1)}
        save()
        raise
    except Exception as e:      # any model's failure is recorded; the next one starts
        logger.error("%s failed: %s: %s", name, type(e).__name__, e)
        state[name] = {**state[name], "status": "failed", "error": f"{type(e).__name__}: {e}",
                       "seconds": round(time.time() - t0, 1)}
    save()


def _executor(cfg: SweepConfig, out: Path):
    try:
        import submitit
    except ImportError:
        raise MissingInstall(f"--launcher {cfg.launcher} submits through submitit, which is not installed: "
                             f"{SUBMITIT_INSTALL}") from None
    folder = out / "submitit" / "%j"
    ranks = int(cfg.slurm.get("gpus_per_node") or 1)
    if cfg.launcher == "local":
        ex = submitit.LocalExecutor(folder=str(folder))
        ex.update_parameters(timeout_min=int(cfg.slurm.get("timeout_min") or 60 * 24), tasks_per_node=ranks,
                             gpus_per_node=ranks if _has_cuda() else 0)
        return ex
    ex = submitit.AutoExecutor(folder=str(folder), cluster="slurm")
    params = {"timeout_min": int(cfg.slurm.get("timeout_min") or 60 * 24), "nodes": 1, "tasks_per_node": ranks,
              "gpus_per_node": ranks}
    if cfg.slurm.get("partition"):
        params["slurm_partition"] = cfg.slurm["partition"]
    for k, v in (cfg.slurm.get("extra") or {}).items():
        params[f"slurm_{k}"] = v
    ex.update_parameters(**params)
    return ex


def _has_cuda() -> bool:
    import torch
    return torch.cuda.is_available()


def run_job(jobs: List[ModelRun], render_group: int) -> List[dict]:
    """One submitit job: a render group's models, one after another, as a local sweep runs them; with
    several tasks (``--gpus-per-node``), each task is a rank of every model's run (the torch.distributed
    environment torchrun would set, from submitit's job environment). Returns the models' sweep.json
    entries (rank 0's are the job's result)."""
    import submitit
    if submitit.JobEnvironment().num_tasks > 1:
        submitit.helpers.TorchDistributedEnvironment().export(set_cuda_visible_devices=False)
    state = run_here(jobs, render_group)
    return [state[j.name] for j in jobs]


def _run_submitit(runs: List[ModelRun], cfg: SweepConfig, out: Path, state: Dict[str, dict]) -> None:
    """One job per render group (``render_group`` models: they share a render inside the job); the
    sweep waits for them, recording each job id as it is submitted."""
    ex = _executor(cfg, out)
    pending = [m for m in runs if state.get(m.name, {}).get("status") != "done"]
    jobs = []
    for i in range(0, len(pending), cfg.render_group):
        group = pending[i:i + cfg.render_group]
        job = ex.submit(run_job, group, cfg.render_group)
        for m in group:
            state[m.name] = {"model": m.name, "status": "submitted", "error": None, "out": m.config.out,
                             "job_id": job.job_id, "launcher": cfg.launcher}
        jobs.append((group, job))
        logger.info("%s: submitted as job %s", ", ".join(m.name for m in group), job.job_id)
    _save(out, cfg, state)
    for group, job in jobs:
        try:
            entries = {e["model"]: e for e in job.results()[0]}
        except Exception as e:      # submitit re-raises the job's exception (FailedJobError for a lost job)
            msg = str(e).strip().splitlines()
            error = f"{type(e).__name__}: {msg[-1] if msg else e}"
            entries = {m.name: {**state[m.name], "status": "failed", "error": error} for m in group}
            logger.error("job %s (%s) failed: %s", job.job_id, ", ".join(m.name for m in group), error)
        for m in group:
            state[m.name] = {**entries[m.name], "job_id": job.job_id, "launcher": cfg.launcher}
        _save(out, cfg, state)


def finish(out: Path, models: List[SweepModel], state: Dict[str, dict]) -> dict:
    """The leaderboard over the finished models (their report), and the failed ones."""
    from .report import build_report
    done = [state[m.name] for m in models if state.get(m.name, {}).get("status") == "done"]
    failed = [state[m.name] for m in models if state.get(m.name, {}).get("status") != "done"]
    report = build_report([e["out"] for e in done], str(out / "report")) if done else []
    return {"models": [state[m.name] for m in models], "failed": failed, "report": report}


def leaderboard(result: dict) -> str:
    """The CLI's table: one row per finished model, every metric with a report column."""
    from .tables import fmt
    from .result_kinds import Run
    from .result_kinds.robustness import robustness_rows
    runs = [Run(Path(e["out"])) for e in result["models"] if e.get("status") == "done"]
    rows = robustness_rows(runs)
    if not rows:
        return "no model finished"
    cols = [c for c in rows[0] if c not in ("run",) and any(r.get(c) is not None for r in rows)]
    width = {c: max(len(c), *(len(fmt(r.get(c))) for r in rows)) for c in cols}
    lines = ["  ".join(f"{c:{width[c]}s}" for c in cols)]
    lines += ["  ".join(f"{fmt(r.get(c)):{width[c]}s}" for c in cols) for r in rows]
    return "\n".join(lines)
