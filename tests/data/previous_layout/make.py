"""Run every benchmark on a copy of the sample at a fixed path with the code at HEAD (4653375)."""
import shutil, sys
from pathlib import Path
from pit_eval.autoattack import AutoAttackConfig
from pit_eval.datasets import DATASETS
from pit_eval.engine import EngineConfig
from pit_eval.images import SAMPLE_ROOT
from pit_eval.robustness import RobustnessConfig, RobustnessRun
DATA = Path("/tmp/pit-eval-previous-layout-data")
if not DATA.exists():
    shutil.copytree(SAMPLE_ROOT, DATA)
out = sys.argv[1]
cfg = RobustnessConfig(model="pit_ti", weights="none", out=out,
    paths=tuple((n, str(DATA / s.subdir)) for n, s in DATASETS.items() if n != "imagenet-c"),
    benchmarks=("clean", "imagenet-c", "imagenet-a", "imagenet-r", "imagenet-sketch", "imagenet-v2",
                "occlusion", "fgsm", "pgd", "in9", "bgc", "autoattack"),
    corruptions=("gaussian_noise", "fog"), severities=(1, 3), imagenet_c_block=2,
    bgc_max_backgrounds=3, autoattack=AutoAttackConfig(eps=4.0, n_images=2),
    engine=EngineConfig(batch_size=2, workers=0, quiet=True))
s = RobustnessRun(cfg).run()["summary"]
print(sorted(s["benchmarks"]))
