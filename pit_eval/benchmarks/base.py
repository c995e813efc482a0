"""What a benchmark is: a :class:`Benchmark` registered in ``BENCHMARKS`` with its dataset, protocol
options (:func:`option`), :class:`Metric` s, cost and how it plans and summarises its :class:`Cell` s.
The orchestrator (:mod:`pit_eval.robustness`) does everything common and names no benchmark.
Walkthrough: docs/add-a-benchmark.md."""
from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Callable, Dict, List, Optional, Sequence, Tuple

from .. import population
from ..datasets import SUBSET_SOURCE, DataLocation, DatasetSpec, fingerprint, register_dataset
from ..loop_metrics import LoopMetric
from ..metrics import clopper_pearson
from ..registry import Registry, check_choice
from ..settings import option

if TYPE_CHECKING:   # annotations only
    import torch.nn as nn
    from ..engine import Engine
    from ..images import ImageList
    from ..models import EvalTransform

#: ImageNet val, which most benchmarks read (the others' datasets are declared in their modules)
IMAGENET = register_dataset(DatasetSpec("imagenet", "imagenet/val", "PIT_EVAL_IMAGENET", "wnid", image_lists=True))

#: every benchmark, by the name ``--benchmarks`` and ``summary["benchmarks"]`` use
BENCHMARKS: Registry["Benchmark"] = Registry("benchmark")


# ------------------------------------------------------------------------------------ options
@dataclass(frozen=True)
class NoOptions:
    """A benchmark without protocol options."""


def _image_subset(value) -> Optional[str]:
    from ..datasets import IMAGE_SUBSETS
    return None if value in (None, "", "none") else check_choice("--subset", value, IMAGE_SUBSETS)


@dataclass(frozen=True)
class ImageSubsetOption:
    """The protocol option of the benchmarks RobustBench scores on its 5,000 listed val images (clean,
    ImageNet-C, ImageNet-3DCC, AutoAttack): their options classes inherit it, so it is one flag and one
    value for all of them."""
    subset: Optional[str] = option(None, "restrict ImageNet val, ImageNet-C and ImageNet-3DCC (and so AutoAttack) to "
                                   "a named list of val images: robustbench-5k, RobustBench's 5,000 (its "
                                   "leaderboard's clean, ImageNet-C, 3DCC and AutoAttack numbers)",
                                   parse=_image_subset, metavar="robustbench-5k")


def subset_flag(name: str) -> str:
    """A summary's flag of a run restricted to a named image subset."""
    return (f"subset: {SUBSET_SOURCE[name]} for ImageNet val and ImageNet-C (and so AutoAttack); compare with "
            "RobustBench's leaderboard only under this subset")


# ------------------------------------------------------------------------------------ metrics
def walk(doc, path: Sequence) -> Any:
    """``doc[path[0]][path[1]]...`` through dicts (keys) and lists (indices); None where it ends."""
    for k in path:
        if isinstance(doc, dict):
            doc = doc.get(k)
        elif isinstance(doc, list) and isinstance(k, int) and k < len(doc):
            doc = doc[k]
        else:
            return None
    return doc


@dataclass(frozen=True)
class Metric:
    """One number of a benchmark's summary entry (``summary["benchmarks"][benchmark]``).

    ``path``: keys (and list indices) into the entry; ``refs``: the reference metrics shown beside it
    (:mod:`pit_eval.references`); ``column``: its column in the run report (None: not a column);
    ``requires``: a key of the entry that must be True for the value to be defined (a complete grid),
    ``requires_what`` saying what that is;
    ``scale``: display units (100: per cent; None: text, never compared); ``ci``: the path of its
    95 % interval ``[lo, hi]`` in the entry (an accuracy's Clopper-Pearson interval), None if it has none."""
    name: str
    label: str
    path: Tuple = ()
    refs: Tuple[str, ...] = ()
    column: Optional[str] = None
    requires: Optional[str] = None
    requires_what: str = "the complete grid"   # what ``requires`` asks, in the words a report says it
    scale: Optional[float] = 100.0
    ci: Optional[Tuple] = None
    in_table: bool = True        # a row of the CLI table / summary["reference"] (False: summary and reports only)
    benchmark: str = ""          # set when its benchmark is registered

    @property
    def id(self) -> str:
        """The name paper.json columns use: ``<benchmark>.<metric>``."""
        return f"{self.benchmark}.{self.name}"

    def shown(self, entry: Optional[dict]):
        """The value in display units; None when not run, not defined (``requires``) or not a number."""
        v = walk(entry, self.path or (self.name,))
        if v is None or (self.requires and not (entry or {}).get(self.requires)):
            return None
        if self.scale is None:
            return v
        return v * self.scale if isinstance(v, (int, float)) and not isinstance(v, bool) else None

    def interval(self, entry: Optional[dict]) -> Optional[List[float]]:
        """Its 95 % interval in display units, where it has one."""
        v = walk(entry, self.ci) if self.ci else None
        if self.shown(entry) is None or not isinstance(v, list) or len(v) != 2 or None in v:
            return None
        return [x * (self.scale or 1.0) for x in v]


# ------------------------------------------------------------------------------------ cells
@dataclass
class Cell:
    """One result of a benchmark: a key in cells.jsonl, computed once and resumed by key.

    Exactly one way to compute it: ``loop`` (``-> (dataset, class_subset, perturb)``, run through the
    engine's evaluation loop), ``run`` (its own loop, given the results directory; returns counts), or
    ``shared_pass`` (cells with the same value are computed together by their benchmark's
    :meth:`Benchmark.run_pass`). ``fingerprint``: what it was computed on (stored as ``data``; a resume
    recomputes nothing only if it is equal). ``metrics``: what the loop measures (default: top-1/top-5,
    fingerprint, calibration and predictions; with ``pred_map``, mapped top-1); a ``run`` cell lists
    what it records. ``paths``: sample index -> path, for a ``run`` cell that returns prediction rows."""
    key: str
    benchmark: str
    variant: str                   # corruption / occlusion protocol / attack / IN-9 variant / ""
    param: Optional[float]         # severity / level / eps
    fingerprint: dict
    loop: Optional[Callable[[], tuple]] = None
    run: Optional[Callable[[Any], dict]] = None
    shared_pass: Optional[str] = None
    pred_map: Optional[List[int]] = None   # top-1 class -> label (IN-9)
    pass_input: Any = None          # what run_pass needs of this cell
    metrics: Optional[List[LoopMetric]] = None
    paths: Optional[Callable[[int], str]] = None

    def spec(self) -> Dict[str, Any]:
        """What the cell is, as data (a sweep's plan.json): its identity, its data and how it is computed;
        no model enters it (the computing closures bind the run's model when they run)."""
        how = "shared pass" if self.shared_pass else ("own loop" if self.run else "loop")
        return {"key": self.key, "benchmark": self.benchmark, "variant": self.variant, "param": self.param,
                "data": self.fingerprint, "computed_by": how, "shared_pass": self.shared_pass}


def prerendered_cell(run, benchmark: str, dataset: str, corruption: str, severity: int, folder: str) -> Cell:
    """The cell of one pre-rendered corruption folder (``<folder>/<wnid>/*``: released ImageNet-C,
    ImageNet-C-bar, -3DCC), read through the model's :meth:`~pit_eval.images.EvalTransform.prerendered`
    transform, keyed ``<benchmark>/<corruption>/<severity>``, its data ``source`` ``prerendered``."""
    ds, _ = run.open(dataset, run.transform.prerendered(), folder, f"{benchmark} {corruption}/{severity}")
    return Cell(f"{benchmark}/{corruption}/{severity}", benchmark, corruption, severity,
                {**fingerprint(ds), "source": "prerendered"}, loop=lambda: (ds, None, None))


def cell_record(cell: Cell, values: Dict[str, Any], seconds: float, timing: Optional[dict] = None) -> dict:
    """The cells.jsonl record: the cell's identity, its named numbers (``values``: ``n``, ``skipped``
    and each metric's, :func:`pit_eval.loop_metrics.finalize`) and, from ``timing``, the stall meter's
    figures of the loop (this rank's; a pass's cells share one, named by ``timing.pass``)."""
    return {"key": cell.key, "benchmark": cell.benchmark, "variant": cell.variant, "param": cell.param,
            **values, "seconds": round(seconds, 3), "timing": timing or {}, "data": cell.fingerprint}


#: the quantities of a record written before the loop's metrics were plug-ins (no ``metrics`` list)
LEGACY_METRICS = {"correct5": ["topk", "fingerprint"], "correct1": ["mapped-top1", "fingerprint"]}


def record_metrics(record: dict) -> List[str]:
    """The loop metrics a record holds (a record from before the list: what its counts show)."""
    if "metrics" in record:
        return list(record["metrics"])
    return next((names for key, names in LEGACY_METRICS.items() if key in record), [])


def upgrade(record: dict) -> dict:
    """A record of any earlier layout with today's names where they can be derived from its counts
    (the intervals of its accuracies); benchmarks rename their own (:meth:`Benchmark.upgrade`)."""
    out = dict(record)
    n = out.get("n") or 0
    for k in ("1", "5"):
        if out.get(f"correct{k}") is not None and f"acc{k}_ci" not in out:
            out[f"acc{k}_ci"] = clopper_pearson(out[f"correct{k}"], n)
    return out


CALIBRATION = ("ece", "nll", "brier")


def calibration(cell: dict, bins: bool = False) -> Optional[dict]:
    """A cell's calibration for its summary entry (None when the cell has none: mapped labels, or a
    record written before calibration was measured)."""
    if cell.get("ece") is None:
        return None
    out = {k: cell[k] for k in CALIBRATION}
    if bins:
        out["bins"] = cell["calibration_bins"]
    return out


def accuracy(cell: dict) -> dict:
    """The summary entry of a one-cell accuracy benchmark: top-1 / top-5 with their intervals, and
    the calibration with its reliability bins."""
    return {"acc1": cell["acc1"], "acc5": cell["acc5"], "acc1_ci": cell.get("acc1_ci"),
            "acc5_ci": cell.get("acc5_ci"), "n": cell["n"], "skipped": cell["skipped"],
            "calibration": calibration(cell, bins=True)}


def curve(cells: List[dict], x: str) -> Optional[dict]:
    """The summary entry of a sweep (occlusion levels, attack eps): accuracy, its interval and the
    calibration per parameter value."""
    rows = sorted(cells, key=lambda c: c["param"])
    if not rows:
        return None
    cal = [calibration(c) for c in rows]
    return {x: [c["param"] for c in rows], "acc1": [c["acc1"] for c in rows],
            "acc1_ci": [c.get("acc1_ci") for c in rows], "n": rows[0]["n"], "keys": [c["key"] for c in rows],
            "calibration": {k: [v[k] if v else None for v in cal] for k in CALIBRATION}}


@dataclass
class SummaryContext:
    """What a benchmark's summary may read beside its own cells: the entries summarised before it
    (``benchmarks``; ImageNet-C reads the clean accuracy), and the run's ``flags`` (it may add)."""
    sample: bool
    max_images: Optional[int]
    benchmarks: Dict[str, dict]
    flags: List[str]
    subset: Optional[str] = None    # a named image list (robustbench-5k)


@dataclass
class RunContext:
    """All a benchmark may use of the run that plans and computes it: the orchestrator builds one per
    run and passes it to :meth:`Benchmark.plan` and :meth:`Benchmark.run_pass`. ``model`` is None for a
    run that only plans (a sweep's plan); the cells' closures read it when they run."""
    engine: "Engine"
    model: Optional["nn.Module"]
    transform: "EvalTransform"
    #: dataset name -> where it was found (``path`` None: not found)
    locations: Dict[str, DataLocation]
    seed: int
    max_images: Optional[int]
    on_bad_image: str
    save_logits: bool
    recompute_incomplete: bool
    #: ``open(dataset, transform, root=None, folder_name=None) -> (ImageList, logit subset)``: scan its
    #: class folders (``root``: a sub-tree), thinned and restricted as the run asks
    open: Callable[..., Tuple["ImageList", Optional[List[int]]]]
    #: ``dataset(name) -> (ImageList, logit subset, fingerprint)`` through the full eval transform,
    #: scanned once for every benchmark that reads it
    dataset: Callable[[str], Tuple["ImageList", Optional[List[int]], dict]]
    #: ``options(benchmark)``: its options in this run
    options: Callable[["Benchmark"], Any]
    #: ``settings(benchmark)``: this run's values of the settings that can change its predictions
    settings: Callable[["Benchmark"], dict]
    #: ``cell_metrics(cell)``: what the loop measures for a cell (its own metrics, or the defaults)
    cell_metrics: Callable[[Cell], List[LoopMetric]]
    #: what benchmarks share while planning, by a key of the benchmark's own (one scan of a tree)
    cache: Dict[str, Any] = field(default_factory=dict)

    def clean(self) -> Tuple["ImageList", dict]:
        """ImageNet val through the full eval transform, and its fingerprint."""
        ds, _, fp = self.dataset("imagenet")
        return ds, fp


# ------------------------------------------------------------------------------------ benchmarks
class Benchmark:
    """A benchmark: declare the class attributes, implement :meth:`plan` and :meth:`summarize`.

    ``dataset``: the :data:`pit_eval.datasets.DATASETS` entry it needs (without it the benchmark is
    skipped, or refused when asked for by name), ``also_reads``: the others it needs (ImageNet-O reads
    ImageNet val too; each is located, fingerprinted and checked the same way); ``default``: runs when ``--benchmarks`` is not given;
    ``options``: a frozen dataclass of :func:`option` fields (its CLI flags, API keywords and defaults
    are generated from it; several benchmarks may share one); ``forwards_per_image``: the plan's cost
    estimate (a backward costs ~2 forwards); ``batch_dependent``: its predictions depend on the batch
    (random draws per batch), so a resume also compares the batch size and world size; ``order``: its
    place in plans, tables and reports; ``doc``: its page under docs/."""
    name: str = ""
    title: str = ""
    dataset: str = "imagenet"
    also_reads: Tuple[str, ...] = ()
    default: bool = True
    options: type = NoOptions
    metrics: Tuple[Metric, ...] = ()
    forwards_per_image: float = 1.0
    batch_dependent: bool = False
    order: int = 100
    doc: str = ""
    #: what a run whose loop waited for this benchmark's data can do about it (the stall warning's remedies)
    stall_remedies: Tuple[str, ...] = ()

    @property
    def inputs(self) -> Tuple[str, ...]:
        """Every dataset it reads, its own first."""
        return (self.dataset,) + tuple(d for d in self.also_reads if d != self.dataset)

    def configure(self, values: Dict[str, Any]):
        """This benchmark's options from a run's option values (every benchmark's, by name)."""
        return self.options(**{f.name: values[f.name] for f in dataclasses.fields(self.options)})

    def cost(self, images: Callable[[str], int], opts) -> float:
        """Forward-pass equivalents of a run; ``images(dataset)``: images it will read of a dataset."""
        return images(self.dataset) * self.forwards_per_image

    def plan(self, run: RunContext, opts) -> List[Cell]:
        """The cells of a run, from its :class:`RunContext`; open (scan) every input here, so bad data
        stops the run before any compute."""
        raise NotImplementedError

    def summarize(self, cells: List[dict], ctx: SummaryContext) -> Optional[dict]:
        """The summary entry from this benchmark's finished cell records (None: nothing to show)."""
        raise NotImplementedError

    def run_pass(self, cells: List[Cell], run: RunContext, rd) -> List[dict]:
        """Compute cells that share a pass (``Cell.shared_pass``); returns their records."""
        raise NotImplementedError(f"benchmark {self.name!r} plans shared-pass cells but has no run_pass")

    def run_passes_together(self, members: List[Tuple[List[Cell], RunContext, Any]], names: List[str]) -> int:
        """Several models' pending passes of one ``shared_pass`` (``(cells, run, rd)`` per model of a
        sweep): journal whatever one pass can compute for all of them (their images do not depend on
        the model), so each model's own :meth:`run_pass` then finds it done. Returns how many models
        shared; default 0 (each pass runs alone)."""
        return 0

    def upgrade(self, record: dict) -> dict:
        """A record written by an earlier layout, read with today's names (default: as it is)."""
        return record

    def resume_refusal(self, was: dict, now: dict) -> Optional[str]:
        """Why a finished cell computed on data ``was`` (its stored, upgraded fingerprint) must not be
        resumed under ``now`` when they differ, if it is more than a data change (its message; default
        None: the orchestrator says which files changed)."""
        return None

    def qualifier(self, entry: Optional[dict]) -> Optional[str]:
        """Words that qualify every number of its summary entry where they are shown (default None)."""
        return None

    def metric_title(self, metric: Metric, entry: Optional[dict]) -> str:
        """A metric's label as tables show it, with the entry's :meth:`qualifier` in brackets."""
        q = self.qualifier(entry)
        return f"{metric.label} [{q}]" if q else metric.label

    def headline(self, record: dict) -> str:
        """The few words a log line says of a finished cell."""
        return f"top-1 {100 * record['acc1']:.2f} % of {record['n']}" if record.get("acc1") is not None \
            else f"{record['n']} images"

    def plots(self, runs: List[Tuple[str, dict]]) -> Dict[str, Any]:
        """Report figures (matplotlib) from ``(legend label, summary entry)`` of every run that has one."""
        return {}

    def cloud_accuracy(self, entry: Optional[dict]) -> Tuple[Optional[float], Optional[List[float]]]:
        """(top-1, its interval) of its summary entry as the clouds measure the shift (default: ``acc1``;
        None where the entry is not that number)."""
        return (entry.get("acc1"), entry.get("acc1_ci")) if entry else (None, None)


def register(unit: Benchmark) -> Benchmark:
    """Register a benchmark instance under its name (its metrics learn the benchmark's name)."""
    unit.metrics = tuple(dataclasses.replace(m, benchmark=unit.name) for m in unit.metrics)
    return BENCHMARKS.register(unit.name, unit)


def ordered() -> List[Benchmark]:
    """Every benchmark, in plan order."""
    return sorted((b for _, b in BENCHMARKS.items()), key=lambda b: b.order)


def effective_robustness(entries: Dict[str, dict], cloud: str = "timm") -> Dict[str, dict]:
    """Effective robustness of a run (its summary's ``benchmarks``) on every shift it measured that the
    cloud has (:mod:`pit_eval.population`); the x axis from the entry of the cloud's x column, the clean
    benchmark (``acc1``, or its top-1 on the shift's classes, ``subset_acc1``)."""
    ref = population.reference_column(cloud)
    clean = entries.get(ref)
    out = {}
    for shift in population.shifts(cloud):
        y, y_ci = BENCHMARKS.get(shift).cloud_accuracy(entries.get(shift))
        if y is None:
            continue
        if clean is None:
            out[shift] = {"value": None,
                          "why": f"effective robustness needs the {ref} accuracy: add {ref} to --benchmarks"}
            continue
        same_classes = population.axis(shift, cloud) != ref
        sub = (clean.get("subset_acc1") or {}).get(shift)
        x = (sub or {}).get("acc1") if same_classes else clean["acc1"]
        why = None
        if same_classes and sub is None:
            why = f"this run's {ref} cell has no top-1 on the {shift} classes (written before it was measured)"
        elif x is None:
            why = f"none of this run's {ref} images is of the {shift} classes"
        elif not (0 < x < 1 and 0 < y < 1):
            why = f"a top-1 of 0 or 100 % has no logit (x {100 * x:.2f} %, y {100 * y:.2f} %)"
        if why:
            out[shift] = {"value": None, "why": why}
            continue
        out[shift] = population.effective_robustness(x, y, population.fit(shift, cloud), y_ci)
    return out
