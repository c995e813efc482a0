"""The evaluation engine: device and AMP selection, exact distributed sharding, data loading and the
one evaluation loop of every classification benchmark, which feeds each model batch to the cell's
metrics (:mod:`pit_eval.loop_metrics`) and names none of them."""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import asdict, dataclass
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence, Tuple

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from . import progress

from .images import Indexed, collate_skipping
from .loop_metrics import Batch, LoopMetric, merge_values
from .loop_metrics.fingerprint import FP_MOD, fingerprint_terms, prediction_fingerprint  # noqa: F401 (re-exported)
from .settings import at_least, option, optional, parse_fields, positive
from .stall import StallMeter

logger = logging.getLogger(__name__)
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")
#: settings that can change any cell's predictions; batch-dependent cells add BATCH_SETTINGS
PREDICTION_SETTINGS = ("precision", "device_type", "compile", "channels_last")
BATCH_SETTINGS = ("batch_size", "world_size")


@dataclass(frozen=True)
class EngineConfig:
    """The engine's settings, each declared once (:mod:`pit_eval.settings`: flag, keyword, field)."""
    device: str = option("auto", "auto (CUDA if present) | cpu | cuda | cuda:N")
    amp: Optional[str] = option(None, "mixed precision (default dtype bf16)", choices=tuple(AMP_DTYPES), const="bf16")
    batch_size: int = option(64, "images per batch", parse=positive(int))
    workers: Optional[int] = option(None, "DataLoader workers (default: the cores per process but one, at most 32)",
                                    parse=optional(at_least(0, int)))
    channels_last: bool = option(True, "no channels-last memory format", flag="--no-channels-last")
    quiet: bool = option(False, "no progress bars (for logs)")
    compile: Optional[str] = option(None, "torch.compile the model (mode; default 'default'); recorded per cell, so "
                                    "compiled and eager cells never mix silently", choices=COMPILE_MODES,
                                    const="default")

    def __post_init__(self) -> None:
        parse_fields(self)


def process_rank() -> int:
    """This process's rank under torchrun (or submitit's tasks, set up as torchrun's); 0 alone."""
    return int(os.environ.get("RANK", "0"))


def process_world() -> int:
    """How many processes this run has under torchrun (1 alone)."""
    return int(os.environ.get("WORLD_SIZE", "1"))


def is_main_process() -> bool:
    """Whether this process prints and writes what one process of a run must (rank 0)."""
    return process_rank() == 0


class Engine:
    """Holds the device, the distributed context and the loader settings of one run."""

    def __init__(self, cfg: EngineConfig) -> None:
        self.cfg = cfg
        self.world = process_world()
        self.rank = process_rank()
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = self._select_device(cfg.device, local_rank)
        # under torchrun (LOCAL_RANK set) the process group starts even for one process, so a
        # one-process torchrun exercises the same NCCL / gloo set-up as many
        self._owns_group = (self.world > 1 or "LOCAL_RANK" in os.environ) and not dist.is_initialized()
        if self._owns_group:
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        self.dist_backend = dist.get_backend() if dist.is_initialized() else None
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        # every core of this process's share but one (the loop's), so rendering on the fly uses the box
        self.workers = cfg.workers if cfg.workers is not None else min(32, max(1, cpus // self.world - 1))

    @staticmethod
    def _select_device(name: str, local_rank: int) -> torch.device:
        if name == "auto":
            name = "cuda" if torch.cuda.is_available() else "cpu"
        dev = torch.device(name)
        if dev.type == "cuda":
            if not torch.cuda.is_available():
                raise ValueError("--device cuda requested but CUDA is not available; use --device cpu")
            if dev.index is None:
                dev = torch.device("cuda", local_rank)
            torch.cuda.set_device(dev)
            torch.backends.cudnn.benchmark = True
        return dev

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    def describe(self) -> dict:
        d = {"device": str(self.device), "world_size": self.world, "workers": self.workers,
             "dist_backend": self.dist_backend,
             **{k: v for k, v in asdict(self.cfg).items() if k in ("amp", "batch_size", "channels_last",
                                                                   "compile")}}
        if self.device.type == "cuda":
            d["gpu"] = torch.cuda.get_device_name(self.device)
        return d

    def cell_settings(self) -> dict:
        """What a cell computed by this engine records of its settings (results provenance)."""
        return {"precision": self.cfg.amp or "fp32", "device_type": self.device.type,
                "device_name": (torch.cuda.get_device_name(self.device) if self.device.type == "cuda"
                                else "cpu"),
                "compile": self.cfg.compile, "channels_last": self.cfg.channels_last,
                "batch_size": self.cfg.batch_size, "world_size": self.world}

    def prepare(self, model: nn.Module) -> nn.Module:
        model = model.to(self.device).eval()
        if self.cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
        if self.cfg.compile is not None:
            logger.info("torch.compile(mode=%r): the first batches of each input shape compile", self.cfg.compile)
            model = torch.compile(model, mode=self.cfg.compile)
        return model

    def autocast(self):
        if self.cfg.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=AMP_DTYPES[self.cfg.amp])

    def shard(self, n: int) -> Sequence[int]:
        """This rank's indices: an exact partition (no padded duplicates)."""
        return range(self.rank, n, self.world)

    def loader(self, dataset: Dataset, indices: Optional[Sequence[int]] = None,
               batch_size: Optional[int] = None) -> DataLoader:
        """Batches of (images, labels, indices, n_skipped) over ``indices`` (default: this rank's shard)."""
        sub = Subset(Indexed(dataset), list(self.shard(len(dataset)) if indices is None else indices))
        bs = batch_size or self.cfg.batch_size
        n_batches = -(-len(sub) // bs)
        # a single batch gains nothing from a worker process (the main process waits for it anyway)
        w = min(self.workers, n_batches) if n_batches > 1 else 0
        return OneThreadWorkersLoader(sub, batch_size=bs, shuffle=False, num_workers=w,
                                      pin_memory=self.device.type == "cuda", collate_fn=collate_skipping,
                                      persistent_workers=False, prefetch_factor=4 if w > 0 else None,
                                      worker_init_fn=_one_cv2_thread if w > 0 else None)

    def to_input(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.device, non_blocking=True).float().div_(255)
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last else x

    def gather(self, records: List) -> List:
        """Every rank's ``records`` concatenated in rank order, on every rank."""
        if self.world == 1:
            return records
        parts: List[Optional[List]] = [None] * self.world
        dist.all_gather_object(parts, records)
        return [r for part in parts for r in part or ()]

    def evaluate(self, model: nn.Module, dataset: Dataset, desc: str, metrics: Sequence[LoopMetric],
                 class_subset: Optional[Sequence[int]] = None, perturb: Optional[Callable] = None,
                 meter: Optional[StallMeter] = None) -> Dict[str, object]:
        """One cell: ``metrics`` of ``model`` (which takes [0, 1] input) on ``dataset``, over all ranks
        (each rank's value gathered and merged). See :meth:`cell_values` for the arguments."""
        mine = self.cell_values(model, dataset, desc, metrics, class_subset=class_subset,
                                perturb=perturb, meter=meter)[0]
        return merge_values(metrics, self.gather([mine]))

    def cell_values(self, model: nn.Module, dataset: Dataset, desc: str, metrics: Sequence[LoopMetric],
                    n_cells: int = 1, split: Optional[Callable] = None, **kw) -> List[Dict[str, object]]:
        """This rank's value of each of ``n_cells`` cells evaluated in one pass over ``dataset`` (not
        merged over ranks): ``{"n", "skipped", <metric name>: its value}``.

        ``metrics``: what every cell measures (:mod:`pit_eval.loop_metrics`); each model batch updates
        their device-side states, read back once at the end. ``split(images, labels, indices, device)``
        turns a loaded batch into groups ``(cell ids, images, labels, indices)`` (default: one group,
        all cell 0); with several cells the groups are re-cut into model batches of exactly
        ``batch_size``. Keywords: those of :meth:`models_cell_values`."""
        return self.models_cell_values([(model, metrics)], dataset, desc, n_cells, split, **kw)[0]

    def models_cell_values(self, members: Sequence[Tuple[nn.Module, Sequence[LoopMetric]]], dataset: Dataset,
                           desc: str, n_cells: int = 1, split: Optional[Callable] = None, *,
                           indices: Optional[Sequence[int]] = None, loader_batch: Optional[int] = None,
                           class_subset: Optional[Sequence[int]] = None, perturb: Optional[Callable] = None,
                           meter: Optional[StallMeter] = None) -> List[List[Dict[str, object]]]:
        """:meth:`cell_values` of several ``(model, metrics)`` members fed the same loaded batches (a
        dataset decoded and rendered once for all of them): per member, its cells' values, each as if
        it had run alone. ``indices``: the samples to evaluate (default: this rank's shard);
        ``loader_batch``: samples per loaded batch (default: batch size). ``class_subset``: indices of
        the logits to keep (ImageNet-A/R; labels index into it). ``perturb(model, x, y) -> x'``: an
        input perturbation (attacks) applied on the device. ``meter``: a :class:`StallMeter` that times
        this rank's loop. An unreadable sample counts as skipped in every cell."""
        idx = torch.tensor(class_subset, device=self.device) if class_subset is not None else None
        states = [[m.init(n_cells, self.device) for m in metrics] for _, metrics in members]
        n, skipped = torch.zeros(n_cells, dtype=torch.int64), [0]     # images per cell, on the host
        meter = meter or StallMeter(self.device)
        bar = progress.bar(self.loader(dataset, indices, loader_batch), desc=desc, leave=False, unit="batch",
                           disable=self.cfg.quiet or not self.is_main)

        def groups():
            for images, labels, ids, n_skipped in bar:
                skipped[0] += n_skipped
                if len(labels) == 0:
                    continue
                if split is None:
                    yield torch.zeros(len(labels), dtype=torch.long), images, labels, ids
                else:
                    yield from split(images, labels, ids, self.device)

        # one cell: the loaded batches as they are; several: re-cut into full model batches
        batches = groups() if n_cells == 1 else rebatch(groups(), self.cfg.batch_size)
        for i, (cells, images, labels, ids) in enumerate(meter.timed(batches)):
            meter.begin()
            x0, y = self.to_input(images), labels.to(self.device, non_blocking=True)
            cells_d, ids_d = cells.to(self.device, non_blocking=True), ids.to(self.device, non_blocking=True)
            for (model, metrics), member_states in zip(members, states):
                x = x0
                if perturb is not None:
                    with self.autocast():
                        x = perturb(model, x0, y)
                with torch.inference_mode(), self.autocast():
                    logits = model(x)
                logits = logits.float() if idx is None else logits.float()[:, idx]
                batch = Batch(cells_d, logits, y, ids_d)
                for m, state in zip(metrics, member_states):
                    m.update(state, batch)
            n += torch.bincount(cells, minlength=n_cells)
            meter.end()
            if i % 8 == 7 and not bar.disable:
                busy = meter.busy_so_far()
                if busy is not None:
                    bar.set_postfix_str(f"device busy {100 * busy:.0f} %", refresh=False)
        out = []
        for (_, metrics), member_states in zip(members, states):
            read = [m.read(state, n_cells) for m, state in zip(metrics, member_states)]
            out.append([{"n": int(n[k]), "skipped": skipped[0], **{m.name: r[k] for m, r in zip(metrics, read)}}
                        for k in range(n_cells)])
        return out

    def run_journalled(self, journal, done: Dict[str, dict], keys: Sequence[str], work: Callable,
                       on_round: Optional[Callable[[List[dict]], None]] = None, per_round: int = 0,
                       store: Optional[Callable[[List[dict]], List[dict]]] = None) -> None:
        """Run ``work(key) -> record`` (a dict with that ``key``) for every key not in ``done`` (the
        records already in ``journal``), the keys spread over the ranks in rounds; with ``per_round``
        > 0, ``work(keys) -> records`` takes up to that many keys per rank and round. After each round
        the ranks' records are gathered, journalled (durably, by the main rank) and added to ``done``,
        so a killed run loses only the round in flight. ``store(records) -> records``: called on the
        gathered records before they are journalled (it writes what is not JSON, e.g. prediction rows,
        and returns the records without it)."""
        todo = [k for k in keys if k not in done]
        mine = [todo[i] for i in self.shard(len(todo))]
        size = per_round or 1
        per_rank = -(-len(todo) // self.world)       # every rank runs the same number of rounds
        for r in range(-(-per_rank // size)):
            chunk = mine[r * size:(r + 1) * size]
            records = work(chunk) if per_round else [work(k) for k in chunk]
            records = self.gather(records)
            if store is not None:
                records = store(records)
            journal.append(records)
            done.update((rec["key"], rec) for rec in records)
            if on_round is not None:
                on_round(records)

    def close(self) -> None:
        if self._owns_group and dist.is_initialized():
            if self.world > 1:
                dist.barrier()
            dist.destroy_process_group()


class OneThreadWorkersLoader(DataLoader):
    """A DataLoader whose workers compute on one core each. torch already sets one thread in its
    workers; OpenCV's pool would start a thread per core in every worker (N workers x N threads). Its
    size must be set before the workers fork: set in a forked child while the parent's pool is alive,
    it waits for threads the child does not have, forever."""

    def __iter__(self):
        if self.num_workers == 0:
            return super().__iter__()
        import cv2
        n = cv2.getNumThreads()
        cv2.setNumThreads(1)
        try:
            return super().__iter__()   # the workers start (fork) here
        finally:
            cv2.setNumThreads(n)


def _one_cv2_thread(_: int) -> None:
    """In a worker started fresh (spawn / forkserver), whose OpenCV has no pool yet."""
    import cv2
    if cv2.getNumThreads() != 1:
        cv2.setNumThreads(1)


def rebatch(groups: Iterable[Sequence[torch.Tensor]], size: int) -> Iterator[List[torch.Tensor]]:
    """Re-cut a stream of groups of equally long tensors (cell ids, images, labels, indices) into
    groups of exactly ``size`` rows, in order; only the last may be shorter."""
    buf: List[Sequence[torch.Tensor]] = []
    n = 0
    for g in groups:
        buf.append(g)
        n += len(g[0])
        if n < size:
            continue
        cat = [torch.cat(t) for t in zip(*buf)] if len(buf) > 1 else list(buf[0])
        for s in range(0, n - size + 1, size):
            yield [t[s:s + size] for t in cat]
        rest = n % size
        buf, n = ([[t[n - rest:] for t in cat]] if rest else []), rest
    if n:
        yield [torch.cat(t) for t in zip(*buf)] if len(buf) > 1 else list(buf[0])
