"""The two installs and the installed command: the core runs robustness, the paper's robustness tables
and the API with no mmcv / mmdet / mmengine / pycocotools importable (a detection command then says
what to install); a built wheel installed into a fresh environment runs `pit-eval` from any directory
with its packaged data; logs written to a file are plain lines, one per cell."""
import json
import re
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
DETECTION_MODULES = ("mmcv", "mmdet", "mmengine", "pycocotools")
#: runs pit_eval's CLI (or code) as on the core install: the detection packages cannot be imported
CORE_ONLY = ("import sys\n"
             f"for m in {DETECTION_MODULES!r}: sys.modules[m] = None\n")


def _core(code: str, tmp_path, timeout=600):
    return subprocess.run([sys.executable, "-c", CORE_ONLY + code], capture_output=True, text=True,
                          cwd=tmp_path, timeout=timeout, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin",
                                                             "PYTHONPATH": str(ROOT)})


@pytest.mark.e2e
def test_core_install_runs_robustness_paper_and_api_without_detection_packages(tmp_path):
    cli = "from pit_eval.cli import main\n"
    r = _core(cli + "sys.exit(main(['robustness', '--model', 'pit_ti', '--weights', 'random', '--out', 'r',"
                    " '--corruptions', 'fog', '--severities', '1', '--quiet']))", tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    s = json.loads((tmp_path / "r" / "summary.json").read_text())
    assert {"clean", "imagenet-c", "bgc", "in9", "fgsm"} <= set(s["benchmarks"])
    r = _core(cli + "sys.exit(main(['paper', '--models', 'pit_ti', '--tables', 'robustness', '--corruptions',"
                    " 'fog', '--severities', '1', '--out', 'p', '--quiet']))", tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert (tmp_path / "p" / "report" / "paper.md").is_file()
    r = _core("import pit_eval\nres = pit_eval.evaluate('pit_ti', weights='random', benchmarks='clean', "
              "out='api', quiet=True)\nprint(res['benchmarks']['clean']['n'])", tmp_path)
    assert r.returncode == 0 and r.stdout.strip() == "6", r.stderr[-3000:]
    # the paper plan lists the detection rows as needing the detection install
    r = _core(cli + "sys.exit(main(['paper', '--dry-run', '--out', 'p2']))", tmp_path)
    assert r.returncode == 0, r.stderr[-3000:]
    assert "no detection results: needs the detection install (make detection-setup), then train" in r.stdout + r.stderr


def test_detection_without_the_extra_says_what_to_install(tmp_path):
    expect = ("detection needs the detection install, which this environment lacks (mmcv: mmcv 2.1.0 with ops "
              "(built by make detection-setup), mmdet: mmdet 3.3, mmengine: mmengine, pycocotools: "
              "pycocotools): run `make detection-setup` (= bash scripts/setup.sh --detection), or pip install "
              "'.[detection]' and build mmcv 2.1.0 with its ops as the README's Setup shows")
    r = _core("from pit_eval.cli import main\nsys.exit(main(['detection', '--config', "
              f"'{ROOT}/configs/detr_pit_s.py', '--checkpoint', 'x.pth']))", tmp_path)
    assert r.returncode == 2 and r.stderr.strip().endswith("ERROR pit_eval: " + expect), r.stderr[-2000:]
    r = _core("import backbones", tmp_path)  # what a config's custom_imports does
    assert r.returncode == 1 and r.stderr.strip().endswith("DetectionInstallMissing: " + expect), r.stderr[-2000:]


@pytest.mark.e2e
def test_wheel_installs_and_runs_from_another_directory(tmp_path):
    """Build the wheel, install it (no dependencies) into a fresh environment that sees this one's
    third-party packages only, and run the installed `pit-eval` from an empty directory."""
    subprocess.run([sys.executable, "-m", "pip", "wheel", "-q", "--no-deps", "--no-build-isolation", str(ROOT),
                    "-w", str(tmp_path / "dist")], check=True, cwd=tmp_path, timeout=300)
    wheel, = (tmp_path / "dist").glob("pit_eval-*.whl")
    env_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env_dir)], check=True, timeout=120)
    py = env_dir / "bin" / "python"
    subprocess.run([sys.executable, "-m", "pip", "--python", str(py), "install", "-q", "--no-deps", str(wheel)],
                   check=True, timeout=300)
    site = subprocess.run([str(py), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    Path(site, "third_party.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    work = tmp_path / "elsewhere"
    work.mkdir()
    r = subprocess.run([str(env_dir / "bin" / "pit-eval"), "robustness", "--model", "pit_ti", "--weights", "random",
                        "--benchmarks", "clean,imagenet-c,bgc", "--corruptions", "fog", "--severities", "1"],
                       capture_output=True, text=True, cwd=work, timeout=600, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    assert r.returncode == 0, r.stderr[-3000:]
    where = subprocess.run([str(py), "-c", "import pit_eval; print(pit_eval.__file__)"], capture_output=True,
                           text=True, cwd=work).stdout.strip()
    assert where.startswith(site), where   # the installed package, not the repository
    assert "sample data — not comparable to the paper" in r.stdout
    assert re.search(r"clean top-1 +0\.00 \[0\.00, 45\.93\] · 73 \[pit_readme\]", r.stdout), r.stdout  # paper.json, packaged
    s = json.loads(next(work.glob("results/robustness/*/summary.json")).read_text())
    assert s["benchmarks"]["clean"]["n"] == 6 and s["benchmarks"]["bgc"]["n_foregrounds"] == 3


@pytest.mark.e2e
def test_logs_to_a_file_are_plain_lines_one_per_cell(tmp_path):
    log = tmp_path / "run.log"
    with open(log, "w") as f:
        r = subprocess.run([sys.executable, str(ROOT / "run_eval.py"), "robustness", "--model", "pit_ti", "--weights",
                            "random", "--out", str(tmp_path / "r"), "--benchmarks", "clean,imagenet-c,fgsm",
                            "--corruptions", "fog,snow", "--severities", "1", "--imagenet-c-block", "3"],
                           stdout=f, stderr=subprocess.STDOUT, timeout=600, env={"HF_HUB_OFFLINE": "1", "PATH": "/usr/bin:/bin"})
    text = log.read_text()
    assert r.returncode == 0, text[-3000:]
    assert "\x1b" not in text and "\r" not in text
    cells = re.findall(r"INFO pit_eval\.progress: (\d+)/4 cell (\S+): top-1 [\d.]+ % of 6 · [\d.]+ img/s · ETA \d+:\d\d:\d\d", text)
    assert [c[1] for c in cells] == ["clean", "imagenet-c/fog/1", "imagenet-c/snow/1",
                                     "fgsm/eps=1/steps=1/step=None/rs=False"]
    assert len(re.findall(r"INFO pit_eval\.progress: \d/2 ImageNet-C block images-", text)) == 2
    assert "pkg_resources is deprecated" not in text
