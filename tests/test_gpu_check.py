"""scripts/gpu_check.py at --quick size on the CPU: every section runs and is written."""
import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


@pytest.mark.e2e
def test_gpu_check_quick_on_cpu_writes_every_section(tmp_path):
    sys.path.insert(0, str(ROOT / "scripts"))
    from gpu_check import SECTIONS
    proc = subprocess.run([sys.executable, str(ROOT / "scripts/gpu_check.py"), "--device", "cpu", "--quick",
                           "--out", str(tmp_path)], capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    report = json.loads((tmp_path / "gpu_check.json").read_text())
    md = (tmp_path / "gpu_check.md").read_text()
    assert list(report["sections"]) == list(SECTIONS)
    for name, sec in report["sections"].items():
        assert "error" not in sec and "skipped" not in sec, (name, sec)
        assert f"## {name} (" in md, name
        assert all(rows for rows in sec["tables"].values()), name
    s = report["sections"]
    fwd = s["forward"]["tables"]["bare forward img/s, batch 4"]
    assert all(r["fp32"] > 0 and r["bf16"] > 0 for r in fwd) and fwd[0]["bf16+compile"] > 0
    assert s["forward"]["tables"]["PiT / DeiT throughput"][0]["paper V100 ratio"] == 1.18
    clean, = s["clean"]["tables"]["clean evaluation end to end"]
    assert clean["images"] == 24 and 0 <= clean["stall share"] <= 1 and clean["ratio"] > 0
    backends = s["imagenet-c"]["tables"]["on-the-fly ImageNet-C, 15 corruptions at severity 3"]
    assert [r["backend"] for r in backends] == ["fast", "torch"] and all(r["image-cells/s"] > 0 for r in backends)
    torch_rows = s["imagenet-c"]["tables"]["torch backend on the device, batch 4"]
    assert len(torch_rows) == 15 and {r["verdict"] for r in torch_rows if r["ms/image"]} == {"within thresholds"}
    assert {r["precision"] for r in s["amp"]["tables"]["AMP top-1 agreement with fp32 (EfficientNet-Lite0, real weights)"]} == {"bf16", "fp16"}
    assert s["torchrun"]["tables"]["torchrun, 1 process"][0]["backend"] == "gloo"
    det = {r["config"]: r for r in s["detection"]["tables"]["detection training"]}
    assert det["deformable_detr_pit_s"]["deformable attention"] == "PyTorch fallback"  # no CUDA here
    assert det["detr_pit_s"]["deformable attention"] == "not used"


def test_gpu_check_wheels_folder_must_hold_wheels(tmp_path):
    proc = subprocess.run([sys.executable, str(ROOT / "scripts/gpu_check.py"), "--wheels", str(tmp_path)],
                          capture_output=True, text=True, timeout=60)
    assert proc.returncode != 0 and f"--wheels {str(tmp_path)!r}: no .whl file there" in proc.stderr
