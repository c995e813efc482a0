"""ImageNet-C (Hendrycks & Dietterich, ICLR 2019): top-1 per (corruption, severity), CE, mCE and
relative mCE normalised by AlexNet's published errors. Cells read the released files
(``<imagenet-c>/<corruption>/<severity>/``) or render ImageNet val on the fly under a named protocol;
on-the-fly cells of one renderer run in one pass that decodes each image once, journalled in blocks.
Protocols, backends and their validation: docs/benchmarks/imagenet-c.md, docs/corruption-protocols.md."""
from __future__ import annotations

import contextlib
import logging
import shutil
import time
from dataclasses import dataclass
from typing import List, Optional, Tuple

from .. import prediction_files, progress
from ..corruptions import (BACKENDS, GROUPS, IMAGENET_C, PROTOCOLS, CorruptedImageNet, ImageNetCPass, torch_backend,
                           check_protocol, compat, parse_corruptions, parse_severities)
from ..corruptions.names import (ALEXNET_ERR, COMPARABLE_PROTOCOLS, PROTOCOL_LABELS, RELEASED_PROTOCOL,
                                 on_the_fly_source, source_backend, source_protocol, with_protocol)
from ..datasets import DatasetSpec, comparable, prerendered_c_root, register_dataset
from ..images import DataError, sample_paths
from ..loop_metrics import Fingerprint, RowMetric, TopK, finalize, merge_values, metric_names, rows_of, without_rows
from ..metrics import imagenet_c_summary
from ..results import stable_hash
from ..stall import StallMeter, merge
from ..settings import option, positive
from .base import (CALIBRATION, Benchmark, Cell, ImageSubsetOption, Metric, SummaryContext, cell_record,
                   prerendered_cell, register)

logger = logging.getLogger(__name__)

register_dataset(DatasetSpec("imagenet-c", "imagenet-c", "PIT_EVAL_IMAGENET_C", "wnid", image_lists=True))

#: why an on-the-fly mCE under the imagecorruptions protocol is not compared with published values
ON_THE_FLY_WITHHELD = ("rendered on the fly with imagecorruptions (Michaelis et al.), whose elastic_transform, "
                       "frost, impulse_noise and motion blur differ from the generator of the released "
                       "ImageNet-C; published mCE values are withheld (use --corruption-protocol imagenet-c, "
                       "or the released files with --imagenet-c DIR, for a comparable mCE)")

#: (backend, protocol, corruption) that call ImageMagick (the fast backend reproduces it)
MAGICKWAND_CELLS = {("reference", IMAGENET_C, "motion_blur"), ("reference", IMAGENET_C, "snow")}


def _corruptions(value) -> Tuple[str, ...]:
    return tuple(parse_corruptions(value))


def _severities(value) -> Tuple[int, ...]:
    return tuple(parse_severities(value))


def _backend(value: str) -> str:
    BACKENDS.get(value)
    return value


@dataclass(frozen=True)
class ImageNetCOptions(ImageSubsetOption):
    corruptions: Tuple[str, ...] = option("all", "names or groups: common, extra, all, noise, "
                                          "blur, weather, digital", parse=_corruptions)
    severities: Tuple[int, ...] = option((1, 2, 3, 4, 5), "comma list of 1-5", parse=_severities)
    imagenet_c_source: str = option("auto", "where the cells come from: the released files if present (auto), "
                                    "only them (prerendered) or rendered from ImageNet val (on-the-fly)",
                                    choices=("auto", "prerendered", "on-the-fly"))
    corruption_backend: str = option("fast", "fast (bit-exact, default) | reference | torch (batched on the "
                                     "device; validated, see docs/corruption-protocols.md)", parse=_backend)
    corruption_protocol: str = option(IMAGENET_C, "the generator of on-the-fly ImageNet-C: imagenet-c "
                                      "(Hendrycks', the released set's; its mCE is compared with published "
                                      "values) or imagecorruptions (Michaelis et al., COCO-C's; published mCE "
                                      "withheld)", parse=check_protocol, choices=PROTOCOLS)
    imagenet_c_block: int = option(2048, "on-the-fly ImageNet-C runs all its cells in one pass that decodes "
                                   "each image once, journalled every N images (a kill loses at most N "
                                   "images' work)", parse=positive(int), metavar="N")


class ImageNetC(Benchmark):
    name, title, dataset, order = "imagenet-c", "ImageNet-C", "imagenet", 10
    options = ImageNetCOptions
    doc = "docs/benchmarks/imagenet-c.md"
    metrics = (
        Metric("mce", "ImageNet-C mCE", refs=("mce",), column="mCE"),
        Metric("corruption_protocol", "ImageNet-C protocol", column="ImageNet-C protocol", scale=None),
        Metric("relative_mce", "ImageNet-C relative mCE", column="rel. mCE"),
        Metric("mean_corrupted_acc", "ImageNet-C mean top-1, 15 benchmark corruptions", column="mean C acc (15)",
               requires="mean_corrupted_acc_complete",
               requires_what="the complete grid (15 benchmark corruptions x 5 severities)"),
        Metric("mean_corrupted_acc_evaluated", "ImageNet-C mean top-1, every evaluated corruption"),
        Metric("ece", "ImageNet-C mean ECE % (15 bins)",
               path=("calibration", "ece"), column="ImageNet-C ECE"),
        Metric("nll", "ImageNet-C mean NLL, benchmark corruptions evaluated", path=("calibration", "nll"),
               scale=1.0, in_table=False),
        Metric("brier", "ImageNet-C mean Brier, benchmark corruptions evaluated", path=("calibration", "brier"),
               scale=1.0, in_table=False),
    )

    stall_remedies = ("--corruption-backend torch (on-the-fly ImageNet-C rendered on the device)",
                      "the pre-rendered ImageNet-C (--imagenet-c DIR), which needs no rendering")

    def qualifier(self, entry):
        """Its numbers name the corruption protocol its cells were rendered under."""
        return (entry or {}).get("corruption_protocol")

    def cloud_accuracy(self, entry):
        """The testbed averages the released files: only a complete grid of released-file cells is that
        number (its mean top-1 over the 15 corruptions x 5 severities; no interval)."""
        complete = bool(entry) and entry.get("mean_corrupted_acc_complete")
        if not complete or entry.get("corruption_protocol") != RELEASED_PROTOCOL:
            return None, None
        return entry["mean_corrupted_acc"], None

    def upgrade(self, record: dict) -> dict:
        """On-the-fly cells written before the two protocols name imagecorruptions as theirs."""
        return {**record, "data": with_protocol(record.get("data"))}

    def resume_refusal(self, was: dict, now: dict) -> Optional[str]:
        old, new = source_protocol((was or {}).get("source", "")), source_protocol(now.get("source", ""))
        if old != new and old and new:
            return (f"was rendered under the {old} protocol and this run renders {new}; cells of the two are never "
                    f"mixed: resume with --corruption-protocol {old}")
        return None

    def cost(self, images, opts: ImageNetCOptions) -> float:
        return images("imagenet") * len(opts.corruptions) * len(opts.severities)

    def plan(self, run, opts: ImageNetCOptions) -> List[Cell]:
        loc, cells = run.locations["imagenet-c"], []
        clean, clean_fp = run.clean()
        for c in opts.corruptions:
            for s in opts.severities:
                root = prerendered_c_root(loc, c, s) if opts.imagenet_c_source != "on-the-fly" else None
                if root is not None:
                    cells.append(prerendered_cell(run, self.name, "imagenet-c", c, s, root))
                elif opts.imagenet_c_source == "prerendered":
                    raise DataError(f"--imagenet-c-source prerendered but {loc.path}/{c}/{s} does not "
                                    "exist; give --imagenet-c DIR or use --imagenet-c-source auto")
                else:
                    cells.append(self._on_the_fly(run, opts, clean, clean_fp, c, s))
        return cells

    @staticmethod
    def _on_the_fly(run, opts: ImageNetCOptions, clean, clean_fp, c: str, s: int) -> Cell:
        protocol = opts.corruption_protocol
        backend = torch_backend.render_backend(opts.corruption_backend, c, s, protocol)
        if (backend, protocol, c) in MAGICKWAND_CELLS and compat.magickwand_version() is None:
            raise DataError(compat.MAGICKWAND_MISSING)
        data = CorruptedImageNet(clean, c, s, seed=run.seed, backend=backend, protocol=protocol,
                                 threads=run.engine.workers, input_size=run.transform.input_size)
        return Cell(f"imagenet-c/{c}/{s}", "imagenet-c", c, s,
                    {**clean_fp, "source": on_the_fly_source(protocol, backend, run.seed)},
                    shared_pass=f"imagenet-c:{backend}", pass_input=data)

    def run_pass(self, cells: List[Cell], run, rd) -> List[dict]:
        """The cells of one renderer in one pass over the clean images (each decoded, resized and
        cropped once), in blocks of ``imagenet_c_block`` images journalled as they finish (each block's
        predictions written first, so a killed run resumes at the block in flight); under torchrun the
        blocks are spread over the ranks."""
        t0, p = time.time(), RunPass(self, cells, run, rd)
        if p.legacy is not None:
            return p.legacy(cells, time.time() - t0)
        eng = run.engine
        lines = progress.LineLog(sum(b not in p.done for b in p.blocks),
                                 enabled=not eng.cfg.quiet and len(p.blocks) > 1)

        def work(key: str) -> dict:
            values, timing = p.evaluate_block(key, [(run.model, p.metrics)])
            lines.done(f"ImageNet-C block {key} ({len(cells)} cells)", f"{timing['images']} images",
                       timing.get("images_per_s"))
            return {"key": key, "cells": dict(zip(p.keys, values[0])), "timing": timing}

        eng.run_journalled(p.journal, p.done, p.blocks, work, store=p.store)
        return p.finish(time.time() - t0)

    def run_passes_together(self, members, names: List[str]) -> int:
        """The models whose passes render the very same images (same cells, data, seed, protocol,
        backend, input size, settings) share one render of each block; models of another input size
        form their own group."""
        passes = [(RunPass(self, cells, run, rd), name) for (cells, run, rd), name in zip(members, names)]
        passes = [(p, n) for p, n in passes if p.legacy is None and any(b not in p.done for b in p.blocks)]
        shared = 0
        while passes:
            lead = passes[0][0]
            group = [(p, n) for p, n in passes if lead.same_images(p)]
            passes = [(p, n) for p, n in passes if not lead.same_images(p)]
            if len(group) > 1:
                logger.info("ImageNet-C: one render of %d cells for %d models (%s)", len(lead.cells), len(group),
                            ", ".join(n for _, n in group))
                run_shared_pass([p for p, _ in group], [n for _, n in group])
                shared += len(group)
        return shared

    def summarize(self, cells: List[dict], ctx: SummaryContext) -> Optional[dict]:
        if not cells:
            return None
        clean = ctx.benchmarks.get("clean")
        grid = {(c["variant"], int(c["param"])): c["acc1"] for c in cells}
        ic = imagenet_c_summary(grid, clean["acc1"] if clean else None)
        ic["grid"] = {f"{k[0]}/{k[1]}": v for k, v in sorted(grid.items())}
        ic["acc1_ci"] = {f"{c['variant']}/{c['param']}": c.get("acc1_ci") for c in sorted(cells, key=lambda c: c["key"])}
        ic.update(corruption_calibration(cells))
        ic["images_per_cell"] = max(c["n"] for c in cells)
        ic["sources"] = sorted({c["data"].get("source", "") for c in cells})   # records as upgraded
        ic["corruption_protocol"], ic["comparison_withheld"] = corruption_protocol(ic["sources"])
        ic["protocol"] = ("subset / sample — CE normalised by the published full-set AlexNet errors, "
                          "so not the paper's mCE" if (ctx.sample or ctx.max_images or ctx.subset) else
                          "full set as given (Hendrycks): CE normalised by published AlexNet errors")
        torch_cells = sorted(f"{c['variant']}/{c['param']}" for c in cells
                             if source_backend(c["data"].get("source", "")) == "torch")
        if torch_cells:
            ctx.flags.append(f"ImageNet-C: {len(torch_cells)} of {len(grid)} cells rendered by the torch corruption "
                             "backend (differences from the exact backend measured in "
                             f"docs/corruption-protocols.md): {', '.join(torch_cells)}")
        return ic

    def plots(self, runs):
        import matplotlib.pyplot as plt
        import numpy as np
        names = sorted({c for _, e in runs for c, v in e["per_corruption"].items() if "ce" in v}) or \
            sorted({c for _, e in runs for c in e["per_corruption"]})
        fig, ax = plt.subplots(figsize=(10, 3.5))
        w = 0.8 / len(runs)
        for i, (label, e) in enumerate(runs):
            pc = e["per_corruption"]
            vals = [100 * pc[c]["ce"] if c in pc and "ce" in pc[c] else 100 * (1 - pc.get(c, {}).get("mean_acc", np.nan))
                    for c in names]
            ax.bar(np.arange(len(names)) + i * w, vals, w, label=label)
        ax.set_xticks(np.arange(len(names)) + 0.4 - w / 2, names, rotation=45, ha="right")
        ax.set_ylabel("CE % (error % where no CE)")
        ax.set_title("ImageNet-C corruption error per corruption")
        ax.legend(fontsize=7)
        bars = fig
        fig, axes = plt.subplots(1, 4, figsize=(12, 3), sharey=True)
        for ax, grp in zip(axes, ("noise", "blur", "weather", "digital")):
            for label, e in runs:
                grid = e["grid"]
                sev = sorted({int(k.split("/")[1]) for k in grid})
                ys = [np.mean([grid[f"{c}/{s}"] for c in GROUPS[grp] if f"{c}/{s}" in grid] or [np.nan]) * 100 for s in sev]
                ax.plot(sev, ys, marker="o", label=label)
            ax.set_title(grp)
            ax.set_xlabel("severity")
        axes[0].set_ylabel("top-1 %")
        axes[-1].legend(fontsize=7)
        return {"ce_per_corruption": bars, "acc_vs_severity": fig, "ece_vs_severity": ece_plot(runs)}


def ece_plot(runs):
    """ECE against severity (0: clean where the entry knows it), the mean over the benchmark
    corruptions evaluated, one line per run."""
    import matplotlib.pyplot as plt
    import numpy as np
    fig, ax = plt.subplots(figsize=(5, 3.2))
    for label, e in runs:
        grid = e.get("calibration_grid") or {}
        sev = sorted({int(k.split("/")[1]) for k in grid})
        ys = [100 * np.mean([v["ece"] for k, v in grid.items() if int(k.split("/")[1]) == s
                             and k.split("/")[0] in ALEXNET_ERR] or [np.nan]) for s in sev]
        if sev:
            ax.plot(sev, ys, marker="o", label=label)
            ax.set_xticks(sev)
    ax.set_xlabel("severity")
    ax.set_ylabel("ECE % (15 bins)")
    ax.set_title("ImageNet-C calibration vs severity (benchmark corruptions)")
    ax.legend(fontsize=7)
    return fig


def corruption_calibration(cells: List[dict]) -> dict:
    """``calibration``: ECE, NLL and Brier averaged over the evaluated cells of the 15 benchmark
    corruptions (``complete``: all 75), ``calibration_evaluated``: over every evaluated cell, per
    corruption the mean over its severities, and ``calibration_grid``: each cell's numbers."""
    have = [c for c in cells if c.get("ece") is not None]
    if not have:
        return {"calibration": None}

    def mean(rows: List[dict]) -> Optional[dict]:
        return {k: sum(c[k] for c in rows) / len(rows) for k in CALIBRATION} if rows else None

    bench = [c for c in have if c["variant"] in ALEXNET_ERR]
    per = {v: mean([c for c in have if c["variant"] == v]) for v in sorted({c["variant"] for c in have})}
    grid = {(c["variant"], int(c["param"])) for c in bench}
    return {"calibration": {**(mean(bench) or dict.fromkeys(CALIBRATION)), "cells": len(bench),
                            "complete": all((c, s) in grid for c in ALEXNET_ERR for s in range(1, 6)),
                            "scope": "mean over the evaluated cells of the 15 benchmark corruptions"},
            "calibration_evaluated": {**mean(have), "cells": len(have)},
            "calibration_per_corruption": per,
            "calibration_grid": {f"{c['variant']}/{c['param']}": {k: c[k] for k in CALIBRATION}
                                 for c in sorted(have, key=lambda c: c["key"])}}


class RunPass:
    """One run's view of an on-the-fly ImageNet-C pass: its journal of blocks (named by the cells,
    their data, the image count, the block size, the run's prediction-affecting settings and the
    metrics: equal for every model that would render the same images), the blocks' predictions files
    and the records built from them."""

    def __init__(self, unit: Benchmark, cells: List[Cell], run, rd) -> None:
        self.cells, self.run, self.rd = cells, run, rd
        block = run.options(unit).imagenet_c_block
        self.data = ImageNetCPass([c.pass_input for c in cells])
        self.metrics, self.path_of = run.cell_metrics(cells[0]), sample_paths(self.data)
        self.sums = [m for m in self.metrics if not isinstance(m, RowMetric)]
        self.row_metric = next(m for m in self.metrics if isinstance(m, RowMetric))
        self.keys, n = [c.key for c in cells], len(self.data)
        ident = [[c.key, c.fingerprint] for c in cells] + [n, block, run.settings(unit)]
        self.legacy = None if run.recompute_incomplete else _legacy_pass(rd, ident, n, block)
        # named without the data's root, so a pass resumes after the data moved (an earlier name: kept)
        names = [f"imagenet-c-pass-{stable_hash(i + [metric_names(self.metrics)])}.jsonl"
                 for i in ([[c.key, comparable(c.fingerprint)] for c in cells] + ident[len(cells):], ident)]
        self.journal = rd.journal(next((x for x in names[1:] if (rd.path / x).is_file()), names[0]))
        self.blocks = block_keys(n, block)
        self.part = f"{prediction_files.DIR}/.blocks/{self.journal.path.stem}"
        self.done = {r["key"]: r for r in self.journal.read()} if self.legacy is None else {}
        for b in [b for b in self.blocks if b in self.done]:   # a block whose predictions are not whole runs again
            why = next(filter(None, (prediction_files.check(rd.path, {"file": self.block_file(k, b), "rows": v["n"]})
                                     for k, v in self.done[b]["cells"].items())), None)
            if why:
                logger.warning("ImageNet-C block %s: %s; recomputing the block", b, why)
                del self.done[b]
        if self.legacy is None:
            logger.info("ImageNet-C: %d cells in one pass over %d images (%d of %d blocks journalled)",
                        len(cells), n, sum(b in self.done for b in self.blocks), len(self.blocks))

    def block_file(self, key: str, b: str) -> str:
        return f"{self.part}/{key}/{b}.parquet"

    def evaluate_block(self, key: str, members) -> Tuple[list, dict]:
        """Block ``key`` through every ``(model, metrics)`` member, rendered once: per member its
        cells' values, and the loop's timing."""
        a, b = map(int, key.split("-")[1:])
        eng, k = self.run.engine, len(self.cells)
        meter = StallMeter(eng.device)
        values = eng.models_cell_values(members, self.data, f"ImageNet-C {k} cells x {len(members)} model(s), "
                                        f"block {self.blocks.index(key) + 1}/{len(self.blocks)}", k,
                                        self.data.split, indices=range(a, b),
                                        loader_batch=self.data.loader_batch(eng.cfg.batch_size), meter=meter)
        images = values[0][0]["n"] if values and values[0] else 0
        return values, meter.result(images, images * k)

    def store(self, records: List[dict]) -> List[dict]:
        """Writes each block record's prediction rows to its block files; returns the records without them."""
        for r in records:
            for k, v in r["cells"].items():
                self.rd.write_predictions(k, rows_of(self.metrics, v), self.path_of, name=self.block_file(k, r["key"]))
                r["cells"][k] = without_rows(self.metrics, v)
        return records

    def finish(self, seconds: float) -> List[dict]:
        """The cells' records from the journalled blocks (their predictions joined into one file each);
        a block rendered for several models names them (``timing.shared_with``)."""
        done, rd = self.done, self.rd
        shared = list(dict.fromkeys(m for b in self.blocks for m in done[b].get("shared_with", ())))
        timing = {**(merge([done[b].get("timing") for b in self.blocks]) or {}),
                  "pass": self.journal.path.stem, "pass_cells": len(self.cells),
                  **({"shared_with": shared} if shared else {})}
        out = []
        for c in self.cells:
            value = merge_values(self.sums, [done[b]["cells"][c.key] for b in self.blocks])
            record = cell_record(c, {**finalize(self.sums, value), "metrics": metric_names(self.metrics)},
                                 seconds / len(self.cells), timing)
            rows = ([prediction_files.read_rows(rd.path / self.block_file(c.key, b)) for b in self.blocks]
                    if rd.writer else [])
            record["predictions"] = rd.write_predictions(c.key, self.row_metric.merge(rows), self.path_of)
            out.append(record)
        if rd.writer:
            shutil.rmtree(rd.path / self.part, ignore_errors=True)
            with contextlib.suppress(OSError):     # another pass may still hold blocks there
                (rd.path / self.part).parent.rmdir()
        return out

    def same_images(self, other: "RunPass") -> bool:
        """Whether ``other`` renders the very images of this pass (same cells, data, seed, protocol,
        backend, input size, image count and blocks): then one render feeds both."""
        return (self.journal.path.name == other.journal.path.name
                and [c.pass_input.identity() for c in self.cells] == [c.pass_input.identity() for c in other.cells])


class _Discard:
    """A journal that keeps nothing (the shared pass journals into each member's own)."""

    @staticmethod
    def append(records) -> None:
        return None


def run_shared_pass(passes: List[RunPass], names: List[str]) -> None:
    """Render the blocks once for several models' passes of the same images (:meth:`RunPass.same_images`)
    and journal each block into every pass that lacks it, as that model's own pass would have (its
    ``timing.shared_with`` names the models). The models' runs then find their passes journalled."""
    lead = passes[0]
    if any(not lead.same_images(p) for p in passes[1:]):
        raise ValueError("run_shared_pass: the passes do not render the same images")
    done = {b: True for b in lead.blocks if all(b in p.done for p in passes)}
    lines = progress.LineLog(len(lead.blocks) - len(done), enabled=not lead.run.engine.cfg.quiet)

    def work(key: str) -> dict:
        todo = [i for i, p in enumerate(passes) if key not in p.done]
        values, timing = lead.evaluate_block(key, [(passes[i].run.model, passes[i].metrics) for i in todo])
        lines.done(f"ImageNet-C block {key} ({len(lead.cells)} cells x {len(todo)} models, rendered once)",
                   f"{timing['images']} images", timing.get("images_per_s"))
        return {"key": key, "members": {str(i): dict(zip(passes[i].keys, v)) for i, v in zip(todo, values)},
                "timing": timing, "shared_with": [names[i] for i in todo]}

    def store(records: List[dict]) -> List[dict]:
        for r in records:
            for i, cells in r["members"].items():
                p = passes[int(i)]
                rec = p.store([{"key": r["key"], "cells": cells, "timing": r["timing"],
                                "shared_with": r["shared_with"]}])
                p.journal.append(rec)
                p.done.update((x["key"], x) for x in rec)
        return records

    lead.run.engine.run_journalled(_Discard(), done, lead.blocks, work, store=store)


def block_keys(n: int, block: int) -> List[str]:
    """The journal keys of a pass over ``n`` images in blocks of ``block``."""
    return [f"images-{a}-{min(a + block, n)}" for a in range(0, n, block)]


def _legacy_pass(rd, ident: list, n: int, block: int):
    """A finished pass journal of the layout before loop metrics (counts only), if this directory
    holds one with every block: its cells are rebuilt from it (without calibration or predictions,
    which the summary reports as missing)."""
    journal = rd.journal(f"imagenet-c-pass-{stable_hash(ident)}.jsonl")
    done = {r["key"]: r for r in journal.read()}
    blocks = block_keys(n, block)
    if not blocks or any(b not in done for b in blocks):
        return None
    logger.info("ImageNet-C: every block is in %s (an earlier layout's journal); cells rebuilt from it", journal.path)

    def build(cells: List[Cell], seconds: float) -> List[dict]:
        timing = {**(merge([done[b].get("timing") for b in blocks]) or {}),
                  "pass": journal.path.stem, "pass_cells": len(cells)}
        out = []
        for c in cells:
            parts = [done[b]["cells"][c.key] for b in blocks]
            total = {k: sum(p[k] for p in parts) for k in ("n", "correct1", "correct5", "skipped", "pred_fingerprint")}
            value = {"n": total["n"], "skipped": total["skipped"], "topk": {"correct": [total["correct1"], total["correct5"]]},
                     "fingerprint": {"fp": total["pred_fingerprint"]}}
            out.append(cell_record(c, finalize([TopK(), Fingerprint()], value), seconds / len(cells), timing))
        return out
    return build


def corruption_protocol(sources: List[str]) -> Tuple[str, Optional[str]]:
    """(the protocol of a run's ImageNet-C cells, why published values are withheld or None)."""
    label = PROTOCOL_LABELS[frozenset(source_protocol(s) for s in sources)]
    return label, None if label in COMPARABLE_PROTOCOLS else ON_THE_FLY_WITHHELD


register(ImageNetC())
