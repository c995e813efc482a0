"""AutoAttack (Croce & Hein 2020) through torchattacks 3.5.1, set to the standard version RobustBench
reports (APGD-CE and APGD-T x9 / FAB-T x9 at 100 iterations, Square 5,000 queries; torchattacks'
constructor leaves 10 iterations and 999 targets), L-inf on an evenly spaced ImageNet val subset; each
batch seeded and journalled (``autoattack-<hash>.jsonl``). Not run unless named: hours on a GPU.
Protocol and cost: docs/benchmarks/autoattack.md.
"""
from __future__ import annotations

import importlib.util
import logging
from dataclasses import dataclass
from typing import Dict, List, Optional, Sequence

import torch
from torch import nn
from .. import prediction_files, progress
from ..datasets import fingerprint, thin
from ..extras import MissingInstall
from ..loop_metrics import default_metrics, finalize, rows_of
from ..metrics import clopper_pearson
from ..results import stable_hash
from ..settings import option, positive
from .base import Benchmark, Cell, ImageSubsetOption, Metric, SummaryContext, register

logger = logging.getLogger(__name__)

ATTACK_NAMES = ("apgd-ce", "apgd-t", "fab-t", "square")
STANDARD = {"steps": 100, "n_target_classes": 9, "n_queries": 5000}
#: forward passes per image (gradient steps included), measured by scripts/bench_autoattack.py on
#: EfficientNet-Lite0: an image APGD-CE fools at once, and one that survives all four attacks
FORWARDS_PER_IMAGE = (75, 5613)
TORCHATTACKS_MISSING = ("AutoAttack needs torchattacks 3.5.1, installed without its obsolete pins: "
                        "pip install --no-deps torchattacks==3.5.1 (scripts/setup.sh does)")


@dataclass(frozen=True)
class AutoAttackConfig:
    eps: float = 4.0          # in /255 units
    n_images: int = 5000      # evenly spaced subset of the clean set

    def __post_init__(self) -> None:
        if self.eps <= 0:
            raise ValueError(f"--autoattack-eps must be > 0 (in /255 units), got {self.eps}")
        if self.n_images < 1:
            raise ValueError(f"--autoattack-images must be >= 1, got {self.n_images}")

    def protocol(self) -> str:
        return (f"AutoAttack standard (torchattacks 3.5.1: APGD-CE, APGD-T x9, FAB-T x9 at 100 iterations, "
                f"Square 5000 queries), L-inf eps {self.eps:g}/255, evenly spaced ImageNet val subset")


def standard_autoattack(model: nn.Module, eps: float, seed: int, n_classes: int = 1000):
    """torchattacks' AutoAttack, standard version, with the original's iterations and targets."""
    if importlib.util.find_spec("torchattacks") is None:
        raise MissingInstall(TORCHATTACKS_MISSING)
    import torchattacks
    atk = torchattacks.AutoAttack(model, norm="Linf", eps=eps, version="standard", n_classes=n_classes,
                                  seed=seed)
    apgd, apgdt, fab, square = atk._autoattack.attacks
    for a in (apgd, apgdt, fab):
        a.steps = STANDARD["steps"]
    for a in (apgdt, fab):
        a.n_target_classes = min(STANDARD["n_target_classes"], n_classes - 1)
    square.n_queries = STANDARD["n_queries"]
    # ask MultiAttack to count the images still classified right after each attack
    atk._autoattack._accumulate_multi_atk_records = True
    return atk


def attack_batch(model: nn.Module, x: torch.Tensor, y: torch.Tensor, eps: float, seed: int,
                 clean: torch.Tensor) -> dict:
    """Clean and robust correct counts of one batch, and the count still right after each attack.
    As in the original AutoAttack, only the images classified right (``clean``, from the clean
    pass) are attacked."""
    after = {name: 0 for name in ATTACK_NAMES}
    robust = 0
    if clean.any():
        atk = standard_autoattack(model, eps, seed)
        multi = atk._autoattack
        multi._multi_atk_records = [0.0] * (1 + len(ATTACK_NAMES))
        adv = atk(x[clean], y[clean])
        with torch.no_grad():
            robust = int((model(adv).argmax(1) == y[clean]).sum())
        # MultiAttack stops once every image is fooled: the attacks it skipped leave 0 right
        after = {name: int(v) for name, v in zip(ATTACK_NAMES, multi._multi_atk_records[1:])}
    return {"n": len(y), "clean_correct": int(clean.sum()), "robust_correct": robust,
            "correct_after": after}


CLEAN_PASS = "clean-pass"


def run_autoattack(dataset, model: nn.Module, engine, journal, cfg: AutoAttackConfig, seed: int, rd, key: str,
                   metrics: Sequence, force_clean: bool = False) -> Dict:
    """The clean pass over ``dataset`` through the evaluation loop (its metrics and predictions file:
    the cell's), then AutoAttack on the images it classified right, every batch not yet in
    ``journal``; returns the cell's numbers over all batches. A journal of the layout before the
    clean pass whose batches are all done is used as it is (no clean numbers) unless ``force_clean``."""
    bs = engine.cfg.batch_size
    n_batches = -(-len(dataset) // bs)
    done = {r["key"]: r for r in journal.read()}
    keys = [f"batch-{b}" for b in range(n_batches)]
    todo = [b for b, k in enumerate(keys) if k not in done]
    clean = _clean_pass(dataset, model, engine, journal, done, rd, key, metrics) \
        if todo or force_clean or CLEAN_PASS in done else None
    bar = progress.bar(total=len(dataset), initial=sum(r["n"] for k, r in done.items() if k != CLEAN_PASS), unit="img",
                       desc=f"AutoAttack eps {cfg.eps:g}/255 ({sum(min(bs, len(dataset) - b * bs) for b in todo)} "
                            f"images to go, up to ~{FORWARDS_PER_IMAGE[1]} forwards each)",
                       disable=engine.cfg.quiet or not engine.is_main)

    def work(k: str) -> dict:
        b = int(k.split("-")[1])
        idx = list(range(b * bs, min((b + 1) * bs, len(dataset))))
        images, labels, ids, skipped = next(iter(engine.loader(dataset, idx, len(idx))))
        x, y = engine.to_input(images), labels.to(engine.device)
        right = torch.tensor([bool(clean["correct"][i]) for i in ids.tolist()], dtype=torch.bool, device=engine.device)
        rec = attack_batch(model, x, y, cfg.eps / 255.0, seed * 100_003 + b, right) if len(y) else \
            {"n": 0, "clean_correct": 0, "robust_correct": 0, "correct_after": {a: 0 for a in ATTACK_NAMES}}
        return {"key": k, "skipped": skipped, **rec}

    def on_round(records: List[dict]) -> None:
        bar.update(sum(r["n"] for r in records))
        robust = [r for k, r in done.items() if k != CLEAN_PASS]
        bar.set_postfix_str("robust {}/{}".format(sum(r["robust_correct"] for r in robust), sum(r["n"] for r in robust)))

    engine.run_journalled(journal, done, keys, work, on_round)
    bar.close()
    out = totals([done[k] for k in keys])
    if clean is not None:
        out.update({k: v for k, v in clean["values"].items() if k not in ("n", "skipped")},
                   predictions=clean["predictions"])
    return out


def _clean_pass(dataset, model, engine, journal, done: Dict[str, dict], rd, key: str, metrics) -> dict:
    """The clean pass's numbers, predictions file and per-image correctness: from the journal when
    it holds them and the file is whole, else computed (file written, then journalled)."""
    rec = done.get(CLEAN_PASS)
    if rec is not None and prediction_files.check(rd.path, rec["predictions"]) is None:
        rows = prediction_files.read_rows(rd.path / rec["predictions"]["file"])
    else:
        value = engine.evaluate(model, dataset, "AutoAttack clean pass", metrics)
        rows = rows_of(metrics, value) or {}
        rec = {"key": CLEAN_PASS, "values": finalize(metrics, value),
               "predictions": rd.write_predictions(key, rows, dataset.key)}
        journal.append([rec])
        done[CLEAN_PASS] = rec
    correct = {int(i): bool(t == y) for i, t, y in zip(rows["index"], rows["top5"][:, 0], rows["label"])}
    return {**rec, "correct": correct}


def totals(records: Sequence[dict]) -> Dict:
    """The batches' counts together: ``robust_correct`` / ``robust_acc`` (and its interval) of the
    attacked set, ``clean_correct``, and what each attack left right."""
    n = sum(r["n"] for r in records)
    robust = sum(r["robust_correct"] for r in records)
    return {"n": n, "robust_correct": robust, "robust_acc": robust / n if n else None,
            "robust_acc_ci": clopper_pearson(robust, n),
            "clean_correct": sum(r["clean_correct"] for r in records),
            "skipped": sum(r.get("skipped", 0) for r in records),
            "correct_after": {a: sum(r["correct_after"][a] for r in records) for a in ATTACK_NAMES}}


def summary(cell: dict, cfg_protocol: str) -> dict:
    n = cell["n"]
    return {"eps": cell["param"], "n": n, "clean_acc": cell["clean_correct"] / n if n else None,
            "clean_acc_ci": clopper_pearson(cell["clean_correct"], n),
            "robust_acc": cell["robust_acc"], "robust_acc_ci": cell["robust_acc_ci"],
            "acc_after": {a: v / n if n else None for a, v in cell["correct_after"].items()},
            "protocol": cfg_protocol}


@dataclass(frozen=True)
class AutoAttackOptions(ImageSubsetOption):
    autoattack_eps: float = option(4.0, "AutoAttack L-inf eps in /255 units", parse=float)
    autoattack_images: int = option(5000, "AutoAttack on an evenly spaced subset of this many ImageNet val "
                                    "images", parse=positive(int))

    def __post_init__(self) -> None:
        self.config()

    def config(self) -> AutoAttackConfig:
        return AutoAttackConfig(eps=self.autoattack_eps, n_images=self.autoattack_images)


class AutoAttack(Benchmark):
    name, title, dataset, order = "autoattack", "AutoAttack", "imagenet", 110
    default = False
    batch_dependent = True
    options = AutoAttackOptions
    doc = "docs/benchmarks/autoattack.md"
    metrics = (Metric("robust_acc", "AutoAttack robust top-1 (no published value for PiT)",
                      column="AutoAttack (no paper value)", ci=("robust_acc_ci",)),
               Metric("clean_acc", "AutoAttack subset clean top-1", ci=("clean_acc_ci",)))

    def cost(self, images, opts: AutoAttackOptions) -> float:
        """At worst: every image survives all four attacks."""
        return min(images(self.dataset), opts.autoattack_images) * FORWARDS_PER_IMAGE[1]

    def plan(self, run, opts: AutoAttackOptions) -> List[Cell]:
        aa, seed = opts.config(), run.seed
        clean, _ = run.clean()
        subset = clean.view(thin(clean.samples, aa.n_images))
        fp = {**fingerprint(subset), "protocol": aa.protocol(), "seed": seed}
        journal = f"autoattack-{stable_hash([fp, run.settings(self)])}.jsonl"
        logger.info("AutoAttack plan: %d images at eps %g/255; cost per image from ~%d forward passes (fooled by "
                    "APGD-CE at once) to ~%d (survives all four attacks), measured by scripts/bench_autoattack.py",
                    len(subset), aa.eps, *FORWARDS_PER_IMAGE)
        key, metrics = f"autoattack/eps={aa.eps:g}/n={len(subset)}", default_metrics(logits=run.save_logits)
        return [Cell(key, self.name, "standard", aa.eps, fp, metrics=metrics, paths=subset.key,
                     run=lambda rd: run_autoattack(subset, run.model, run.engine, rd.journal(journal), aa, seed,
                                                   rd, key, metrics, run.recompute_incomplete))]

    def upgrade(self, record: dict) -> dict:
        """Before loop metrics the robust-correct images were counted as ``correct1``."""
        if "robust_correct" in record:
            return record
        out = {k: v for k, v in record.items() if k not in ("correct1", "correct5", "acc1", "acc5", "acc1_ci", "acc5_ci")}
        return {**out, "robust_correct": record["correct1"], "robust_acc": record["acc1"],
                "robust_acc_ci": clopper_pearson(record["correct1"], record["n"]), "metrics": []}

    def headline(self, record: dict) -> str:
        return f"robust {record['robust_correct']} of {record['n']} (clean {record['clean_correct']})"

    def summarize(self, cells: List[dict], ctx: SummaryContext) -> Optional[dict]:
        return summary(cells[0], cells[0]["data"]["protocol"]) if cells else None


register(AutoAttack())
