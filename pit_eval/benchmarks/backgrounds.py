"""ImageNet-9 and the Background Challenge (Xiao et al. 2020, "Noise or Signal: The Role of Image
Backgrounds in Object Recognition"; reference code github MadryLab/backgrounds_challenge): IN-9
accuracy per variant and BG-gap, and the challenge (a foreground is vulnerable if any ``only_bg_t``
background composite fools the model, predictions mapped 1000 -> 9 through ``in_to_in9.json``).
Backgrounds are decoded once onto the device, composites built there for many foregrounds per batch,
a foreground retired at its first fooling background, and each foreground's progress journalled so a
killed run resumes it where it stopped. Layout, protocol, journals: docs/benchmarks/backgrounds.md.
"""
from __future__ import annotations

import contextlib
import functools
import hashlib
import json
import logging
import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

import numpy as np
import torch
from torch import nn
from torch.utils.data import DataLoader
from torchvision.transforms import PILToTensor
from ..progress import bar as progress_bar

from ..datasets import DatasetSpec, fingerprint, register_dataset, thin
from ..images import IMG_EXTENSIONS, DataError, ImageList, check_same_size, load_rgb
from ..results import Journal, stable_hash
from ..stall import StallMeter
from ..metrics import clopper_pearson
from ..settings import option, optional, positive
from .base import Benchmark, Cell, Metric, SummaryContext, register

logger = logging.getLogger(__name__)

ASSETS = Path(__file__).parents[1] / "assets" / "in9"
register_dataset(DatasetSpec("imagenet-9", "imagenet-9", "PIT_EVAL_IMAGENET_9", "own", folders_only=True))
MAP_PATH = ASSETS / "in_to_in9.json"
N_CLASSES = 9
IN9_SIZE = "the released IN-9 images are all 224x224 and are evaluated without resizing"
#: variants in the order the reports show them; any other variant folder present follows, sorted
KNOWN_VARIANTS = ("original", "mixed_same", "mixed_rand", "only_fg", "only_bg_t", "only_bg_b",
                  "no_fg", "mixed_next")
NOT_VARIANTS = ("fg_mask",)
#: foregrounds per round (rank 0 journals each round's decided flags)
ROUND_FOREGROUNDS = 64
#: how often each rank journals the position of its undecided foregrounds (decided ones: at once)
PROGRESS_SECONDS = 10.0


@functools.lru_cache(None)
def class_names() -> Tuple[str, ...]:
    """The nine IN-9 classes in label order (Dog, Bird, Vehicle, ...)."""
    return tuple(line.split()[0] for line in (ASSETS / "in9_classes.txt").read_text().splitlines()
                 if line.strip())


def load_map(path: str | os.PathLike = MAP_PATH) -> List[int]:
    """The ImageNet -> IN-9 map as a list of 1000 labels (-1: none of the nine).
    Raises DataError naming the file if it is not exactly the 1000 keys "0".."999" with values -1..8."""
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, json.JSONDecodeError) as e:
        raise DataError(f"IN-9 class map {str(path)!r} cannot be read ({e}); pass the reference "
                        "repository's in_to_in9.json") from None
    keys = {str(i) for i in range(1000)}
    if not isinstance(doc, dict) or set(doc) != keys:
        n = len(doc) if isinstance(doc, (dict, list)) else 0
        raise DataError(f"IN-9 class map {str(path)!r} has {n} entries; it must map each of the 1000 "
                        "ImageNet class indices \"0\"..\"999\" to an IN-9 label 0..8 or -1")
    bad = [k for k, v in doc.items() if not isinstance(v, int) or not -1 <= v < N_CLASSES]
    if bad:
        raise DataError(f"IN-9 class map {str(path)!r}: entries {bad[:5]} are not labels in -1..8")
    return [doc[str(i)] for i in range(1000)]


# ------------------------------------------------------------------------------------- the tree
@dataclass(frozen=True)
class Foreground:
    key: str       # "<class folder>/<name>"
    image: str     # original/val/<class>/<name>.JPEG
    mask: str      # fg_mask/val/<class>/<name>.npy
    label: int


def _val_classes(root: Path, variant: str) -> List[str]:
    val = root / variant / "val"
    if not val.is_dir():
        raise DataError(f"IN-9 folder {str(val)!r} does not exist; point --imagenet-9 at the folder "
                        "holding original/, fg_mask/, only_bg_t/, mixed_same/, ... (each with val/)")
    dirs = sorted(d.name for d in val.iterdir() if d.is_dir())
    if len(dirs) != N_CLASSES:
        raise DataError(f"IN-9 folder {str(val)!r} has {len(dirs)} class folders, expected {N_CLASSES} "
                        f"(found {dirs[:12]}); is --imagenet-9 pointing at the released data?")
    return dirs


class IN9Tree:
    """A scanned and checked IN-9 / Background Challenge folder."""

    def __init__(self, root: str | os.PathLike) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DataError(f"IN-9 folder {str(self.root)!r} does not exist; give --imagenet-9 DIR")
        present = sorted(d.name for d in self.root.iterdir() if (d / "val").is_dir())
        self.variants = [v for v in KNOWN_VARIANTS if v in present] + \
            [v for v in present if v not in KNOWN_VARIANTS and v not in NOT_VARIANTS]
        if "original" not in self.variants:
            raise DataError(f"IN-9 folder {str(self.root)!r} has no original/val; give the released "
                            "data's root with --imagenet-9")
        self.classes = _val_classes(self.root, "original")
        for v in self.variants + [n for n in NOT_VARIANTS if n in present]:
            got = _val_classes(self.root, v)
            if got != self.classes:
                raise DataError(f"IN-9 folder {str(self.root / v / 'val')!r} has class folders {got}, "
                                f"but original/val has {self.classes}; the variants must share them")

    def samples(self, variant: str) -> List[Tuple[str, int]]:
        val = self.root / variant / "val"
        out = [(str(p), label) for label, c in enumerate(self.classes)
               for p in sorted((val / c).iterdir()) if p.suffix.lower() in IMG_EXTENSIONS and p.is_file()]
        if not out:
            raise DataError(f"IN-9 folder {str(val)!r} contains no images")
        return out

    def foregrounds(self) -> List[Foreground]:
        """Every mask of fg_mask/val with its image in original/val, checked (shape, existence)."""
        if not (self.root / "fg_mask" / "val").is_dir():
            raise DataError(f"the Background Challenge needs {str(self.root / 'fg_mask' / 'val')!r} "
                            "(the released foreground masks); it does not exist")
        out = []
        for label, c in enumerate(self.classes):
            for m in sorted((self.root / "fg_mask" / "val" / c).glob("*.npy")):
                img = self.root / "original" / "val" / c / (m.stem + ".JPEG")
                if not img.is_file():
                    raise DataError(f"mask {str(m)!r} has no image: {str(img)!r} does not exist")
                out.append(Foreground(f"{c}/{m.stem}", str(img), str(m), label))
        if not out:
            raise DataError(f"{str(self.root / 'fg_mask' / 'val')!r} holds no .npy masks")
        return out


def check_masks(fgs: Sequence[Foreground], hw: Tuple[int, int]) -> None:
    for fg in fgs:
        try:
            shape = np.load(fg.mask, mmap_mode="r").shape
        except (OSError, ValueError) as e:
            raise DataError(f"mask {fg.mask!r} cannot be read as a .npy array ({e})") from None
        if tuple(shape[:2]) != hw or len(shape) not in (2, 3):
            raise DataError(f"mask {fg.mask!r} has shape {tuple(shape)} but its image {fg.image!r} is "
                            f"{hw[0]}x{hw[1]}; the mask must be HxW with the image's size")


def load_mask(path: str) -> torch.Tensor:
    """1xHxW float mask exactly as the reference builds it: uint8, times 255 (uint8 arithmetic),
    then ToTensor's division by 255."""
    m = np.load(path)
    if m.ndim == 3:
        m = m[..., 0]
    m8 = m.astype(np.uint8) * np.uint8(255)
    return torch.from_numpy(m8).float().div(255).unsqueeze(0)


def files_digest(paths: Sequence[str], root: Path) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(f"{os.path.relpath(p, root)}\n".encode())
    return h.hexdigest()[:16]


# ------------------------------------------------------------------------------------- the challenge
def mapped_predictions(model: nn.Module, x: torch.Tensor, in9_map: torch.Tensor) -> torch.Tensor:
    """IN-9 labels of the model's top-1 ImageNet predictions (-1 for the other 630 classes)."""
    return in9_map[model(x).float().topk(1, 1).indices[:, 0]]


@torch.no_grad()
def vulnerable_flags(model: nn.Module, fgs: torch.Tensor, masks: torch.Tensor, labels: torch.Tensor,
                     bgs: torch.Tensor, in9_map: torch.Tensor, batch_size: int,
                     prepare: Callable[[torch.Tensor], torch.Tensor] = lambda x: x,
                     autocast=None, start: Optional[torch.Tensor] = None,
                     on_step: Optional[Callable[[torch.Tensor, torch.Tensor], None]] = None) -> torch.Tensor:
    """For each foreground (uint8 Fx3xHxW image, float Fx1xHxW mask, label), whether any background
    (uint8 Bx3xHxW) makes the composite's mapped prediction differ from the label.

    Each step evaluates up to ``batch_size`` composites spread over the foregrounds still undecided;
    a foreground stops being composited once fooled. ``prepare`` puts a batch into the model's
    memory format; ``autocast`` is a context factory (AMP) or None. ``start``: per foreground, the
    backgrounds already survived (a resumed run); ``on_step(next, vulnerable)`` is called after every
    step with the per-foreground progress."""
    n_fg, n_bg, dev = len(fgs), len(bgs), bgs.device
    nxt = torch.zeros(n_fg, dtype=torch.long, device=dev) if start is None else start.to(dev).clone()
    vuln = torch.zeros(n_fg, dtype=torch.bool, device=dev)
    alive = nxt < n_bg
    while bool(alive.any()):
        act = alive.nonzero()[:batch_size, 0]
        per = max(1, batch_size // len(act))
        bg_idx = nxt[act, None] + torch.arange(per, device=dev)[None]          # |act| x per
        valid = bg_idx < n_bg
        fg_of = act[:, None].expand_as(bg_idx)[valid]
        bg_of = bg_idx[valid]
        img = fgs[fg_of].float().div_(255)
        m = masks[fg_of]
        x = (bgs[bg_of].float().div_(255) * (1 - m) + m * img).clamp_(0, 1)
        with autocast() if autocast else contextlib.nullcontext():
            pred = mapped_predictions(model, prepare(x), in9_map)
        fooled = torch.zeros(n_fg, dtype=torch.long, device=dev).index_add_(
            0, fg_of, (pred != labels[fg_of]).long())
        vuln |= fooled > 0
        nxt[act] += per
        nxt.clamp_(max=n_bg)
        alive = ~vuln & (nxt < n_bg)
        if on_step is not None:
            on_step(nxt, vuln)
    return vuln.cpu()


@dataclass(frozen=True)
class ChallengeSpec:
    """What one challenge cell evaluates (after --max-images / --bgc-max-backgrounds thinning)."""
    foregrounds: Tuple[Foreground, ...]
    backgrounds: Tuple[str, ...]
    root: str
    available: Tuple[int, int]   # (foregrounds, backgrounds) in the data before thinning

    def fingerprint(self) -> dict:
        root = Path(self.root)
        return {"root": os.path.abspath(self.root), "foregrounds": len(self.foregrounds),
                "backgrounds": len(self.backgrounds), "available": list(self.available),
                "files_sha256": files_digest([f.image for f in self.foregrounds] +
                                             [f.mask for f in self.foregrounds] + list(self.backgrounds), root)}


def plan_challenge(tree: IN9Tree, max_images: Optional[int], max_backgrounds: Optional[int]) -> ChallengeSpec:
    """Scan and check everything the challenge reads (before any compute)."""
    if "only_bg_t" not in tree.variants:
        raise DataError(f"the Background Challenge needs {str(tree.root / 'only_bg_t' / 'val')!r} "
                        "(the released backgrounds); it does not exist")
    all_fgs, all_bgs = tree.foregrounds(), tree.samples("only_bg_t")
    fgs = thin(all_fgs, max_images)
    bgs = [p for p, _ in thin(all_bgs, max_backgrounds)]
    hw = check_same_size([f.image for f in fgs] + bgs, "Background Challenge", IN9_SIZE)
    check_masks(fgs, hw)
    return ChallengeSpec(tuple(fgs), tuple(bgs), str(tree.root), (len(all_fgs), len(all_bgs)))


def _decode_backgrounds(spec: ChallengeSpec, workers: int, device: torch.device,
                        quiet: bool) -> torch.Tensor:
    ds = ImageList([(p, 0) for p in spec.backgrounds], PILToTensor())
    loader = DataLoader(ds, batch_size=64, num_workers=workers if len(ds) > 64 else 0)
    parts = [imgs.to(device) for imgs, _ in progress_bar(loader, desc="backgrounds", unit="batch",
                                                leave=False, disable=quiet)]
    return torch.cat(parts) if parts else torch.zeros(0, 3, 1, 1, dtype=torch.uint8, device=device)


def _progress_path(journal, rank) -> Path:
    """Where rank ``rank`` journals its progress in ``journal``'s cell (``"*"``: a glob of every rank)."""
    return journal.path.with_name(f"{journal.path.stem}.progress.rank{rank}.jsonl")


def _decided(record: dict, n_bg: int) -> bool:
    """A progress record is final once a background fooled the foreground or it survived them all."""
    return bool(record["vulnerable"]) or record["next"] >= n_bg


class _Progress:
    """One rank's progress journal: a record per decided foreground at once, the position of the
    undecided ones every ``PROGRESS_SECONDS``."""

    def __init__(self, path: Path) -> None:
        self.journal, self.last, self.decided = Journal(path), time.monotonic(), set()

    def step(self, group: Sequence["Foreground"], n_bg: int, nxt: torch.Tensor, vuln: torch.Tensor) -> None:
        due = time.monotonic() - self.last >= PROGRESS_SECONDS
        records = [r for r in ({"key": f.key, "next": n, "vulnerable": v}
                               for f, n, v in zip(group, nxt.tolist(), vuln.tolist()))
                   if r["key"] not in self.decided and (due or _decided(r, n_bg))]
        self.decided.update(r["key"] for r in records if _decided(r, n_bg))
        if records:
            self.journal.append(records)
        if due:
            self.last = time.monotonic()


def _read_progress(journal) -> Dict[str, dict]:
    """Every rank's progress for ``journal``'s cell: key -> the furthest record."""
    best: Dict[str, dict] = {}
    pattern = _progress_path(journal, "*")
    for path in sorted(pattern.parent.glob(pattern.name)):
        for r in Journal(path, writer=False).read():
            old = best.get(r["key"])
            if old is None or r["vulnerable"] or (not old["vulnerable"] and r["next"] > old["next"]):
                best[r["key"]] = r
    return best


def run_challenge(spec: ChallengeSpec, model: nn.Module, engine, journal,
                  in9_map: Sequence[int]) -> Dict[str, int]:
    """Evaluate every foreground not yet in ``journal``, each from where a killed run left it; rank 0
    journals each round's flags. Returns counts over all planned foregrounds."""
    n_bg = len(spec.backgrounds)
    done = {r["key"]: r for r in journal.read()}
    # rank 0's view of the per-rank progress, so that every rank plans the same work
    progress = engine.gather([_read_progress(journal)] if engine.is_main else [])[0]
    finished = [{"key": f.key, "label": f.label, "vulnerable": bool(progress[f.key]["vulnerable"])}
                for f in spec.foregrounds if f.key not in done and f.key in progress
                and _decided(progress[f.key], n_bg)]
    if finished:
        journal.append(finished)
        done.update({r["key"]: r for r in finished})
    todo = [f for f in spec.foregrounds if f.key not in done]
    resumed = sum(1 for f in todo if f.key in progress)
    logger.info("Background Challenge: %d foregrounds x %d backgrounds; %d already done, %d to run "
                "(%d resumed mid-way)", len(spec.foregrounds), n_bg, len(done), len(todo), resumed)
    if todo:
        dev = engine.device
        bgs = _decode_backgrounds(spec, engine.workers, dev, engine.cfg.quiet or not engine.is_main)
        cmap = torch.tensor(list(in9_map), dtype=torch.long, device=dev)
        prepare = (lambda x: x.contiguous(memory_format=torch.channels_last)) if engine.cfg.channels_last \
            else (lambda x: x)
        mine_progress = _Progress(_progress_path(journal, engine.rank))
        by_key = {f.key: f for f in spec.foregrounds}
        bar = progress_bar(total=len(spec.foregrounds), initial=len(done), desc="bgc foregrounds", unit="fg",
                           disable=engine.cfg.quiet or not engine.is_main)
        vulnerable = [sum(bool(r["vulnerable"]) for r in done.values())]
        meter = StallMeter(dev)

        def work(keys: Sequence[str]) -> List[dict]:
            group = [by_key[k] for k in keys]
            start = torch.tensor([progress[f.key]["next"] if f.key in progress else 0 for f in group],
                                 dtype=torch.long)
            return _round(group, model, bgs, cmap, engine, prepare, start,
                          functools.partial(mine_progress.step, group, n_bg), meter)

        def on_round(records: List[dict]) -> None:
            vulnerable[0] += sum(r["vulnerable"] for r in records)
            bar.update(len(records))
            bar.set_postfix_str(f"vulnerable {vulnerable[0]}/{bar.n}")

        engine.run_journalled(journal, done, [f.key for f in todo], work, on_round, per_round=ROUND_FOREGROUNDS)
        bar.close()
        timing = meter.result(len(todo))
    flags = [bool(done[f.key]["vulnerable"]) for f in spec.foregrounds]
    n, v = len(flags), sum(flags)
    return {"n": n, "vulnerable": v, "n_foregrounds": n, "n_backgrounds": n_bg, "skipped": 0,
            **challenge_accuracy(n, v), **({"timing": timing} if todo else {})}


def challenge_accuracy(n: int, vulnerable: int) -> dict:
    """The share of foregrounds no background fools, and its Clopper-Pearson interval."""
    return {"challenge_acc": (n - vulnerable) / n if n else None,
            "challenge_acc_ci": clopper_pearson(n - vulnerable, n)}


def _round(group: Sequence[Foreground], model, bgs, cmap, engine, prepare, start, on_step,
           meter: StallMeter) -> List[dict]:
    """One round's foregrounds: loaded (timed as the meter's wait for data), then challenged on the
    device (timed as its work)."""
    if not group:
        return []
    dev = engine.device
    t0 = time.perf_counter()
    imgs = torch.stack([PILToTensor()(load_rgb(f.image)) for f in group]).to(dev)
    masks = torch.stack([load_mask(f.mask) for f in group]).to(dev)
    labels = torch.tensor([f.label for f in group], device=dev)
    meter.waited(time.perf_counter() - t0)
    meter.begin()
    flags = vulnerable_flags(model, imgs, masks, labels, bgs, cmap, engine.cfg.batch_size, prepare,
                             engine.autocast if engine.cfg.amp else None, start, on_step)
    meter.end()
    return [{"key": f.key, "label": f.label, "vulnerable": bool(v)} for f, v in zip(group, flags.tolist())]


def challenge_summary(cell: dict) -> dict:
    full = [cell["n_foregrounds"], cell["n_backgrounds"]] == cell["data"]["available"]
    return {"challenge_acc": cell["challenge_acc"], "challenge_acc_ci": cell["challenge_acc_ci"],
            "n_foregrounds": cell["n_foregrounds"],
            "n_backgrounds": cell["n_backgrounds"], "vulnerable": cell["vulnerable"],
            "protocol": ("every foreground x every only_bg_t background (Xiao et al.)" if full else
                         "subset of foregrounds / backgrounds (--max-images / --bgc-max-backgrounds): "
                         "not the published challenge accuracy")}


def in9_summary(cells: Sequence[dict]) -> dict:
    out: Dict[str, object] = {c["variant"]: {"acc1": c["acc1"], "acc1_ci": c.get("acc1_ci"), "n": c["n"]}
                              for c in cells}
    if "mixed_same" in out and "mixed_rand" in out:
        out["bg_gap"] = out["mixed_same"]["acc1"] - out["mixed_rand"]["acc1"]
    out["calibration"] = None
    out["calibration_note"] = ("none: a prediction is the IN-9 superclass of the top-1 ImageNet class, and the "
                               "softmax has no probability per superclass")
    return out


@dataclass(frozen=True)
class BackgroundOptions:
    """Shared by IN-9 and the Background Challenge."""
    in9_map: Optional[str] = option(None, "ImageNet -> IN-9 class map (default: the reference repository's, "
                                    "embedded)", parse=optional(str), metavar="FILE")
    bgc_max_backgrounds: Optional[int] = option(None, "Background Challenge against an evenly spaced subset of "
                                                "the backgrounds (flagged)", parse=optional(positive(int)))


def _tree_and_map(run, opts: BackgroundOptions) -> tuple:
    """The IN-9 tree (scanned once for both benchmarks) and the class map."""
    if "in9" not in run.cache:
        run.cache["in9"] = (IN9Tree(run.locations["imagenet-9"].path), load_map(opts.in9_map or MAP_PATH))
    return run.cache["in9"]


class IN9(Benchmark):
    name, title, dataset, order = "in9", "ImageNet-9", "imagenet-9", 90
    options = BackgroundOptions
    doc = "docs/benchmarks/backgrounds.md"
    metrics = (Metric("original_acc1", "IN-9 original top-1", path=("original", "acc1"), refs=("in9_original_acc1",),
                      ci=("original", "acc1_ci")),
               Metric("mixed_same_acc1", "IN-9 mixed_same top-1", path=("mixed_same", "acc1"),
                      refs=("in9_mixed_same_acc1",), ci=("mixed_same", "acc1_ci")),
               Metric("mixed_rand_acc1", "IN-9 mixed_rand top-1", path=("mixed_rand", "acc1"),
                      refs=("in9_mixed_rand_acc1",), ci=("mixed_rand", "acc1_ci")),
               Metric("bg_gap", "IN-9 BG-gap (mixed_same - mixed_rand)", refs=("in9_bg_gap",), column="IN-9 BG-gap"))

    def plan(self, run, opts: BackgroundOptions) -> List[Cell]:
        tree, in9_map = _tree_and_map(run, opts)
        cells = []
        for v in tree.variants:
            samples = thin(tree.samples(v), run.max_images)
            check_same_size([p for p, _ in samples], f"IN-9 {v}", IN9_SIZE)
            ds = ImageList(samples, PILToTensor(), run.on_bad_image, root=str(tree.root / v / "val"))
            cells.append(Cell(f"in9/{v}", self.name, v, None, fingerprint(ds), loop=lambda ds=ds: (ds, None, None),
                              pred_map=in9_map))
        return cells

    def summarize(self, cells: List[dict], ctx: SummaryContext) -> Optional[dict]:
        return in9_summary(cells) if cells else None


class BackgroundChallenge(Benchmark):
    name, title, dataset, order = "bgc", "Background Challenge", "imagenet-9", 91
    options = BackgroundOptions
    doc = "docs/benchmarks/backgrounds.md"
    metrics = (Metric("challenge_acc", "Background Challenge accuracy",
                      refs=("bgc_challenge_acc1", "paper_bg_challenge_acc1"), column="BG Challenge",
                      ci=("challenge_acc_ci",)),)

    def upgrade(self, record: dict) -> dict:
        """Before loop metrics the foregrounds no background fooled were counted as ``correct1``."""
        if "challenge_acc" in record:
            return record
        out = {k: v for k, v in record.items() if k not in ("correct1", "correct5", "acc1", "acc5", "acc1_ci", "acc5_ci")}
        return {**out, **challenge_accuracy(record["n"], record["vulnerable"])}

    def headline(self, record: dict) -> str:
        return f"{record['vulnerable']} of {record['n_foregrounds']} foregrounds vulnerable"

    def cost(self, images, opts: BackgroundOptions) -> float:
        """At worst every pair; roughly a quarter of the IN-9 files are original/."""
        return (images(self.dataset) // 4) ** 2

    def plan(self, run, opts: BackgroundOptions) -> List[Cell]:
        tree, in9_map = _tree_and_map(run, opts)
        spec = plan_challenge(tree, run.max_images, opts.bgc_max_backgrounds)
        fp = spec.fingerprint()
        journal = f"bgc-{stable_hash([fp, run.settings(self)])}.jsonl"
        return [Cell("bgc", self.name, "challenge", None, fp, run=lambda rd: run_challenge(
            spec, run.model, run.engine, rd.journal(journal), in9_map))]

    def summarize(self, cells: List[dict], ctx: SummaryContext) -> Optional[dict]:
        if not cells:
            return None
        entry = challenge_summary(cells[0])
        if not entry["protocol"].startswith("every"):
            ctx.flags.append("Background Challenge on a subset: " + entry["protocol"])
        return entry


register(IN9())
register(BackgroundChallenge())
