"""Regenerate the reference clouds of effective robustness (``pit_eval/assets/clouds/``) and the
source files their test compares them with (``tests/data/clouds/``) from snapshots of the two public
repositories, at the commits named in ``pit_eval/assets/clouds/SOURCE.md``:

    python scripts/make_clouds.py --timm PATH --testbed PATH

PATH: a git directory (a bare mirror is fine) or a work tree of huggingface/pytorch-image-models
(its ``results/`` CSVs, Apache-2.0) and of modestyachts/imagenet-testbed (``robustness_top1s.csv`` and
``plotting/model_types.py``, MIT). Numbers are copied as the CSVs print them (top-1 in per cent); the
only computed column is the testbed's ImageNet-C mean over the 15 x 5 released files. Which models are
*standard* (in the fit) is decided at load time by :mod:`pit_eval.population`, not here.
"""
from __future__ import annotations

import argparse
import csv
import io
import re
import subprocess
import sys
from pathlib import Path
from typing import Dict, List

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from pit_eval.corruptions.names import COMMON  # noqa: E402  (the 15 benchmark corruptions, in order)

ASSETS = ROOT / "pit_eval" / "assets" / "clouds"
SOURCES = ROOT / "tests" / "data" / "clouds"

#: timm's results file of each column (benchmark names)
TIMM_FILES = {"clean": "results-imagenet.csv", "imagenet-v2": "results-imagenetv2-matched-frequency.csv",
              "imagenet-sketch": "results-sketch.csv", "imagenet-a": "results-imagenet-a.csv",
              "imagenet-a-clean": "results-imagenet-a-clean.csv", "imagenet-r": "results-imagenet-r.csv",
              "imagenet-r-clean": "results-imagenet-r-clean.csv"}
TIMM_METADATA = "model_metadata-in1k.csv"
#: the testbed's column of each of ours
TESTBED_COLUMNS = {"clean": "val", "imagenet-v2": "imagenetv2-matched-frequency", "imagenet-sketch": "imagenet-sketch",
                   "imagenet-a": "imagenet-a", "imagenet-a-clean": "val-on-imagenet-a-classes",
                   "imagenet-r": "imagenet-r", "imagenet-r-clean": "val-on-imagenet-r-classes",
                   "objectnet": "objectnet-1.0-beta", "objectnet-clean": "val-on-objectnet-classes"}


def read(repo: Path, path: str) -> str:
    """A file of ``repo`` at HEAD (a git directory) or in its work tree."""
    if (repo / path).is_file():
        return (repo / path).read_text()
    return subprocess.run(["git", "--git-dir", str(repo), "show", f"HEAD:{path}"], check=True,
                          capture_output=True, text=True).stdout


def commit(repo: Path) -> str:
    git = ["git", "--git-dir", str(repo)] if not (repo / ".git").exists() else ["git", "-C", str(repo)]
    return subprocess.run(git + ["rev-parse", "HEAD"], check=True, capture_output=True, text=True).stdout.strip()


def rows(text: str) -> List[Dict[str, str]]:
    return list(csv.DictReader(io.StringIO(text)))


def write(path: Path, header: List[str], table: List[Dict[str, str]]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=header, lineterminator="\n")
        w.writeheader()
        w.writerows(table)


def timm_cloud(repo: Path) -> List[Dict[str, str]]:
    by: Dict[str, Dict[str, str]] = {}
    for col, name in TIMM_FILES.items():
        text = read(repo, f"results/{name}")
        (SOURCES / "timm").mkdir(parents=True, exist_ok=True)
        (SOURCES / "timm" / name).write_text(text)
        for r in rows(text):    # a model may be listed at two test sizes: one row each
            by.setdefault((r["model"], r["img_size"]), {"model": r["model"], "img_size": r["img_size"]})[col] = r["top1"]
    meta_text = read(repo, f"results/{TIMM_METADATA}")
    (SOURCES / "timm" / TIMM_METADATA).write_text(meta_text)
    pretrain = {r["model"]: r["pretrain"] for r in rows(meta_text)}
    out = []
    for (m, _), r in sorted(by.items(), key=lambda kv: (kv[0][0], int(kv[0][1]))):
        if "clean" not in r:
            continue
        r["pretrain"] = pretrain.get(m.split(".")[0], "")
        out.append(r)
    return out


def testbed_cloud(repo: Path) -> List[Dict[str, str]]:
    text = read(repo, "robustness_top1s.csv")
    (SOURCES / "testbed").mkdir(parents=True, exist_ok=True)
    (SOURCES / "testbed" / "robustness_top1s.csv").write_text(text)
    types_text = read(repo, "plotting/model_types.py")
    (SOURCES / "testbed" / "model_types.py.txt").write_text(types_text)   # data, kept as text
    types = dict(re.findall(r"^'([^']+)'\s*:\s*ModelTypes\.(\w+)", types_text, re.M))
    out = []
    for r in rows(text):
        row = {"model": r["model"], **{ours: r.get(theirs, "") for ours, theirs in TESTBED_COLUMNS.items()},
               "model_type": types.get(r["model"], "")}
        cells = [r.get(f"imagenet-c.{c}.{s}_on-disk", "") for c in COMMON for s in range(1, 6)]
        row["imagenet-c"] = repr(sum(map(float, cells)) / len(cells)) if all(cells) else ""
        out.append(row)
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--timm", type=Path, required=True)
    ap.add_argument("--testbed", type=Path, required=True)
    a = ap.parse_args()
    timm = timm_cloud(a.timm)
    write(ASSETS / "timm.csv", ["model", "img_size", *TIMM_FILES, "pretrain"], timm)
    testbed = testbed_cloud(a.testbed)
    write(ASSETS / "testbed.csv", ["model", *TESTBED_COLUMNS, "imagenet-c", "model_type"], testbed)
    print(f"timm: {len(timm)} models at {commit(a.timm)}; testbed: {len(testbed)} models at {commit(a.testbed)}")


if __name__ == "__main__":
    main()
