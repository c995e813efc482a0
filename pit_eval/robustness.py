"""The robustness run: the orchestrator of the benchmarks in :mod:`pit_eval.benchmarks`.

It keeps only what every benchmark shares: the model and its eval transform, where the data lives,
the results directory and its lock, resume by cell key and fingerprint, torchrun, the progress bar
and the loop over the benchmarks' cells; it names no benchmark. How a run is built:
docs/architecture.md; the results format: docs/results.md."""
from __future__ import annotations

import contextlib
import dataclasses
import logging
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

import timm
import torch
from torch import nn

from . import benchmarks, population, prediction_files, progress, references
from .benchmarks import Benchmark, Cell, RunContext, SummaryContext, cell_record, record_metrics, subset_flag
from .loop_metrics import LoopMetric, default_metrics, finalize, rows_of
from .datasets import (DATASETS, comparable, data_change, fingerprint, flag, image_counter, locate,
                       open_folder, planned_images, save_file_lists)
from .engine import BATCH_SETTINGS, PREDICTION_SETTINGS, Engine, EngineConfig
from .images import SAMPLE_NOTE, DataError, EvalTransform, ImageList, sample_paths
from .models import (WeightsInfo, create_model, for_evaluation, module_weights, normalisation_mismatch,
                     resolve_model_name)
from .registry import check_choice
from .results import (SETTING_LABELS, ResultsError, RunDir, mismatch_message, provenance_flags,
                      provenance_summary)
from .settings import floats, option, optional, parse_fields, positive
from .stall import StallMeter, merge, stall_warning

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class RunSettings:
    """The settings every benchmark shares; :class:`RobustnessConfig` adds every benchmark's options."""
    model: str
    weights: str = "auto"
    out: Optional[str] = None
    data_root: Optional[str] = None
    paths: Tuple[Tuple[str, str], ...] = ()       # (dataset name, folder) overrides
    benchmarks: Optional[Tuple[str, ...]] = None  # None: every default benchmark whose data is available
    seed: int = option(0, "the seed of random weights, random attack starts and on-the-fly corruptions", parse=int)
    max_images: Optional[int] = option(None, "evaluate an evenly spaced subset of this many images per dataset",
                                       parse=optional(positive(int)))
    on_bad_image: str = option("error", "an undecodable image or a sample without a label: stop (error) or count it "
                               "as skipped", choices=("error", "skip"))
    force: bool = False
    # the run settings: each declared once (pit_eval.settings), for the CLI flag, the API keyword and this field
    recompute_mismatched: bool = option(
        False, "resume into a directory whose finished cells were computed with other prediction-affecting "
        "settings (amp, device, compile, channels-last; batch size for the batch-dependent benchmarks) by "
        "recomputing exactly those cells (default: stop and name them)")
    recompute_incomplete: bool = option(
        False, "recompute finished cells that lack a quantity this pit_eval records (calibration, per-image "
        "predictions written by an earlier version; logits for --save-logits)")
    save_logits: bool = option(False, "the per-image predictions files also keep every logit (float16, ~2 KB per "
                               "image per cell)")
    crop_pct: Optional[float] = option(None, "the eval transform's crop fraction (default: the model's pretrained "
                                       "cfg)", parse=optional(float))
    interpolation: Optional[str] = option(None, "the eval transform's resize interpolation (default: the model's "
                                          "pretrained cfg)", choices=("bilinear", "bicubic", "nearest"))
    input_size: Optional[int] = option(None, "the model's input size in pixels (default: the model's pretrained cfg)",
                                       parse=optional(positive(int)))
    mean: Optional[Tuple[float, ...]] = option(None, "the input normalisation's mean, e.g. 0.5,0.5,0.5, with --std "
                                               "(default: the model's pretrained cfg; for an nn.Module: none)",
                                               parse=optional(floats), metavar="M,M,M")
    std: Optional[Tuple[float, ...]] = option(None, "the input normalisation's std, with --mean", parse=optional(floats),
                                              metavar="S,S,S")
    engine: EngineConfig = EngineConfig()

    def __post_init__(self) -> None:
        # settings and benchmark options stored as parsed (numbers stay numbers in meta.json, whichever
        # way they were given)
        parse_fields(self)

    def option_values(self) -> Dict[str, Any]:
        return {name: getattr(self, name) for name in benchmarks.options()}

    def validate(self):
        for b in self.benchmarks or ():
            check_choice("benchmark", b, benchmarks.names())
        for name, _ in self.paths:
            check_choice("dataset", name, DATASETS)
        if (self.mean is None) != (self.std is None):
            raise ValueError("give both mean= and std= (the model's input normalisation) or neither")
        values = self.option_values()
        for b in benchmarks.ordered():   # each options class checks its values
            b.configure(values)
        return self

    def to_dict(self) -> dict:
        return asdict(self)


#: everything that defines a robustness run (saved in meta.json): :class:`RunSettings` plus every
#: registered benchmark's option fields, with their defaults
RobustnessConfig = dataclasses.make_dataclass(
    "RobustnessConfig", [(name, f.type, dataclasses.field(default=f.default, metadata=f.metadata))
                         for name, f in benchmarks.options().items()],
    bases=(RunSettings,), frozen=True, namespace={"__module__": __name__, "__doc__": RunSettings.__doc__})


class RobustnessRun:
    """One robustness run. ``module``: evaluate this ``nn.Module`` (it takes images normalised with
    ``cfg.mean`` / ``cfg.std``, or [0, 1] input when both are None) instead of building ``cfg.model``,
    which then only names the run.

    The benchmarks see it through its :attr:`context` (:class:`~pit_eval.benchmarks.base.RunContext`),
    never the run itself."""

    def __init__(self, cfg, module: Optional[nn.Module] = None, plan_only: bool = False) -> None:
        """``plan_only``: the plan without the weights (the transform comes from timm's pretrained cfg:
        no model is built, no weights are read, nothing goes to the device); such a run cannot :meth:`run`."""
        self.cfg = cfg.validate()
        self.plan_only = plan_only
        self.engine = Engine(cfg.engine)
        self.locations = {n: locate(n, cfg.data_root, dict(cfg.paths)) for n in DATASETS}
        self.units = self._select_benchmarks()
        self.sample = any(self.locations[d].is_sample for b in self.units for d in b.inputs)
        torch.manual_seed(cfg.seed)  # random-init runs are reproducible and equal on every rank
        pretrained_cfg = None
        if module is None and plan_only:
            # the transform from timm's pretrained cfg: no model is built (nor, without a cfg, any weights read)
            arch = resolve_model_name(cfg.model)
            found = timm.models.get_pretrained_cfg(arch)
            pretrained_cfg = found.to_dict() if found else None
            model = None if found else timm.create_model(arch, pretrained=False)
            self.weights, norm = None, {"mean": cfg.mean, "std": cfg.std}
        elif module is None:
            # 'auto' falls back to random weights only for a demo on the embedded sample
            model, self.weights = create_model(cfg.model, cfg.weights, random_fallback=self.sample)
            norm = {"mean": cfg.mean, "std": cfg.std}
        else:
            model, self.weights = module.eval(), module_weights(module)
            norm = {"mean": cfg.mean or (0.0, 0.0, 0.0), "std": cfg.std or (1.0, 1.0, 1.0)}
        self.transform = EvalTransform.from_model(model, pretrained_cfg, crop_pct=cfg.crop_pct, interpolation=cfg.interpolation,
                                                  input_size=cfg.input_size, **norm)
        logger.info("eval transform: %s", self.transform.to_dict())
        self.model = None if plan_only else for_evaluation(model, self.transform, self.engine)
        self._datasets: Dict[str, Tuple[ImageList, Optional[List[int]], dict]] = {}
        self.context = RunContext(
            engine=self.engine, model=self.model, transform=self.transform, locations=self.locations,
            seed=cfg.seed, max_images=cfg.max_images, on_bad_image=cfg.on_bad_image, save_logits=cfg.save_logits,
            recompute_incomplete=cfg.recompute_incomplete, open=self.open, dataset=self.dataset,
            options=self.options, settings=self.settings, cell_metrics=self.cell_metrics)
        self.cells: List[Cell] = [c for b in self.units for c in b.plan(self.context, self.options(b))]
        self.warnings: List[str] = []
        if module is not None:
            self._check_normalisation(model)

    # ---------------------------------------------------------------- planning
    def _select_benchmarks(self) -> List[Benchmark]:
        wanted = [benchmarks.BENCHMARKS.get(n) for n in (self.cfg.benchmarks or benchmarks.names(default_only=True))]
        missing = missing_data([b.name for b in wanted], self.locations)
        if missing and self.cfg.benchmarks:
            b, d = next(iter(missing.items()))
            spec = DATASETS[d]
            raise DataError(f"benchmark {b!r} needs the {spec.name} folder: not found "
                            f"(looked for {flag_hint(spec, self.cfg.data_root)}); give {flag(spec.name)} DIR, "
                            f"set {spec.env}, or drop it from --benchmarks")
        for b, d in missing.items():
            logger.warning("skipping benchmark %s: no %s data found (looked for %s; give %s or --data-root)",
                           b, d, flag_hint(DATASETS[d], self.cfg.data_root), flag(d))
        chosen = [b for b in wanted if b.name not in missing]
        if not chosen:
            raise DataError("no benchmark has data; give --data-root or the dataset folders")
        return chosen

    def open(self, name: str, transform, root: Optional[str] = None, folder_name: Optional[str] = None):
        """Scan a dataset's class folders (``root``: a sub-tree of it) -> (ImageList, logit subset)."""
        loc = self.locations[name]
        return open_folder(loc, root or loc.path, transform, self.cfg.on_bad_image,
                           self.cfg.max_images, folder_name, self.cfg.subset)

    def dataset(self, name: str) -> Tuple[ImageList, Optional[List[int]], dict]:
        """A dataset through the full eval transform, its logit subset and its fingerprint, scanned
        once for every benchmark that reads it."""
        if name not in self._datasets:
            ds, subset = self.open(name, self.transform.full())
            self._datasets[name] = (ds, subset, fingerprint(ds))
        return self._datasets[name]

    def options(self, unit: Benchmark):
        return unit.configure(self.cfg.option_values())

    def affects(self, unit: Benchmark) -> tuple:
        """The settings that can change this benchmark's predictions (compared on resume)."""
        return PREDICTION_SETTINGS + (BATCH_SETTINGS if unit.batch_dependent else ())

    def settings(self, unit: Benchmark) -> dict:
        """This run's values of those settings (part of every partial-work journal's name, so a
        journal is never resumed under other settings)."""
        mine = self.engine.cell_settings()
        return {k: mine[k] for k in self.affects(unit)}

    def forwards(self) -> int:
        """The plan's forward-pass equivalents (each benchmark's declared cost over the images it reads:
        the scans already made, else the located folder's file count)."""
        planned = planned_images(image_counter({n: loc.path for n, loc in self.locations.items() if loc.path}),
                                 self.cfg.max_images, self.cfg.subset)

        def images(name: str) -> int:
            return len(self._datasets[name][0]) if name in self._datasets else planned(name)
        return int(round(sum(u.cost(images, self.options(u)) for u in self.units)))

    def _check_normalisation(self, model: nn.Module) -> None:
        """For a module from Python: does the declared normalisation fit its BatchNorm statistics?"""
        if "imagenet" not in self._datasets:
            return
        clean = self._datasets["imagenet"][0]
        n = min(32, len(clean))
        x = torch.stack([clean[i][0] for i in range(n)]).float().div(255).to(self.engine.device)
        msg = normalisation_mismatch(model.to(self.engine.device), x, self.transform.mean, self.transform.std)
        if msg:
            logger.warning("%s", msg)
            self.warnings.append(msg)

    # ---------------------------------------------------------------- running
    def identity(self) -> dict:
        return {"model": self.cfg.model, "weights": self.weights.to_dict(),
                "transform": self.transform.to_dict(), "seed": self.cfg.seed,
                "max_images": self.cfg.max_images, "sample_data": self.sample,
                **({"subset": self.cfg.subset} if self.cfg.subset else {})}

    def run_dir(self) -> RunDir:
        """This run's results directory (made or checked against this run; enter it to hold its lock)."""
        if self.plan_only:
            raise RuntimeError("a plan_only RobustnessRun has no weights: it plans, it does not run")
        cfg, eng = self.cfg, self.engine
        if eng.world > 1:
            torch.distributed.barrier() if not eng.is_main else None
        rd = RunDir(self.out, "robustness", self.identity(), cfg.to_dict(), force=cfg.force,
                    writer=eng.is_main, extra_meta={"datasets": self._dataset_meta()},
                    settings=eng.cell_settings(), run_info={"engine": eng.describe()})
        if eng.world > 1 and eng.is_main:
            torch.distributed.barrier()
        return rd

    @property
    def out(self) -> str:
        return self.cfg.out or default_out(self.cfg.model, self.sample)

    def pending(self, rd: RunDir) -> List[Cell]:
        """The cells still to compute in ``rd`` (entered), its records read with today's names."""
        rd.cells = {k: self._upgrade(r) for k, r in rd.cells.items()}
        return self._todo(rd)

    def run(self) -> dict:
        cfg, eng, out = self.cfg, self.engine, self.out
        rd = self.run_dir()
        with rd:
            todo = self.pending(rd)
            logger.info("%d cell(s) planned, %d to run, results in %s", len(self.cells), len(todo), out)
            bar = progress.bar(total=len(todo), desc="cells", unit="cell", disable=cfg.engine.quiet or not eng.is_main)
            lines = progress.LineLog(len(todo), enabled=not cfg.engine.quiet and eng.is_main)
            for group in shared_passes(todo):
                unit = benchmarks.BENCHMARKS.get(group[0].benchmark)
                if group[0].shared_pass is None:
                    bar.set_postfix_str(group[0].key)
                    records = [self._run_cell(group[0], rd)]
                else:
                    bar.set_postfix_str(f"{len(group)} {unit.title} cell(s) in one pass")
                    records = unit.run_pass(group, self.context, rd)
                if rd.writer:
                    save_file_lists(rd.path, [c.fingerprint for c in group])
                for r in records:
                    rd.add(r, self.affects(unit))
                    lines.done(f"cell {r['key']}", unit.headline(r), (r.get("timing") or {}).get("images_per_s"))
                bar.update(len(group))
            bar.close()
            summary = summarize(rd.cells.values(), cfg.model, self.weights, self.sample,
                                cfg.max_images, [c.key for c in self.cells], cfg.subset)
            summary["flags"] += self.warnings
            summary["incomplete_cells"] = incomplete = self._incomplete(rd)
            if incomplete:
                summary["flags"].append(incomplete_flag(incomplete))
            rd.write_summary(summary, cell_rows(rd.cells.values()))
        warning = stall_warning(summary.get("throughput"), [r for b in self.units for r in b.stall_remedies])
        if warning and eng.is_main:
            logger.warning("%s", warning)
        eng.close()
        return {"out": out, "summary": summary}

    def _todo(self, rd: RunDir) -> List[Cell]:
        """The cells to compute: those not finished; finished ones whose predictions file is missing,
        truncated or unreadable (named in the log); with ``recompute_mismatched``, those whose
        prediction-affecting settings differ from this run's (without it such a cell stops the run
        before any work); with ``recompute_incomplete``, those lacking a quantity this run records."""
        done = [c for c in self.cells if self._already(rd, c)]
        mism = rd.mismatches({c.key: self.affects(benchmarks.BENCHMARKS.get(c.benchmark)) for c in done})
        if mism and not self.cfg.recompute_mismatched:
            raise ResultsError(mismatch_message(rd.path, mism, SETTING_LABELS))
        if mism:
            logger.warning("--recompute-mismatched: recomputing %d cell(s): %s", len(mism), ", ".join(sorted(mism)))
        redo = set(mism) | self._bad_predictions(rd, done)
        incomplete = self._incomplete(rd, done)
        if self.cfg.save_logits:
            no_logits = sorted(c.key for c in done if (rd.cells[c.key].get("predictions") or {}).get("logits") is False)
            if no_logits and not self.cfg.recompute_incomplete:
                raise ResultsError(f"--save-logits: {len(no_logits)} finished cell(s) of {rd.path} wrote their "
                                   f"predictions without logits ({', '.join(no_logits[:4])}"
                                   f"{', ...' if len(no_logits) > 4 else ''}); add --recompute-incomplete to "
                                   "recompute them with logits, or write this run elsewhere (--out DIR)")
            incomplete.update({k: ["logits"] for k in no_logits})
        if incomplete and self.cfg.recompute_incomplete:
            logger.warning("--recompute-incomplete: recomputing %d cell(s): %s", len(incomplete),
                           ", ".join(sorted(incomplete)))
            redo |= set(incomplete)
        finished = {c.key for c in done}
        return [c for c in self.cells if c.key in redo or c.key not in finished]

    def cell_metrics(self, cell: Cell) -> List[LoopMetric]:
        """What the loop measures for ``cell``: its own metrics, or the defaults."""
        if cell.metrics is not None:
            return cell.metrics
        return default_metrics(cell.pred_map, logits=self.cfg.save_logits)

    def _expected(self, cell: Cell) -> List[LoopMetric]:
        return [] if cell.run is not None and cell.metrics is None else self.cell_metrics(cell)

    def _bad_predictions(self, rd: RunDir, done: List[Cell]) -> set:
        """Finished cells whose record names a predictions file that is not whole (to recompute)."""
        bad = set()
        for c in done:
            info = rd.cells[c.key].get("predictions")
            why = prediction_files.check(rd.path, info) if info else None
            if why:
                logger.warning("cell %s: its predictions file is not usable (%s); recomputing the cell", c.key, why)
                bad.add(c.key)
        return bad

    def _incomplete(self, rd: RunDir, cells: Optional[List[Cell]] = None) -> Dict[str, List[str]]:
        """Finished cells that lack a quantity this run records: key -> the missing metrics."""
        out = {}
        for c in (self.cells if cells is None else cells):
            rec = rd.cells.get(c.key)
            if rec is None:
                continue
            have = record_metrics(rec)
            missing = [m.name for m in self._expected(c) if m.name not in have or not m.holds(rec)]
            if missing:
                out[c.key] = missing
        return out

    def _upgrade(self, record: dict) -> dict:
        unit = benchmarks.BENCHMARKS.get(record["benchmark"]) if record.get("benchmark") in benchmarks.BENCHMARKS else None
        rec = benchmarks.upgrade(record)
        return unit.upgrade(rec) if unit else rec

    def _already(self, rd: RunDir, cell: Cell) -> bool:
        """Is the cell finished on the same data (its files and labels relative to the dataset root,
        wherever the root is now)?"""
        old = rd.cells.get(cell.key)
        if old is None:
            return False
        data = old.get("data")        # as upgraded by its benchmark when the directory was opened
        same = comparable(data) == comparable(cell.fingerprint)
        if not same and not self.cfg.force:
            refusal = benchmarks.BENCHMARKS.get(cell.benchmark).resume_refusal(data, cell.fingerprint)
            if refusal:
                raise DataError(f"cell {cell.key} in {rd.path} {refusal}, or use another --out (or --force to "
                                "recompute the directory's cells)")
            raise DataError(f"cell {cell.key} in {rd.path} was computed on other data than now: "
                            f"{data_change(rd.path, data, cell.fingerprint)}; point the dataset flag at the data "
                            "it was computed on, or use another --out (or --force to recompute the directory's cells)")
        return same

    def _run_cell(self, cell: Cell, rd: RunDir) -> dict:
        t0 = time.time()
        if cell.run is not None:   # its own loop: wall time unless it times itself
            values = dict(cell.run(rd))
            rows, path_of = values.pop("rows", None), cell.paths
            timing = values.pop("timing", None) or {"wall_s": round(time.time() - t0, 4)}
        else:
            dataset, subset, perturb = cell.loop()
            metrics = self.cell_metrics(cell)
            meter = StallMeter(self.engine.device)
            value = self.engine.evaluate(self.model, dataset, cell.key, metrics, subset, perturb, meter=meter)
            values, rows, path_of = finalize(metrics, value), rows_of(metrics, value), sample_paths(dataset)
            timing = meter.result(-(-value["n"] // self.engine.world))  # this rank's even share
        record = cell_record(cell, values, time.time() - t0, timing)
        if rows is not None:
            record["predictions"] = rd.write_predictions(cell.key, rows, path_of)
        return record

    def _dataset_meta(self) -> dict:
        return {n: {"path": l.path, "origin": l.origin} for n, l in self.locations.items()}


def run_together(runs: List["RobustnessRun"], names: List[str]) -> int:
    """Before a sweep group's models run one by one: each benchmark's passes that several of them have
    pending are offered to the benchmark to compute together (:meth:`Benchmark.run_passes_together`,
    e.g. one render of model-independent images for all); each model's own run then finds them
    journalled and records its cells as if it had run alone. Returns how many model passes were shared."""
    members: Dict[str, list] = {}     # shared_pass -> [(cells, run, rd)]
    owners: Dict[str, list] = {}      # shared_pass -> [model name]
    units: Dict[str, Benchmark] = {}
    with contextlib.ExitStack() as stack:
        for run, name in zip(runs, names):
            rd = stack.enter_context(run.run_dir())
            for group in shared_passes(run.pending(rd)):
                key = group[0].shared_pass
                if key is not None:
                    units[key] = benchmarks.BENCHMARKS.get(group[0].benchmark)
                    members.setdefault(key, []).append((group, run.context, rd))
                    owners.setdefault(key, []).append(name)
        return sum(units[k].run_passes_together(members[k], owners[k]) for k in members if len(members[k]) > 1)


def shared_passes(cells: List[Cell]) -> List[List[Cell]]:
    """``cells`` in plan order, those of one shared pass gathered at the place of the first."""
    out: List[List[Cell]] = []
    groups: Dict[str, List[Cell]] = {}
    for c in cells:
        if c.shared_pass is None:
            out.append([c])
        elif c.shared_pass in groups:
            groups[c.shared_pass].append(c)
        else:
            groups[c.shared_pass] = [c]
            out.append(groups[c.shared_pass])
    return out


def incomplete_flag(incomplete: Dict[str, List[str]]) -> str:
    """The summary's words on finished cells that lack quantities this pit_eval records."""
    what = sorted({m for ms in incomplete.values() for m in ms})
    keys = sorted(incomplete)
    return (f"{len(keys)} cell(s) written by an earlier pit_eval lack {', '.join(what)} "
            f"({', '.join(keys[:4])}{', ...' if len(keys) > 4 else ''}); their other numbers are kept; "
            "--recompute-incomplete recomputes them")


def missing_data(names: List[str], locations: Dict[str, Any]) -> Dict[str, str]:
    """The benchmarks of ``names`` that cannot run with these located datasets -> the first dataset
    each lacks (a run skips them, or refuses one asked for by name; the paper plan lists them)."""
    out = {}
    for n in names:
        absent = [d for d in benchmarks.BENCHMARKS.get(n).inputs if locations[d].path is None]
        if absent:
            out[n] = absent[0]
    return out


def flag_hint(spec, data_root: Optional[str]) -> str:
    return f"{data_root}/{spec.subdir}" if data_root else f"${spec.env} / {flag(spec.name)}"


def default_out(model: str, sample: bool) -> str:
    return str(Path("results") / "robustness" / (f"{model}-sample" if sample else model))


# ---------------------------------------------------------------- summaries
def summarize(cells, model: str, weights: WeightsInfo, sample: bool, max_images: Optional[int],
              planned: Optional[List[str]] = None, subset: Optional[str] = None) -> dict:
    """summary.json: each benchmark's entry (its own ``summarize``), flags, ours beside the
    references, provenance and throughput."""
    cells = [c for c in cells if planned is None or c["key"] in planned]
    flags = []
    if sample:
        flags.append(SAMPLE_NOTE)
    if weights.random_init:
        flags.append("random weights — numbers mean nothing about the model")
    if max_images:
        flags.append(f"subset: at most {max_images} images per dataset")
    if subset:
        flags.append(subset_flag(subset))
    ctx = SummaryContext(sample, max_images, {}, flags, subset)
    for unit in benchmarks.ordered():
        entry = unit.summarize([c for c in cells if c["benchmark"] == unit.name], ctx)
        if entry is not None:
            ctx.benchmarks[unit.name] = entry
    out: Dict[str, object] = {"model": model, "weights": weights.to_dict(), "benchmarks": ctx.benchmarks,
                              "flags": flags, "reference": reference_rows(model, ctx.benchmarks),
                              "effective_robustness": effective_robustness(model, ctx.benchmarks)}
    out["provenance"] = prov = provenance_summary(cells)
    flags += provenance_flags(prov)
    out["throughput"] = throughput(cells)
    return out


def effective_robustness(model: str, bench: dict, cloud: str = "timm") -> Dict[str, dict]:
    """Each measured shift against the cloud's line (:mod:`pit_eval.population`), with the same
    quantity from timm's published numbers for this model beside it where timm has them."""
    out = benchmarks.effective_robustness(bench, cloud)
    try:
        arch = resolve_model_name(model)
    except ValueError:      # a module's run name: no published row
        return out
    for shift, e in out.items():
        ref = population.timm_reference(arch, shift) if e.get("value") is not None else None
        if ref is not None:
            e["reference"] = ref
    return out


def effective_robustness_lines(summary: dict, w: int) -> List[str]:
    """The CLI table's rows of effective robustness (top-1 points above the cloud's line)."""
    lines = []
    sample = " [sample data]" if any(f == SAMPLE_NOTE for f in summary["flags"]) else ""
    for shift, e in (summary.get("effective_robustness") or {}).items():
        fit = e.get("fit") or {}
        label = f"effective robustness {shift}{sample}"
        if e.get("value") is None:
            lines.append(f"{label:{w}s} — ({e['why']})")
            continue
        text = (f"{e['value']:+.2f} [{e['ci'][0]:+.2f}, {e['ci'][1]:+.2f}] points" if e.get("ci") else f"{e['value']:+.2f} points")
        text += (f" (measured {e['measured']:.2f}, expected {e['expected']:.2f} from {fit['n_models']} standard "
                 f"models of the {fit['cloud']} cloud, logit fit, x = {fit['axis']})")
        if e["extrapolated"]:
            text += " — extrapolated: x lies outside the cloud"
        ref = e.get("reference")
        if ref:
            text += f" · {ref['value']:+.2f} from timm's published numbers for {ref['model']} [{ref['source']}]"
        lines.append(f"{label:{w}s} {text}")
    return lines


def throughput(cells) -> Optional[dict]:
    """The run's stall-meter totals: every timed loop once (a pass's cells share theirs)."""
    seen, parts = set(), []
    for c in cells:
        t = c.get("timing") or {}
        if "stall_s" not in t or t.get("pass") in seen:
            continue
        if t.get("pass"):
            seen.add(t["pass"])
        parts.append(t)
    return merge(parts)


def reference_rows(model: str, bench: dict) -> List[dict]:
    """One row per metric of every benchmark run: ours (display units) beside every reference value
    known for this model; metrics with neither are left out."""
    rows = []
    for m in benchmarks.metrics().values():
        entry = bench.get(m.benchmark)
        if entry is None or m.scale is None or not m.in_table:
            continue
        c = references.compare(model, m.shown(entry), m.refs, entry.get("comparison_withheld"), ci=m.interval(entry))
        if c["ours"] is not None or c["references"] or c["withheld"]:
            rows.append({"metric": benchmarks.BENCHMARKS.get(m.benchmark).metric_title(m, entry), **c})
    return rows


def cell_rows(cells) -> List[dict]:
    keys = ("key", "benchmark", "variant", "param", "n", "correct1", "correct5", "skipped", "acc1",
            "acc5", "ece", "nll", "brier", "pred_fingerprint", "seconds")
    rows = []
    for c in sorted(cells, key=lambda c: c["key"]):
        p, t = c.get("provenance") or {}, c.get("timing") or {}
        lo, hi = c.get("acc1_ci") or (None, None)
        rows.append({**{k: c.get(k) for k in keys}, "acc1_ci_lo": lo, "acc1_ci_hi": hi,
                     "predictions": (c.get("predictions") or {}).get("file"), "precision": p.get("precision", "unknown"),
                     "device": p.get("device_name", "unknown"), "compile": p.get("compile"),
                     "stall_share": t.get("stall_share"), "images_per_s": t.get("images_per_s"),
                     "data_source": (c.get("data") or {}).get("source")})
    return rows


def format_table(summary: dict) -> str:
    """The CLI's final table: ours · references · Δ (unverified ones marked)."""
    lines = [f"model {summary['model']}  weights {summary['weights']['source']}"]
    lines += [f"!! {f}" for f in summary["flags"]]
    tp = summary.get("throughput")
    if tp:
        lines.append(f"throughput {tp['images_per_s']} img/s, {tp['image_cells_per_s']} image-cells/s; device busy "
                     f"{100 * tp['device_busy']:.0f} %, waited for data {100 * tp['stall_share']:.0f} % of "
                     f"{tp['wall_s']:.0f} s (timer: {tp['device_timer']})")
    w = max([len(r["metric"]) for r in summary["reference"]] + [6])
    lines.append(f"{'metric':{w}s} ours [95 % CI] · reference [source] · Δ")
    lines += [f"{r['metric']:{w}s} {references.comparison_text(r)}" for r in summary["reference"]]
    lines += effective_robustness_lines(summary, w)
    return "\n".join(lines)
