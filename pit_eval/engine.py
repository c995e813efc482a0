"""The evaluation engine: device and AMP selection, exact distributed sharding, data loading and the
counting loop shared by every classification benchmark."""
from __future__ import annotations

import contextlib
import logging
import os
from dataclasses import asdict, dataclass
from typing import Callable, Dict, Iterable, Iterator, List, Optional, Sequence

import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Subset
from tqdm import tqdm

from .images import Indexed, collate_skipping
from .metrics import topk_correct

logger = logging.getLogger(__name__)
AMP_DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16}
FP_MOD = 1 << 40


def prediction_fingerprint(indices: torch.Tensor, preds: torch.Tensor) -> int:
    """An order-independent digest of (sample index, top-1 prediction) pairs: a sum of per-sample
    hashes, so shards can be all-reduced. Equal digests = the same prediction for every image."""
    total = 0
    for i, p in zip(indices.tolist(), preds.tolist()):
        total += ((i * 1_000_003 + p + 1) * 0x9E3779B97F4A7C15 >> 17) % FP_MOD
    return total % FP_MOD


@dataclass(frozen=True)
class EngineConfig:
    device: str = "auto"        # auto | cpu | cuda | cuda:N
    amp: Optional[str] = None   # None | bf16 | fp16
    batch_size: int = 64
    workers: Optional[int] = None  # default: min(8, cpus per process)
    channels_last: bool = True
    quiet: bool = False

    def __post_init__(self) -> None:
        if self.amp not in (None, *AMP_DTYPES):
            raise ValueError(f"--amp must be one of {list(AMP_DTYPES)}, got {self.amp!r}")
        if self.batch_size < 1:
            raise ValueError(f"--batch-size must be >= 1, got {self.batch_size}")
        if self.workers is not None and self.workers < 0:
            raise ValueError(f"--workers must be >= 0, got {self.workers}")


class Engine:
    """Holds the device, the distributed context and the loader settings of one run."""

    def __init__(self, cfg: EngineConfig) -> None:
        self.cfg = cfg
        self.world = int(os.environ.get("WORLD_SIZE", "1"))
        self.rank = int(os.environ.get("RANK", "0"))
        local_rank = int(os.environ.get("LOCAL_RANK", "0"))
        self.device = self._select_device(cfg.device, local_rank)
        if self.world > 1 and not dist.is_initialized():
            dist.init_process_group("nccl" if self.device.type == "cuda" else "gloo")
        cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
        self.workers = cfg.workers if cfg.workers is not None else min(8, max(1, cpus // self.world))

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
             **{k: v for k, v in asdict(self.cfg).items() if k in ("amp", "batch_size", "channels_last")}}
        if self.device.type == "cuda":
            d["gpu"] = torch.cuda.get_device_name(self.device)
        return d

    def prepare(self, model: nn.Module) -> nn.Module:
        model = model.to(self.device).eval()
        if self.cfg.channels_last:
            model = model.to(memory_format=torch.channels_last)
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
        return DataLoader(sub, batch_size=bs, shuffle=False, num_workers=w,
                          pin_memory=self.device.type == "cuda", collate_fn=collate_skipping,
                          persistent_workers=False, prefetch_factor=4 if w > 0 else None)

    def to_input(self, images: torch.Tensor) -> torch.Tensor:
        x = images.to(self.device, non_blocking=True).float().div_(255)
        return x.contiguous(memory_format=torch.channels_last) if self.cfg.channels_last else x

    def all_reduce(self, counts: Dict[str, int]) -> Dict[str, int]:
        if self.world == 1:
            return counts
        keys = sorted(counts)
        t = torch.tensor([counts[k] for k in keys], dtype=torch.int64,
                         device=self.device if self.device.type == "cuda" else "cpu")
        dist.all_reduce(t)
        out = {k: int(v) for k, v in zip(keys, t.tolist())}
        if "pred_fingerprint" in out:
            out["pred_fingerprint"] %= FP_MOD
        return out

    def gather(self, records: List[dict]) -> List[dict]:
        """Every rank's ``records`` concatenated in rank order, on every rank."""
        if self.world == 1:
            return records
        parts: List[Optional[List[dict]]] = [None] * self.world
        dist.all_gather_object(parts, records)
        return [r for part in parts for r in part or ()]

    def evaluate(self, model: nn.Module, dataset: Dataset, desc: str,
                 class_subset: Optional[Sequence[int]] = None,
                 perturb: Optional[Callable] = None,
                 pred_map: Optional[Sequence[int]] = None,
                 finish: Optional[Callable] = None) -> Dict[str, int]:
        """Top-1/top-5 counts of ``model`` (which takes [0, 1] input) on ``dataset``, over all ranks.

        ``class_subset``: indices of the logits to keep (ImageNet-A/R); labels index into it.
        ``perturb(model, x, y) -> x'``: an input perturbation (attacks) applied on the device.
        ``pred_map``: maps each top-1 class to a label (ImageNet -> IN-9, -1 never matches); then only
        top-1 is counted (``correct5`` is absent).
        ``finish(images, indices, device) -> images``: completes each loaded uint8 batch in the loop
        (ImageNet-C with the torch corruption backend renders on the device there)."""
        split = None if finish is None else (
            lambda images, labels, indices, device: [(torch.zeros(len(labels), dtype=torch.long),
                                                      finish(images, indices, device), labels, indices)])
        counts = self.evaluate_cells(model, dataset, desc, 1, split, class_subset=class_subset,
                                     perturb=perturb, pred_map=pred_map)[0]
        return self.all_reduce(counts)

    def evaluate_cells(self, model: nn.Module, dataset: Dataset, desc: str, n_cells: int = 1,
                       split: Optional[Callable] = None, *, indices: Optional[Sequence[int]] = None,
                       loader_batch: Optional[int] = None, class_subset: Optional[Sequence[int]] = None,
                       perturb: Optional[Callable] = None,
                       pred_map: Optional[Sequence[int]] = None) -> List[Dict[str, int]]:
        """This rank's counts for each of ``n_cells`` cells evaluated in one pass over ``dataset``
        (not reduced over ranks). ``split(images, labels, indices, device)`` turns a loaded batch into
        groups ``(cell ids, images, labels, indices)`` (default: one group, all cell 0); with several
        cells the groups are re-cut into model batches of exactly ``batch_size``. ``indices``: the samples to evaluate
        (default: this rank's shard); ``loader_batch``: samples per loaded batch (default: batch size).
        An unreadable sample counts as skipped in every cell."""
        idx = torch.tensor(class_subset, device=self.device) if class_subset is not None else None
        cmap = torch.tensor(pred_map, device=self.device) if pred_map is not None else None
        counts = [{"n": 0, "correct1": 0, "correct5": 0, "skipped": 0, "pred_fingerprint": 0}
                  for _ in range(n_cells)]
        bar = tqdm(self.loader(dataset, indices, loader_batch), desc=desc, leave=False, unit="batch",
                   disable=self.cfg.quiet or not self.is_main)

        def groups():
            for images, labels, ids, skipped in bar:
                for c in counts:
                    c["skipped"] += skipped
                if len(labels) == 0:
                    continue
                if split is None:
                    yield torch.zeros(len(labels), dtype=torch.long), images, labels, ids
                else:
                    yield from split(images, labels, ids, self.device)

        # one cell: the loaded batches as they are; several: re-cut into full model batches
        batches = groups() if n_cells == 1 else rebatch(groups(), self.cfg.batch_size)
        for cells, images, labels, ids in batches:
            x, y = self.to_input(images), labels.to(self.device, non_blocking=True)
            if perturb is not None:
                with self.autocast():
                    x = perturb(model, x, y)
            with torch.inference_mode(), self.autocast():
                logits = model(x)
            logits = logits.float() if idx is None else logits.float()[:, idx]
            if n_cells == 1:
                _count(counts[0], logits, y, ids, cmap)
                continue
            for k in cells.unique().tolist():
                m = cells == k
                _count(counts[k], logits[m.to(logits.device)], y[m.to(y.device)], ids[m], cmap)
        for c in counts:
            c["pred_fingerprint"] %= FP_MOD
            if cmap is not None:
                del c["correct5"]
        return counts

    def run_journalled(self, journal, done: Dict[str, dict], keys: Sequence[str],
                       work: Callable[[str], dict], on_round: Optional[Callable[[List[dict]], None]] = None) -> None:
        """Run ``work(key) -> record`` (a dict with that ``key``) for every key not in ``done`` (the
        records already in ``journal``), the keys spread over the ranks in rounds. After each round the
        ranks' records are gathered, journalled (durably, by the main rank) and added to ``done``, so a
        killed run loses only the round in flight."""
        todo = [k for k in keys if k not in done]
        mine = [todo[i] for i in self.shard(len(todo))]
        for r in range(-(-len(todo) // self.world)):
            records = self.gather([work(mine[r])] if r < len(mine) else [])
            journal.append(records)
            done.update((rec["key"], rec) for rec in records)
            if on_round is not None:
                on_round(records)

    def close(self) -> None:
        if self.world > 1 and dist.is_initialized():
            dist.barrier()
            dist.destroy_process_group()


def _count(counts: Dict[str, int], logits: torch.Tensor, y: torch.Tensor, indices: torch.Tensor,
           cmap: Optional[torch.Tensor]) -> None:
    counts["n"] += len(y)
    if cmap is None:
        hits = topk_correct(logits, y, (1, 5))
        counts["correct1"] += hits[1]
        counts["correct5"] += hits[5]
    else:
        counts["correct1"] += int((cmap[logits.topk(1, 1).indices[:, 0]] == y).sum())
    counts["pred_fingerprint"] += prediction_fingerprint(indices, logits.argmax(1).cpu())


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
