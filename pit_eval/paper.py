"""``run_eval.py paper``: reproduce the PiT paper's tables in one command.

The tables are data (``configs/paper.json``): columns with the protocol each measures and the
reference metrics shown beside it, rows = models; every column names its number by the metric
of a result kind (``clean.acc1``, ``speed.gmacs``, ``coco-c.mPC``: :mod:`pit_eval.result_kinds`). Page:
docs/paper.md. The run plans every (model, benchmark) cell the data allows, prints the plan (what runs, what is skipped and which flag or path would enable it, a
time estimate), runs the cells through the robustness runner and the results store (one directory per
model under ``<out>/robustness``; resumable; sharded under torchrun), measures size and speed with
the speed command, reads detection results, then writes the paper report
(:mod:`pit_eval.paper_report`).
"""
from __future__ import annotations

import logging
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from . import references, result_kinds
from .datasets import DATASETS, locate
from .engine import EngineConfig, is_main_process, process_world
from .extras import missing_detection_modules
from .images import SAMPLE_NOTE, DataError
from .models import RANDOM, check_weights
from .registry import UnknownNameError, check_choice
from .robustness import RobustnessConfig, flag_hint, missing_data
from .sweeps import ModelRun, duration, run_here
from .sweeps import plan as sweep_plan

logger = logging.getLogger(__name__)

@dataclass(frozen=True)
class PaperConfig:
    out: str = "results/paper"
    data_root: Optional[str] = None
    paths: Tuple[Tuple[str, str], ...] = ()
    tables: Optional[Tuple[str, ...]] = None        # None: every table
    models: Optional[Tuple[str, ...]] = None        # None: every row of the chosen tables
    weights: Tuple[Tuple[str, str], ...] = ()       # (model, file) pairs; others use `default_weights`
    default_weights: str = "auto"                   # auto | hub | random
    detection: Tuple[str, ...] = ()                 # results dirs or mmdet work_dirs to read
    #: every model's run settings and protocol options (``pit_eval.api.SETTINGS`` keywords but the engine's)
    settings: Dict[str, Any] = field(default_factory=dict)
    engine: EngineConfig = EngineConfig()

    def validate(self) -> "PaperConfig":
        spec = tables()
        for t in self.tables or ():
            check_choice("table", t, [s["id"] for s in spec])
        rows = {r["model"] for s in spec for r in s["rows"]}
        for m in self.models or ():
            check_choice("model of the paper tables", m, sorted(rows))
        check_choice("--weights", self.default_weights, ("auto", "hub", *RANDOM))
        for m, path in self.weights:
            if not os.path.isfile(path):
                raise DataError(f"--weights {m}={path}: file {path!r} does not exist")
        for d in self.detection:
            if not os.path.isdir(d):
                raise DataError(f"--detection {d!r} is not a directory (a detection results directory "
                                "or an mmdet work_dir)")
        return self


def tables() -> List[dict]:
    doc = references.load()["tables"]
    for t in doc:
        for c in t["columns"]:
            try:
                result_kinds.metric(c.get("metric", ""))
            except UnknownNameError as e:
                raise ValueError(f"{references.PATH}: table {t['id']!r}, column {c['id']!r}: {e} (a column "
                                 "names its number as '<part>.<metric>': a benchmark's metric, speed.* or "
                                 "coco.* / coco-c.*; docs/paper.md)") from None
    return doc


@dataclass
class PlannedCell:
    table: str
    model: str
    column: str
    status: str             # "run" | "skip" | "result" (detection / speed: read from results)
    why: str = ""           # for skips: what is missing and how to enable it


@dataclass
class Plan:
    cfg: PaperConfig
    tables: List[dict]
    cells: List[PlannedCell]
    benchmarks: Dict[str, List[str]]     # model -> robustness benchmarks to run
    sample: bool
    weights: Dict[str, str]              # model -> weights source to use
    models: Dict[str, dict]              # model -> its sweep plan (sweeps.plan: cells, forwards, seconds)
    speed_models: List[str]              # models of the classification table (speed command)
    detection_rows: Dict[str, Optional[str]]  # row -> results dir / work_dir found
    scans: dict = field(default_factory=dict)   # the plan's dataset scans, which the run goes on from

    @property
    def forwards(self) -> Dict[str, int]:
        """Per model, the forward-pass equivalents of its planned cells."""
        return {m: p["forwards"] for m, p in self.models.items()}

    def jobs(self) -> List[ModelRun]:
        return [ModelRun(m, model_config(self.cfg, m, self.weights[m], bs)) for m, bs in self.benchmarks.items()]


# ----------------------------------------------------------------------------------------- planning
def make_plan(cfg: PaperConfig) -> Plan:
    """The paper's cells: what runs, what is skipped and why; each model's robustness run planned as
    a sweep plans it (:func:`pit_eval.sweeps.plan`: the datasets scanned once, cells as data, the time
    from the model's measured or declared speed)."""
    cfg.validate()
    chosen = [t for t in tables() if cfg.tables is None or t["id"] in cfg.tables]
    locs = {n: locate(n, cfg.data_root, dict(cfg.paths)) for n in DATASETS}
    sample = any(l.is_sample for l in locs.values() if l.path)
    cells, benches, speed, det = [], {}, [], {}
    for t in chosen:
        for row in t["rows"]:
            m = row["model"]
            if cfg.models is not None and m not in cfg.models:
                continue
            for c in t["columns"]:
                cells.append(_plan_cell(t, m, c, locs, cfg, benches, speed, det))
    weights = {m: dict(cfg.weights).get(m, cfg.default_weights) for m in benches}
    plan = Plan(cfg, chosen, cells, benches, sample, weights, {}, speed, det)
    plan.models = {p["model"]: p for p in sweep_plan(plan.jobs(), plan.scans)}
    return plan


def _plan_cell(t, m, c, locs, cfg, benches, speed, det) -> PlannedCell:
    kind, metric = result_kinds.metric(c["metric"])
    if kind.name == "speed":
        if m not in speed:
            speed.append(m)
        return PlannedCell(t["id"], m, c["id"], "run")
    if kind.name == "detection":
        if m not in det:
            det[m] = find_detection_result(m, cfg)
        if det[m] is None:
            needs = "needs the detection install (make detection-setup), then " if missing_detection_modules() else ""
            return PlannedCell(t["id"], m, c["id"], "skip",
                               f"no detection results: {needs}train the row's config (mim train mmdet configs/<row>.py), "
                               "then pass its work_dir with --detection, or evaluate it into "
                               f"{cfg.out}/detection/<row> (run_eval.py detection --config configs/<row>.py "
                               "--checkpoint CKPT --out ...)")
        return PlannedCell(t["id"], m, c["id"], "result")
    b = metric.benchmark
    data = missing_data([b], locs).get(b)
    if data is not None:
        return PlannedCell(t["id"], m, c["id"], "skip", f"no {data} data: give {flag_hint(DATASETS[data], cfg.data_root)}")
    benches.setdefault(m, [])
    if b not in benches[m]:
        benches[m].append(b)
    return PlannedCell(t["id"], m, c["id"], "run")


def find_detection_result(row: str, cfg: PaperConfig) -> Optional[str]:
    """A detection results directory (meta.json) or mmdet work_dir (a config named ``row``)."""
    candidates = [Path(cfg.out) / "detection" / row] + [Path(d) for d in cfg.detection]
    for d in candidates:
        if (d / "summary.json").is_file() and _detection_model(d) == row:
            return str(d)
        if (d / f"{row}.py").is_file() or (d.name == row and any(d.glob("*/vis_data/scalars.json"))):
            return str(d)
    return None


def _detection_model(d: Path) -> Optional[str]:
    import json
    try:
        return json.loads((d / "summary.json").read_text()).get("model")
    except (OSError, ValueError):
        return None


def format_plan(plan: Plan) -> str:
    lines = ["paper plan" + (f"  !! {SAMPLE_NOTE}" if plan.sample else "")]
    for m, bs in plan.benchmarks.items():
        p = plan.models[m]
        lines.append(f"  run   {m:22s} weights {plan.weights[m]:6s} {', '.join(bs)}  "
                     f"({p['forwards']:,} forward-equivalents, ~{duration(p['seconds'])}: {p['speed_basis']})")
    if plan.speed_models:
        lines.append(f"  run   size and speed of {', '.join(plan.speed_models)} (speed command)")
    for d, where in plan.detection_rows.items():
        if where:
            lines.append(f"  read  {d:22s} detection results from {where}")
    skips = {}
    for c in plan.cells:
        if c.status == "skip":
            skips.setdefault(c.why, []).append(f"{c.model}/{c.column}")
    for why, what in skips.items():
        lines.append(f"  skip  {len(what)} cell(s) ({', '.join(what[:4])}{' ...' if len(what) > 4 else ''}): {why}")
    known = [p["seconds"] for p in plan.models.values() if p["seconds"] is not None]
    lines.append(f"  estimate: ~{duration(sum(known))} for the {len(known)} of {len(plan.models)} model(s) with a "
                 "speed (measured by an earlier run here, else declared: the README's V100 images/s, models "
                 "without one scaled by GMACs; the Background Challenge at its worst case); a CPU is one to two "
                 "orders of magnitude slower than a V100")
    return "\n".join(lines)


# ----------------------------------------------------------------------------------------- running
def run_paper(plan: Plan) -> dict:
    """Run what ``plan`` lists (resuming finished cells), then write the paper report."""
    from .paper_report import write_paper_report
    cfg = plan.cfg
    for m in plan.benchmarks:   # every model's weights, before any work
        check_weights(m, plan.weights[m], random_fallback=plan.sample)
    # the models as a sweep runs them: render groups share on-the-fly ImageNet-C, a failing model is
    # recorded and the next one starts
    state = run_here(plan.jobs(), scans=plan.scans)
    runs = {m: e["out"] for m, e in state.items() if e["status"] == "done"}
    failed = [e for e in state.values() if e["status"] != "done"]
    for e in failed:
        logger.error("paper: %s failed (%s); its cells are missing from the report", e["model"], e["error"])
    if not is_main_process():
        return {"plan": plan, "out": cfg.out, "report": None, "failed": failed}   # rank 0 measures speed and reports
    speed = _run_speed(plan) if plan.speed_models else None
    det = {m: _detection_dir(plan, m, d) for m, d in plan.detection_rows.items() if d}
    results = {"robustness": runs, "detection": det,
               "speed": {m: speed for m in plan.speed_models} if speed else {}}   # kind -> model -> directory
    paths = write_paper_report(plan, results, Path(cfg.out) / "report")
    return {"plan": plan, "out": cfg.out, "report": paths, "failed": failed}


def model_config(cfg: PaperConfig, model: str, weights: str, benches: List[str]):
    """A model's robustness run of the paper: the paper's protocol options, its benchmarks, its directory."""
    out = str(Path(cfg.out) / "robustness" / model.replace("/", "_"))
    return RobustnessConfig(model=model, weights=weights, out=out, data_root=cfg.data_root, paths=cfg.paths,
                            benchmarks=tuple(benches), engine=cfg.engine, **cfg.settings)


def _run_speed(plan: Plan) -> Optional[str]:
    from .speed import SpeedConfig, run_speed
    from .engine import Engine
    if process_world() > 1:
        logger.warning("paper: size and speed are not measured under torchrun (one process must time "
                       "the models); run `run_eval.py speed` separately")
        return None
    out = str(Path(plan.cfg.out) / "speed")
    eng = plan.cfg.engine
    cpu = Engine._select_device(eng.device, 0).type == "cpu"
    bc = SpeedConfig(models=tuple(plan.speed_models), out=out, batch_size=8 if cpu else 128,
                         repeats=3 if cpu else 5, iters=1 if cpu else 3, warmup=1 if cpu else 2,
                         engine=eng)
    run_speed(bc)
    return out


def _detection_dir(plan: Plan, row: str, where: str) -> str:
    """A detection results directory for ``row``: as found, or ingested from an mmdet work_dir."""
    from .detection import ingest_work_dir
    if (Path(where) / "summary.json").is_file():
        return where
    out = str(Path(plan.cfg.out) / "detection" / f"{row}-ingested")
    ingest_work_dir(where, out, force=True)
    return out
