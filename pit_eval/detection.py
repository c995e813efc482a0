"""COCO / COCO-C evaluation of an mmdet detector (``run_eval.py detection``), and ingestion of a
finished mmdet work_dir's COCO metrics, into the same kind of results directory as robustness runs.

COCO-C (Michaelis et al. 2019): ``CorruptRGB`` is inserted right after image loading in the test
pipeline (RGB-correct, seeded per image and cell); P = clean AP, mPC = mean AP over the 15 benchmark
corruptions x severities (mmdet's robustness_eval.py), rPC = mPC / P; extra corruptions apart."""
from __future__ import annotations

import copy
import glob
import json
import logging
import os
import tempfile
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, List, Optional, Tuple

from .corruptions import BACKENDS, IMAGECORRUPTIONS, parse_corruptions, parse_severities
from .corruptions.names import UNCORRUPTED
from .extras import require_detection
from .images import SAMPLE_NOTE, SAMPLE_ROOT, DataError
from .metrics import coco_c_summary
from .models import WeightsError, file_sha256, load_strict, read_state_dict
from .results import RunDir, provenance_flags, provenance_summary

logger = logging.getLogger(__name__)
AP_KEYS = ("bbox_mAP", "bbox_mAP_50", "bbox_mAP_75", "bbox_mAP_s", "bbox_mAP_m", "bbox_mAP_l")


@dataclass(frozen=True)
class DetectionConfig:
    config: str
    checkpoint: Optional[str] = None
    out: Optional[str] = None
    corruptions: Tuple[str, ...] = ("benchmark",)
    severities: Tuple[int, ...] = (1, 2, 3, 4, 5)
    clean_only: bool = False
    seed: int = 0
    corruption_backend: str = "fast"
    cfg_options: Tuple[Tuple[str, str], ...] = ()
    launcher: str = "none"
    force: bool = False

    def validate(self) -> "DetectionConfig":
        require_detection()
        if not os.path.isfile(self.config):
            raise DataError(f"config {self.config!r} does not exist; pass e.g. --config configs/detr_pit_s.py")
        if self.checkpoint is None:
            raise WeightsError("--checkpoint is required (the trained detector, e.g. "
                               "work_dirs/detr_pit_s/epoch_150.pth)")
        parse_corruptions(self.corruptions)
        parse_severities(self.severities)
        BACKENDS.get(self.corruption_backend)
        return self


def load_mm_config(path: str, cfg_options: Dict[str, object] | None = None):
    require_detection()
    from mmengine.config import Config, DictAction  # noqa: F401
    cfg = Config.fromfile(path)
    if cfg_options:
        cfg.merge_from_dict(dict(cfg_options))
    return cfg


def _dataset_paths(ds_cfg) -> Tuple[str, str]:
    root = ds_cfg.get("data_root", "") or ""
    ann = os.path.join(root, ds_cfg.get("ann_file", ""))
    img = os.path.join(root, (ds_cfg.get("data_prefix") or {}).get("img", ""))
    return ann, img


def check_test_data(cfg) -> Dict[str, object]:
    """Fail early, naming the file, when the test annotations or images are missing."""
    ann, img = _dataset_paths(cfg.test_dataloader.dataset)
    if not os.path.isfile(ann):
        raise DataError(f"annotation file {ann!r} not found; set test_dataloader.dataset.data_root / "
                        "ann_file with --cfg-options")
    if not os.path.isdir(img):
        raise DataError(f"image folder {img!r} not found; set test_dataloader.dataset.data_prefix.img")
    doc = json.loads(Path(ann).read_text())
    n_img, n_ann = len(doc.get("images", [])), len(doc.get("annotations", []))
    if n_img == 0 or n_ann == 0:
        raise DataError(f"annotation file {ann!r} has {n_img} images and {n_ann} annotations; "
                        "COCO evaluation needs both")
    return {"ann_file": os.path.abspath(ann), "images": n_img, "annotations": n_ann,
            "ann_sha256": file_sha256(ann)[:16],
            "sample": os.path.abspath(ann).startswith(str(SAMPLE_ROOT))}


def check_checkpoint(cfg, checkpoint: str) -> str:
    """Build the detector and load ``checkpoint`` strictly, listing mismatched keys; returns sha256."""
    from mmdet.registry import MODELS
    from mmdet.utils import register_all_modules
    register_all_modules()
    model_cfg = copy.deepcopy(cfg.model)
    model = MODELS.build(model_cfg)
    load_strict(model, read_state_dict(checkpoint), f"checkpoint {checkpoint!r}")
    return file_sha256(checkpoint)


def _corrupted_cfg(cfg, corruption: Optional[str], severity: Optional[int], seed: int, backend: str):
    cfg = copy.deepcopy(cfg)
    pipeline = list(cfg.test_dataloader.dataset.pipeline)
    if corruption is not None:
        i = next(i for i, t in enumerate(pipeline) if t["type"] == "LoadImageFromFile") + 1
        pipeline.insert(i, dict(type="CorruptRGB", corruption=corruption, severity=severity,
                                seed=seed, backend=backend))
    cfg.test_dataloader.dataset.pipeline = pipeline
    return cfg


def _evaluate(cfg, checkpoint: str, work_dir: str) -> Dict[str, float]:
    from mmengine.runner import Runner
    cfg = copy.deepcopy(cfg)
    cfg.work_dir = work_dir
    cfg.load_from = checkpoint
    cfg.custom_hooks = [h for h in cfg.get("custom_hooks", []) if h["type"] != "DatasetCheckHook"]
    cfg.log_level = "WARNING"
    runner = Runner.from_cfg(cfg)
    metrics = runner.test()
    # pycocotools reports -1 where an area range has no objects: stored as None (not a number)
    return {k: (None if float(metrics[f"coco/{k}"]) < 0 else float(metrics[f"coco/{k}"]))
            for k in AP_KEYS if f"coco/{k}" in metrics}


def run_detection(dc: DetectionConfig) -> dict:
    dc.validate()  # first: on the core install it names the detection install
    from mmengine.dist import get_rank
    cfg = load_mm_config(dc.config, dict(dc.cfg_options))
    cfg.launcher = dc.launcher
    data = check_test_data(cfg)
    sha = check_checkpoint(cfg, dc.checkpoint)
    out = dc.out or str(Path("results") / "detection" / Path(dc.config).stem)
    identity = {"config": os.path.abspath(dc.config), "cfg_options": dict(dc.cfg_options),
                "checkpoint": {"path": os.path.abspath(dc.checkpoint), "sha256": sha},
                "data": data, "seed": dc.seed, "corruption_backend": dc.corruption_backend}
    writer = get_rank() == 0
    rd = RunDir(out, "detection", identity, {k: v for k, v in asdict(dc).items()}, force=dc.force,
                writer=writer, extra_meta={"model": Path(dc.config).stem}, settings=test_settings(cfg))
    try:
        cells = [(UNCORRUPTED, None, None)]
        if not dc.clean_only:
            cells += [(f"coco-c/{c}/{s}", c, s) for c in parse_corruptions(dc.corruptions)
                      for s in parse_severities(dc.severities)]
        with tempfile.TemporaryDirectory(prefix="pit_eval_det_") as tmp:
            for key, c, s in cells:
                if rd.done(key):
                    continue
                logger.info("detection cell %s", key)
                ap = _evaluate(_corrupted_cfg(cfg, c, s, dc.seed, dc.corruption_backend), dc.checkpoint, tmp)
                rd.add({"key": key, "benchmark": "coco" if c is None else "coco-c", "variant": c or "",
                        "param": s, **ap})
        summary = summarize_detection(list(rd.cells.values()), Path(dc.config).stem, data["sample"])
        rd.write_summary(summary, sorted(rd.cells.values(), key=lambda r: r["key"]))
    finally:
        rd.release()
    return {"out": out, "summary": summary}


def test_settings(cfg) -> dict:
    """How mmengine's test loop computes each cell: its device and precision (fp16 only when the
    config's ``test_cfg.fp16`` asks for it)."""
    import torch
    cuda = torch.cuda.is_available()
    return {"precision": "fp16" if (cfg.get("test_cfg") or {}).get("fp16") else "fp32",
            "device_type": "cuda" if cuda else "cpu",
            "device_name": torch.cuda.get_device_name() if cuda else "cpu"}


def summarize_detection(cells: List[dict], model: str, sample: bool) -> dict:
    clean = next((c for c in cells if c["key"] == UNCORRUPTED), None)
    corrupted = {(c["variant"], int(c["param"])): c["bbox_mAP"] for c in cells if c["benchmark"] == "coco-c"}
    out = {"model": model, "flags": [SAMPLE_NOTE] if sample else [], "benchmarks": {}}
    if clean:
        out["benchmarks"]["coco"] = {k: clean.get(k) for k in AP_KEYS}
    if clean and corrupted:
        cc = coco_c_summary(clean["bbox_mAP"], corrupted)
        cc["grid"] = {f"{c}/{s}": v for (c, s), v in sorted(corrupted.items())}
        cc["corruption_protocol"] = IMAGECORRUPTIONS  # mmdetection's COCO-C (Michaelis et al.)
        by_sev = {}
        for (c, s), v in corrupted.items():
            by_sev.setdefault(s, []).append(v)
        cc["ap_by_severity"] = {str(s): sum(v) / len(v) for s, v in sorted(by_sev.items())}
        out["benchmarks"]["coco-c"] = cc
    out["provenance"] = prov = provenance_summary(cells)
    out["flags"] += provenance_flags(prov)
    return out


def ingest_work_dir(work_dir: str, out: Optional[str] = None, force: bool = False) -> dict:
    """Read the last COCO metrics that mmdet logged in ``work_dir`` (vis_data/scalars.json) and store
    them as a detection results directory (clean cell only)."""
    files = sorted(glob.glob(os.path.join(work_dir, "*", "vis_data", "scalars.json")))
    if not files:
        raise DataError(f"no <timestamp>/vis_data/scalars.json under {work_dir!r}; is it an mmdet "
                        "work_dir that ran validation or test?")
    last = None
    for f in files:
        for line in Path(f).read_text().splitlines():
            rec = json.loads(line)
            if "coco/bbox_mAP" in rec:
                last = (f, rec)
    if last is None:
        raise DataError(f"{work_dir!r} logged no coco/bbox_mAP; run validation (mim test) first")
    src, rec = last
    cfg_files = sorted(glob.glob(os.path.join(work_dir, "*.py")))
    model = Path(cfg_files[0]).stem if cfg_files else Path(work_dir).name
    out = out or str(Path("results") / "detection" / f"{model}-ingested")
    rd = RunDir(out, "detection", {"ingested_from": os.path.abspath(src)},
                {"work_dir": os.path.abspath(work_dir)}, force=force, extra_meta={"model": model})
    try:
        rd.add({"key": UNCORRUPTED, "benchmark": "coco", "variant": "", "param": None,
                **{k: (None if rec[f"coco/{k}"] < 0 else float(rec[f"coco/{k}"])) for k in AP_KEYS
                   if f"coco/{k}" in rec},
                "epoch_or_step": rec.get("step")})
        summary = summarize_detection(list(rd.cells.values()), model, sample="sample" in src)
        rd.write_summary(summary, list(rd.cells.values()))
    finally:
        rd.release()
    return {"out": out, "summary": summary}


def format_detection(summary: dict) -> str:
    lines = [f"detector {summary['model']}"] + [f"!! {f}" for f in summary["flags"]]
    coco = summary["benchmarks"].get("coco")
    if coco:
        lines.append("COCO  " + "  ".join(f"{k.replace('bbox_', '')} {100 * v:.1f}" for k, v in coco.items()
                                          if v is not None))
    cc = summary["benchmarks"].get("coco-c")
    if cc:
        pct = lambda v: "n/a" if v is None else f"{100 * v:.1f}"  # noqa: E731
        scope = "15 x 5, mmdet's mPC" if cc["mPC_complete"] else f"{cc['mPC_cells']} of the 75 benchmark cells"
        lines.append(f"COCO-C ({cc.get('corruption_protocol', IMAGECORRUPTIONS)} protocol)  P {pct(cc['P'])}  "
                     f"mPC {pct(cc['mPC'])} ({scope})  rPC {pct(cc['rPC'])} %"
                     + (f"  extra corruptions: mean AP {pct(cc['mPC_extra'])}" if cc["mPC_extra"] is not None else ""))
    return "\n".join(lines)
