"""The robustness run: plan cells (benchmark x corruption x severity x level), evaluate the ones not
yet finished, and summarise with the reference numbers beside ours."""
from __future__ import annotations

import logging
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Dict, List, Optional, Tuple

import torch
from torch import nn
from torchvision.transforms import PILToTensor

from . import references
from .attacks import ATTACKS, AttackConfig
from .autoattack import FORWARDS_PER_IMAGE, AutoAttackConfig, run_autoattack
from .autoattack import summary as autoattack_summary
from .corruptions import (BACKENDS, IMAGENET_C, CorruptedImageNet, ImageNetCPass, batched, check_protocol,
                          compat, parse_corruptions, parse_severities)
from .corruptions.names import (COMPARABLE_PROTOCOLS, PROTOCOL_LABELS, on_the_fly_source, source_backend,
                                source_protocol, with_protocol)
from .images import SAMPLE_NOTE, DataError, EvalTransform
from . import background, progress
from .background import IN9Tree
from .images import ImageList
from .datasets import DATASETS, fingerprint, flag, locate, open_folder, prerendered_c_root, thin
from .engine import BATCH_SETTINGS, FP_MOD, PREDICTION_SETTINGS, Engine, EngineConfig
from .metrics import area_under_curve, imagenet_c_summary
from .models import Normalized, WeightsInfo, create_model, module_weights, normalisation_mismatch
from .occlusion import Occluded, OcclusionConfig
from .registry import check_choice
from .results import (SETTING_LABELS, ResultsError, RunDir, mismatch_message, provenance_flags,
                      provenance_summary, stable_hash)
from .stall import StallMeter, merge, stall_warning

logger = logging.getLogger(__name__)

BENCHMARKS = ("clean", "imagenet-c", "imagenet-a", "imagenet-r", "imagenet-sketch", "imagenet-v2",
              "occlusion", "fgsm", "pgd", "in9", "bgc", "autoattack")
#: what runs when --benchmarks is not given: all but AutoAttack (hours on a GPU; run it by name)
DEFAULT_BENCHMARKS = tuple(b for b in BENCHMARKS if b != "autoattack")
BENCH_DATA = {"clean": "imagenet", "imagenet-c": "imagenet", "occlusion": "imagenet", "fgsm": "imagenet",
              "pgd": "imagenet", "imagenet-a": "imagenet-a", "imagenet-r": "imagenet-r",
              "imagenet-sketch": "imagenet-sketch", "imagenet-v2": "imagenet-v2", "in9": "imagenet-9",
              "bgc": "imagenet-9", "autoattack": "imagenet"}
#: benchmarks whose predictions depend on the batch (random draws per batch and rank)
BATCH_DEPENDENT = ("pgd", "autoattack")


@dataclass(frozen=True)
class RobustnessConfig:
    """Everything that defines a robustness run (saved in meta.json)."""
    model: str
    weights: str = "auto"
    out: Optional[str] = None
    data_root: Optional[str] = None
    paths: Tuple[Tuple[str, str], ...] = ()       # (dataset name, folder) overrides
    benchmarks: Optional[Tuple[str, ...]] = None  # None: every benchmark whose data is available
    corruptions: Tuple[str, ...] = tuple(parse_corruptions("all"))
    severities: Tuple[int, ...] = (1, 2, 3, 4, 5)
    imagenet_c_source: str = "auto"               # auto | prerendered | on-the-fly
    corruption_backend: str = "fast"
    corruption_protocol: str = IMAGENET_C         # the generator of on-the-fly ImageNet-C
    imagenet_c_block: int = 2048                  # images per journalled block of an on-the-fly pass
    occlusion: OcclusionConfig = OcclusionConfig()
    fgsm: Tuple[AttackConfig, ...] = (AttackConfig(eps=1.0),)
    pgd: Tuple[AttackConfig, ...] = (AttackConfig(eps=1.0, steps=5, step_size=0.5, random_start=True),)
    autoattack: AutoAttackConfig = AutoAttackConfig()
    bgc_max_backgrounds: Optional[int] = None     # Background Challenge on a flagged subset
    in9_map: Optional[str] = None                 # ImageNet -> IN-9 map file (default: embedded)
    seed: int = 0
    max_images: Optional[int] = None
    on_bad_image: str = "error"
    force: bool = False
    recompute_mismatched: bool = False             # recompute finished cells whose settings differ
    crop_pct: Optional[float] = None
    interpolation: Optional[str] = None
    input_size: Optional[int] = None
    mean: Optional[Tuple[float, ...]] = None    # None: the model's cfg (a timm name) or identity (a module)
    std: Optional[Tuple[float, ...]] = None
    engine: EngineConfig = EngineConfig()

    def __post_init__(self) -> None:
        # numbers stay numbers in meta.json, whichever way the severities were given
        object.__setattr__(self, "severities", tuple(parse_severities(self.severities)))

    def validate(self) -> "RobustnessConfig":
        for b in self.benchmarks or ():
            check_choice("benchmark", b, BENCHMARKS)
        check_choice("--imagenet-c-source", self.imagenet_c_source, ("auto", "prerendered", "on-the-fly"))
        BACKENDS.get(self.corruption_backend)
        check_protocol(self.corruption_protocol)
        check_choice("--on-bad-image", self.on_bad_image, ("error", "skip"))
        parse_corruptions(self.corruptions)
        parse_severities(self.severities)
        for name, _ in self.paths:
            check_choice("dataset", name, DATASETS)
        if (self.mean is None) != (self.std is None):
            raise ValueError("give both mean= and std= (the model's input normalisation) or neither")
        for name in ("max_images", "bgc_max_backgrounds", "input_size", "imagenet_c_block"):
            v = getattr(self, name)
            if v is not None and v < 1:
                raise ValueError(f"--{name.replace('_', '-')} must be >= 1, got {v}")
        return self

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class Cell:
    key: str
    benchmark: str
    variant: str                   # corruption / occlusion protocol / attack / ""
    param: Optional[float]         # severity / level / eps
    make: Optional[Callable[[], tuple]]  # -> (dataset, class_subset, perturb) for the engine's loop
    data: dict = field(default_factory=dict)
    pred_map: Optional[List[int]] = None   # top-1 class -> label (IN-9)
    evaluate: Optional[Callable[[RunDir], dict]] = None  # a benchmark with its own loop (bgc)
    #: cells with the same value run together in one pass, each image decoded once (ImageNet-C on the fly)
    decode_group: Optional[str] = None


class RobustnessRun:
    """One robustness run. ``module``: evaluate this ``nn.Module`` (it takes images normalised with
    ``cfg.mean`` / ``cfg.std``, or [0, 1] input when both are None) instead of building ``cfg.model``,
    which then only names the run."""

    def __init__(self, cfg: RobustnessConfig, module: Optional[nn.Module] = None) -> None:
        self.cfg = cfg.validate()
        self.engine = Engine(cfg.engine)
        self.locations = {n: locate(n, cfg.data_root, dict(cfg.paths)) for n in DATASETS}
        self.benchmarks = self._select_benchmarks()
        self.sample = any(self.locations[BENCH_DATA[b]].is_sample for b in self.benchmarks)
        torch.manual_seed(cfg.seed)  # random-init runs are reproducible and equal on every rank
        if module is None:
            # 'auto' falls back to random weights only for a demo on the embedded sample
            model, self.weights = create_model(cfg.model, cfg.weights, random_fallback=self.sample)
            norm = {"mean": cfg.mean, "std": cfg.std}
        else:
            model, self.weights = module.eval(), module_weights(module)
            norm = {"mean": cfg.mean or (0.0, 0.0, 0.0), "std": cfg.std or (1.0, 1.0, 1.0)}
        self.transform = EvalTransform.from_model(model, crop_pct=cfg.crop_pct, interpolation=cfg.interpolation,
                                                  input_size=cfg.input_size, **norm)
        logger.info("eval transform: %s", self.transform.to_dict())
        self.model = self.engine.prepare(Normalized(model, self.transform.mean, self.transform.std))
        self._in9: Optional[tuple] = None   # (IN9Tree, class map), scanned once
        self._clean: Optional[ImageList] = None
        self.cells = self._plan()
        self.warnings: List[str] = []
        if module is not None:
            self._check_normalisation(model)

    # ---------------------------------------------------------------- planning
    def _select_benchmarks(self) -> List[str]:
        wanted = list(self.cfg.benchmarks or DEFAULT_BENCHMARKS)
        missing = [b for b in wanted if self.locations[BENCH_DATA[b]].path is None]
        if missing and self.cfg.benchmarks:
            b = missing[0]
            spec = DATASETS[BENCH_DATA[b]]
            raise DataError(f"benchmark {b!r} needs the {spec.name} folder: not found "
                            f"(looked for {flag_hint(spec, self.cfg.data_root)}); give {flag(spec.name)} DIR, "
                            f"set {spec.env}, or drop it from --benchmarks")
        for b in missing:
            logger.warning("skipping benchmark %s: no %s data found (give %s or --data-root)",
                           b, BENCH_DATA[b], flag(BENCH_DATA[b]))
        chosen = [b for b in wanted if b not in missing]
        if not chosen:
            raise DataError("no benchmark has data; give --data-root or the dataset folders")
        return chosen

    def _open(self, name: str, transform, root: Optional[str] = None, folder_name: Optional[str] = None):
        loc = self.locations[name]
        return open_folder(loc, root or loc.path, transform, self.cfg.on_bad_image,
                           self.cfg.max_images, folder_name)

    def _plan(self) -> List[Cell]:
        """Build every cell; opens (scans) every dataset first so bad data fails before compute."""
        cfg, cells = self.cfg, []
        clean, _ = self._open("imagenet", self.transform.full()) if any(
            BENCH_DATA[b] == "imagenet" for b in self.benchmarks) else (None, None)
        clean_fp = fingerprint(clean) if clean is not None else None
        self._clean = clean
        for b in self.benchmarks:
            if b == "clean":
                cells.append(Cell("clean", b, "", None, lambda: (clean, None, None), clean_fp))
            elif b == "imagenet-c":
                cells.extend(self._plan_imagenet_c(clean, clean_fp))
            elif b in ("imagenet-a", "imagenet-r", "imagenet-sketch", "imagenet-v2"):
                ds, subset = self._open(b, self.transform.full())
                cells.append(Cell(b, b, "", None, lambda ds=ds, s=subset: (ds, s, None), fingerprint(ds)))
            elif b == "occlusion":
                occ = cfg.occlusion
                for level in occ.levels:
                    key = f"occlusion/{occ.protocol}/p{occ.patch_size}/fill={occ.fill}/{level:g}"
                    cells.append(Cell(key, b, occ.protocol, level, lambda l=level, o=occ: (
                        Occluded(clean, o, l, cfg.seed, self.transform.mean), None, None), clean_fp))
                paper, level = occ.paper_cell(self.transform.input_size)
                cells.append(Cell(f"occlusion/paper/box={occ.paper_box}/fill={occ.paper_fill}", b, "paper",
                                  level, lambda o=paper, l=level: (
                                      Occluded(clean, o, l, cfg.seed, self.transform.mean), None, None),
                                  clean_fp))
            elif b in ("in9", "bgc"):
                cells.extend(self._plan_in9(b))
            elif b == "autoattack":
                cells.append(self._plan_autoattack(clean))
            else:  # fgsm / pgd
                for a in getattr(cfg, b):
                    key = f"{b}/eps={a.eps:g}/steps={a.steps}/step={a.step_size}/rs={a.random_start}"
                    cells.append(Cell(key, b, b, a.eps, lambda a=a, b=b: (
                        clean, None, self._perturb(b, a)), clean_fp))
        return cells

    def _plan_imagenet_c(self, clean, clean_fp) -> List[Cell]:
        cfg, loc, cells = self.cfg, self.locations["imagenet-c"], []
        for c in parse_corruptions(cfg.corruptions):
            for s in parse_severities(cfg.severities):
                root = prerendered_c_root(loc, c, s) if cfg.imagenet_c_source != "on-the-fly" else None
                if root is not None:
                    ds, _ = self._open("imagenet-c", self.transform.prerendered(), root,
                                       f"imagenet-c {c}/{s}")
                    cells.append(Cell(f"imagenet-c/{c}/{s}", "imagenet-c", c, s,
                                      lambda ds=ds: (ds, None, None), {**fingerprint(ds), "source": "prerendered"}))
                elif cfg.imagenet_c_source == "prerendered":
                    raise DataError(f"--imagenet-c-source prerendered but {loc.path}/{c}/{s} does not "
                                    "exist; give --imagenet-c DIR or use --imagenet-c-source auto")
                else:
                    protocol = cfg.corruption_protocol
                    backend = batched.render_backend(cfg.corruption_backend, c, s, protocol)
                    if (backend, protocol, c) in MAGICKWAND_CELLS and compat.magickwand_version() is None:
                        raise DataError(compat.MAGICKWAND_MISSING)
                    fp = {**clean_fp, "source": on_the_fly_source(protocol, backend, cfg.seed)}
                    cells.append(Cell(f"imagenet-c/{c}/{s}", "imagenet-c", c, s, lambda c=c, s=s, b=backend: (
                        CorruptedImageNet(clean, c, s, seed=cfg.seed, backend=b, protocol=protocol,
                                          threads=self.engine.workers, input_size=self.transform.input_size),
                        None, None), fp, decode_group=f"imagenet-c:{backend}"))
        return cells

    def _plan_in9(self, benchmark: str) -> List[Cell]:
        cfg = self.cfg
        if self._in9 is None:
            self._in9 = (IN9Tree(self.locations["imagenet-9"].path),
                         background.load_map(cfg.in9_map or background.MAP_PATH))
        tree, in9_map = self._in9
        if benchmark == "bgc":
            spec = background.plan_challenge(tree, cfg.max_images, cfg.bgc_max_backgrounds)
            fp = spec.fingerprint()
            journal = f"bgc-{stable_hash([fp, self._settings('bgc')])}.jsonl"
            return [Cell("bgc", "bgc", "challenge", None, None, fp, evaluate=lambda rd: background.run_challenge(
                spec, self.model, self.engine, rd.journal(journal), in9_map))]
        cells = []
        for v in tree.variants:
            samples = thin(tree.samples(v), cfg.max_images)
            background.check_same_size([p for p, _ in samples], f"IN-9 {v}")
            ds = ImageList(samples, PILToTensor(), cfg.on_bad_image, root=str(tree.root / v / "val"))
            cells.append(Cell(f"in9/{v}", "in9", v, None, lambda ds=ds: (ds, None, None), fingerprint(ds),
                              pred_map=in9_map))
        return cells

    def _check_normalisation(self, model: nn.Module) -> None:
        """For a module from Python: does the declared normalisation fit its BatchNorm statistics?"""
        if self._clean is None:
            return
        n = min(32, len(self._clean))
        x = torch.stack([self._clean[i][0] for i in range(n)]).float().div(255).to(self.engine.device)
        msg = normalisation_mismatch(model.to(self.engine.device), x, self.transform.mean, self.transform.std)
        if msg:
            logger.warning("%s", msg)
            self.warnings.append(msg)

    def _plan_autoattack(self, clean: ImageList) -> Cell:
        aa, seed = self.cfg.autoattack, self.cfg.seed
        subset = ImageList(thin(clean.samples, aa.n_images), clean.transform, clean.on_bad_image, clean.root)
        fp = {**fingerprint(subset), "protocol": aa.protocol(), "seed": seed}
        journal = f"autoattack-{stable_hash([fp, self._settings('autoattack')])}.jsonl"
        logger.info("AutoAttack plan: %d images at eps %g/255; cost per image from ~%d forward passes (fooled by "
                    "APGD-CE at once) to ~%d (survives all four attacks), measured by scripts/bench_autoattack.py",
                    len(subset), aa.eps, *FORWARDS_PER_IMAGE)
        return Cell(f"autoattack/eps={aa.eps:g}/n={len(subset)}", "autoattack", "standard", aa.eps, None, fp,
                    evaluate=lambda rd: run_autoattack(subset, self.model, self.engine, rd.journal(journal),
                                                       aa, seed))

    def affects(self, benchmark: str) -> tuple:
        """The settings that can change this benchmark's predictions (compared on resume)."""
        return PREDICTION_SETTINGS + (BATCH_SETTINGS if benchmark in BATCH_DEPENDENT else ())

    def _settings(self, benchmark: str) -> dict:
        """This run's values of those settings (part of every partial-work journal's name, so a
        journal is never resumed under other settings)."""
        mine = self.engine.cell_settings()
        return {k: mine[k] for k in self.affects(benchmark)}

    def _perturb(self, attack: str, acfg: AttackConfig):
        fn = ATTACKS.get(attack)
        gen = torch.Generator().manual_seed(self.cfg.seed + self.engine.rank)
        return lambda model, x, y: fn(model, x, y, acfg, gen)

    # ---------------------------------------------------------------- running
    def identity(self) -> dict:
        return {"model": self.cfg.model, "weights": self.weights.to_dict(),
                "transform": self.transform.to_dict(), "seed": self.cfg.seed,
                "max_images": self.cfg.max_images, "sample_data": self.sample}

    def run(self) -> dict:
        cfg, eng = self.cfg, self.engine
        out = cfg.out or default_out(cfg.model, self.sample)
        if eng.world > 1:
            torch.distributed.barrier() if not eng.is_main else None
        rd = RunDir(out, "robustness", self.identity(), cfg.to_dict(), force=cfg.force,
                    writer=eng.is_main, extra_meta={"datasets": self._dataset_meta()},
                    settings=eng.cell_settings(), run_info={"engine": eng.describe()})
        if eng.world > 1 and eng.is_main:
            torch.distributed.barrier()
        with rd:
            todo = self._todo(rd)
            logger.info("%d cell(s) planned, %d to run, results in %s", len(self.cells), len(todo), out)
            bar = progress.bar(total=len(todo), desc="cells", unit="cell", disable=cfg.engine.quiet or not eng.is_main)
            lines = progress.LineLog(len(todo), enabled=not cfg.engine.quiet and eng.is_main)
            for unit in units(todo):
                if unit[0].decode_group is None:
                    bar.set_postfix_str(unit[0].key)
                    records = [self._run_cell(unit[0], rd)]
                else:
                    bar.set_postfix_str(f"{len(unit)} ImageNet-C cell(s), one decode per image")
                    records = self._run_pass(unit, rd)
                for r in records:
                    rd.add(r, self.affects(r["benchmark"]))
                    lines.done(f"cell {r['key']}", f"top-1 {100 * r['acc1']:.2f} % of {r['n']}",
                               (r.get("timing") or {}).get("images_per_s"))
                bar.update(len(unit))
            bar.close()
            summary = summarize(rd.cells.values(), cfg.model, self.weights, self.sample,
                                cfg.max_images, [c.key for c in self.cells])
            summary["flags"] += self.warnings
            rd.write_summary(summary, cell_rows(rd.cells.values()))
        warning = stall_warning(summary.get("throughput"))
        if warning and eng.is_main:
            logger.warning("%s", warning)
        eng.close()
        return {"out": out, "summary": summary}

    def _todo(self, rd: RunDir) -> List[Cell]:
        """The cells to compute: those not finished, and (with ``recompute_mismatched``) the finished
        ones whose prediction-affecting settings differ from this run's; without it, such a cell stops
        the run before any work."""
        done = [c for c in self.cells if self._already(rd, c)]
        mism = rd.mismatches({c.key: self.affects(c.benchmark) for c in done})
        if mism and not self.cfg.recompute_mismatched:
            raise ResultsError(mismatch_message(rd.path, mism, SETTING_LABELS))
        if mism:
            logger.warning("--recompute-mismatched: recomputing %d cell(s): %s", len(mism), ", ".join(sorted(mism)))
        finished = {c.key for c in done}
        return [c for c in self.cells if c.key in mism or c.key not in finished]

    def _already(self, rd: RunDir, cell: Cell) -> bool:
        old = rd.cells.get(cell.key)
        if old is None:
            return False
        data = with_protocol(old.get("data"))
        if data != cell.data and not self.cfg.force:
            was, now = source_protocol((data or {}).get("source", "")), source_protocol(cell.data.get("source", ""))
            if was != now and was and now:
                raise DataError(f"cell {cell.key} in {rd.path} was rendered under the {was} protocol and this "
                                f"run renders {now}; cells of the two are never mixed: resume with "
                                f"--corruption-protocol {was}, or use another --out (or --force to recompute "
                                "the directory's cells)")
            raise DataError(f"cell {cell.key} in {rd.path} was computed on other data "
                            f"({old.get('data')}) than now ({cell.data}); use another --out or --force")
        return data == cell.data

    def _run_cell(self, cell: Cell, rd: RunDir) -> dict:
        t0 = time.time()
        if cell.evaluate is not None:   # its own loop: wall time only
            counts = cell.evaluate(rd)
            timing = {"wall_s": round(time.time() - t0, 4)}
        else:
            dataset, subset, perturb = cell.make()
            meter = StallMeter(self.engine.device)
            counts = self.engine.evaluate(self.model, dataset, cell.key, subset, perturb, cell.pred_map,
                                          meter=meter)
            timing = meter.result(meter_images(counts, self.engine))
        return cell_record(cell, counts, time.time() - t0, timing)

    def _run_pass(self, cells: List[Cell], rd: RunDir) -> List[dict]:
        """Cells of one decode group in one pass over the clean images (each decoded, resized and
        cropped once), in blocks of ``imagenet_c_block`` images journalled as they finish (a killed run
        resumes at the block in flight); under torchrun the blocks are spread over the ranks."""
        t0, eng, block = time.time(), self.engine, self.cfg.imagenet_c_block
        data = ImageNetCPass([c.make()[0] for c in cells])
        keys, n = [c.key for c in cells], len(data)
        journal = rd.journal(f"imagenet-c-pass-{stable_hash([[c.key, c.data] for c in cells] + [n, block, self._settings('imagenet-c')])}.jsonl")
        done = {r["key"]: r for r in journal.read()}
        blocks = [f"images-{a}-{min(a + block, n)}" for a in range(0, n, block)]
        logger.info("ImageNet-C: %d cells in one pass over %d images (%d of %d blocks journalled)",
                    len(cells), n, sum(b in done for b in blocks), len(blocks))
        lines = progress.LineLog(sum(b not in done for b in blocks), enabled=not eng.cfg.quiet and len(blocks) > 1)

        def work(key: str) -> dict:
            a, b = map(int, key.split("-")[1:])
            meter = StallMeter(eng.device)
            counts = eng.evaluate_cells(self.model, data, f"ImageNet-C {len(cells)} cells, block "
                                        f"{blocks.index(key) + 1}/{len(blocks)}",
                                        len(cells), data.split, indices=range(a, b),
                                        loader_batch=data.loader_batch(eng.cfg.batch_size), meter=meter)
            images = counts[0]["n"] if counts else 0
            timing = meter.result(images, images * len(cells))
            lines.done(f"ImageNet-C block {key} ({len(cells)} cells)", f"{images} images",
                       timing.get("images_per_s"))
            return {"key": key, "cells": dict(zip(keys, counts)), "timing": timing}

        eng.run_journalled(journal, done, blocks, work)
        seconds = (time.time() - t0) / len(cells)
        timing = {**(merge([done[b].get("timing") for b in blocks]) or {}),
                  "pass": journal.path.stem, "pass_cells": len(cells)}
        return [cell_record(c, sum_counts([done[b]["cells"][c.key] for b in blocks]), seconds, timing)
                for c in cells]

    def _dataset_meta(self) -> dict:
        return {n: {"path": l.path, "origin": l.origin} for n, l in self.locations.items()}


def units(cells: List[Cell]) -> List[List[Cell]]:
    """``cells`` in plan order, those of one decode group gathered at the place of the first."""
    out: List[List[Cell]] = []
    groups: Dict[str, List[Cell]] = {}
    for c in cells:
        if c.decode_group is None:
            out.append([c])
        elif c.decode_group in groups:
            groups[c.decode_group].append(c)
        else:
            groups[c.decode_group] = [c]
            out.append(groups[c.decode_group])
    return out


def sum_counts(parts: List[Dict[str, int]]) -> Dict[str, int]:
    """Counts of disjoint image sets added up (the prediction fingerprint modulo its modulus)."""
    out = {k: sum(p[k] for p in parts) for k in parts[0]}
    out["pred_fingerprint"] %= FP_MOD
    return out


def meter_images(counts: Dict[str, int], engine: Engine) -> int:
    """Images this rank evaluated in a loop whose ``counts`` are reduced over the ranks (an even share)."""
    return -(-counts["n"] // engine.world)


def cell_record(cell: Cell, counts: Dict[str, int], seconds: float, timing: Optional[dict] = None) -> dict:
    """``timing``: the stall meter's figures of the loop (this rank's; a pass's cells share one, named
    by ``timing.pass``)."""
    n = counts["n"]
    return {"key": cell.key, "benchmark": cell.benchmark, "variant": cell.variant,
            "param": cell.param, **counts, "acc1": counts["correct1"] / n if n else None,
            "acc5": counts["correct5"] / n if n and "correct5" in counts else None,
            "seconds": round(seconds, 3), "timing": timing or {}, "data": cell.data}


def flag_hint(spec, data_root: Optional[str]) -> str:
    return f"{data_root}/{spec.subdir}" if data_root else f"${spec.env} / {flag(spec.name)}"


def default_out(model: str, sample: bool) -> str:
    return str(Path("results") / "robustness" / (f"{model}-sample" if sample else model))


# ---------------------------------------------------------------- summaries
def summarize(cells, model: str, weights: WeightsInfo, sample: bool, max_images: Optional[int],
              planned: Optional[List[str]] = None) -> dict:
    cells = [c for c in cells if planned is None or c["key"] in planned]
    by = lambda b: [c for c in cells if c["benchmark"] == b]  # noqa: E731
    out: Dict[str, object] = {"model": model, "weights": weights.to_dict(), "benchmarks": {}}
    flags = []
    if sample:
        flags.append(SAMPLE_NOTE)
    if weights.random_init:
        flags.append("random weights — numbers mean nothing about the model")
    if max_images:
        flags.append(f"subset: at most {max_images} images per dataset")
    out["flags"] = flags
    bench = out["benchmarks"]
    clean = next((c for c in by("clean")), None)
    if clean:
        bench["clean"] = _acc(clean)
    for b in ("imagenet-a", "imagenet-r", "imagenet-sketch", "imagenet-v2"):
        c = next(iter(by(b)), None)
        if c:
            bench[b] = _acc(c)
    if by("imagenet-c"):
        grid = {(c["variant"], int(c["param"])): c["acc1"] for c in by("imagenet-c")}
        ic = imagenet_c_summary(grid, clean["acc1"] if clean else None)
        ic["grid"] = {f"{k[0]}/{k[1]}": v for k, v in sorted(grid.items())}
        ic["images_per_cell"] = max(c["n"] for c in by("imagenet-c"))
        ic["sources"] = sorted({with_protocol(c["data"]).get("source", "") for c in by("imagenet-c")})
        ic["corruption_protocol"], ic["comparison_withheld"] = corruption_protocol(ic["sources"])
        ic["protocol"] = ("subset / sample — CE normalised by the published full-set AlexNet errors, "
                          "so not the paper's mCE" if (sample or max_images) else
                          "full set as given (Hendrycks): CE normalised by published AlexNet errors")
        bench["imagenet-c"] = ic
        torch_cells = sorted(f"{c['variant']}/{c['param']}" for c in by("imagenet-c")
                             if source_backend(with_protocol(c["data"]).get("source", "")) == "torch")
        if torch_cells:
            flags.append(f"ImageNet-C: {len(torch_cells)} of {len(grid)} cells rendered by the torch corruption "
                         "backend (differences from the exact backend measured in the README's validation "
                         f"table): {', '.join(torch_cells)}")
    for b in ("occlusion", "fgsm", "pgd"):
        rows = sorted((c for c in by(b) if c["variant"] != "paper"), key=lambda c: c["param"])
        if rows:
            entry = {"levels" if b == "occlusion" else "eps": [c["param"] for c in rows],
                     "acc1": [c["acc1"] for c in rows], "n": rows[0]["n"],
                     "keys": [c["key"] for c in rows]}
            if b == "occlusion" and len(rows) > 1:
                entry["auc"] = area_under_curve(entry["levels"], entry["acc1"])
            bench[b] = entry
    paper_occ = next((c for c in by("occlusion") if c["variant"] == "paper"), None)
    if paper_occ:
        bench.setdefault("occlusion", {}).update(paper_acc1=paper_occ["acc1"], paper_key=paper_occ["key"])
    if by("in9"):
        bench["in9"] = background.in9_summary(by("in9"))
    aa = next(iter(by("autoattack")), None)
    if aa:
        bench["autoattack"] = autoattack_summary(aa, aa["data"]["protocol"])
    bgc = next(iter(by("bgc")), None)
    if bgc:
        bench["bgc"] = background.challenge_summary(bgc)
        if not bench["bgc"]["protocol"].startswith("every"):
            flags.append("Background Challenge on a subset: " + bench["bgc"]["protocol"])
    out["reference"] = reference_rows(model, bench)
    out["provenance"] = prov = provenance_summary(cells)
    flags += provenance_flags(prov)
    out["throughput"] = throughput(cells)
    return out


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


#: why an on-the-fly mCE under the imagecorruptions protocol is not compared with published values
ON_THE_FLY_WITHHELD = ("rendered on the fly with imagecorruptions (Michaelis et al.), whose elastic_transform, "
                       "frost, impulse_noise and motion blur differ from the generator of the released "
                       "ImageNet-C; published mCE values are withheld (use --corruption-protocol imagenet-c, "
                       "or the released files with --imagenet-c DIR, for a comparable mCE)")


#: (backend, protocol, corruption) that call ImageMagick (the fast backend reproduces it)
MAGICKWAND_CELLS = {("reference", IMAGENET_C, "motion_blur"), ("reference", IMAGENET_C, "snow")}


def corruption_protocol(sources: List[str]) -> Tuple[str, Optional[str]]:
    """(the protocol of a run's ImageNet-C cells, why published values are withheld or None)."""
    label = PROTOCOL_LABELS[frozenset(source_protocol(s) for s in sources)]
    return label, None if label in COMPARABLE_PROTOCOLS else ON_THE_FLY_WITHHELD


def _acc(c: dict) -> dict:
    return {"acc1": c["acc1"], "acc5": c["acc5"], "n": c["n"], "skipped": c["skipped"]}


REF_METRICS = [  # (label, path in bench, reference metrics to show)
    ("clean top-1", ("clean", "acc1"), ("clean_acc1", "clean_acc1_timm", "paper_standard_acc1")),
    ("Background Challenge accuracy", ("bgc", "challenge_acc"), ("bgc_challenge_acc1", "paper_bg_challenge_acc1")),
    ("IN-9 original top-1", ("in9", "original", "acc1"), ("in9_original_acc1",)),
    ("IN-9 mixed_same top-1", ("in9", "mixed_same", "acc1"), ("in9_mixed_same_acc1",)),
    ("IN-9 mixed_rand top-1", ("in9", "mixed_rand", "acc1"), ("in9_mixed_rand_acc1",)),
    ("IN-9 BG-gap (mixed_same - mixed_rand)", ("in9", "bg_gap"), ("in9_bg_gap",)),
    ("ImageNet-A top-1", ("imagenet-a", "acc1"), ("imagenet-a_acc1", "paper_imagenet-a_acc1")),
    ("ImageNet-R top-1", ("imagenet-r", "acc1"), ("imagenet-r_acc1",)),
    ("ImageNet-Sketch top-1", ("imagenet-sketch", "acc1"), ("imagenet-sketch_acc1",)),
    ("ImageNet-V2 top-1", ("imagenet-v2", "acc1"), ("imagenet-v2_acc1",)),
    ("ImageNet-C mCE", ("imagenet-c", "mce"), ("mce",)),
    ("ImageNet-C relative mCE", ("imagenet-c", "relative_mce"), ()),
    ("ImageNet-C mean top-1, 15 benchmark corruptions", ("imagenet-c", "mean_corrupted_acc"), ()),
    ("ImageNet-C mean top-1, every evaluated corruption", ("imagenet-c", "mean_corrupted_acc_evaluated"), ()),
    ("occlusion top-1, paper cell (centred box, unverified protocol)", ("occlusion", "paper_acc1"),
     ("paper_occlusion_acc1",)),
    ("occlusion AUC over the sweep (extra; no reference)", ("occlusion", "auc"), ()),
    ("FGSM top-1 (first eps)", ("fgsm", "acc1"), ("paper_fgsm_acc1",)),
    ("PGD top-1 (first eps)", ("pgd", "acc1"), ()),
    ("AutoAttack robust top-1 (no published value for PiT)", ("autoattack", "robust_acc"), ()),
    ("AutoAttack subset clean top-1", ("autoattack", "clean_acc"), ()),
]


def reference_rows(model: str, bench: dict) -> List[dict]:
    """One row per metric: ours (in %) beside every reference value known for this model."""
    rows = []
    for label, path, ref_keys in REF_METRICS:
        v = bench
        for k in path:
            v = v.get(k, {}) if isinstance(v, dict) else None
        v = None if v == {} else v
        if isinstance(v, list):
            v = v[0] if v else None
        ours = None if v is None else 100.0 * v
        refs = [r for r in (references.lookup(model, m) for m in ref_keys) if r]
        withheld = (bench.get(path[0]) or {}).get("comparison_withheld") if refs else None
        if path[0] not in bench or (ours is None and not refs):
            continue   # not run, or nothing to show
        if bench[path[0]].get("corruption_protocol"):  # every ImageNet-C metric names its protocol
            label = f"{label} [{bench[path[0]]['corruption_protocol']}]"
        rows.append({"metric": label, "ours": ours, "withheld": withheld, "references": [] if withheld else [
            {**r, "delta": None if ours is None else ours - r["value"]} for r in refs]})
    return rows


def cell_rows(cells) -> List[dict]:
    keys = ("key", "benchmark", "variant", "param", "n", "correct1", "correct5", "skipped", "acc1",
            "acc5", "pred_fingerprint", "seconds")
    rows = []
    for c in sorted(cells, key=lambda c: c["key"]):
        p, t = c.get("provenance") or {}, c.get("timing") or {}
        rows.append({**{k: c.get(k) for k in keys}, "precision": p.get("precision", "unknown"),
                     "device": p.get("device_name", "unknown"), "compile": p.get("compile"),
                     "stall_share": t.get("stall_share"), "images_per_s": t.get("images_per_s"),
                     "data_source": (with_protocol(c.get("data")) or {}).get("source")})
    return rows


def format_table(summary: dict) -> str:
    """The CLI's final table: ours beside the references (unverified ones marked)."""
    lines = [f"model {summary['model']}  weights {summary['weights']['source']}"]
    lines += [f"!! {f}" for f in summary["flags"]]
    tp = summary.get("throughput")
    if tp:
        lines.append(f"throughput {tp['images_per_s']} img/s, {tp['image_cells_per_s']} image-cells/s; device busy "
                     f"{100 * tp['device_busy']:.0f} %, waited for data {100 * tp['stall_share']:.0f} % of "
                     f"{tp['wall_s']:.0f} s (timer: {tp['device_timer']})")
    w = max([len(r["metric"]) for r in summary["reference"]] + [6])
    lines.append(f"{'metric':{w}s} {'ours':>8s}   reference")
    for r in summary["reference"]:
        ours = "—" if r["ours"] is None else f"{r['ours']:.2f}"
        refs = "; ".join(f"{references.fmt(x)} [{x['source']}]" for x in r["references"]) or (
            f"comparison withheld: {r['withheld']}" if r.get("withheld") else "")
        lines.append(f"{r['metric']:{w}s} {ours:>8s}   {refs}")
    return "\n".join(lines)
