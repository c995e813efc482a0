"""AutoAttack (benchmarks/autoattack.py) on a real ImageNet classifier: resumed per journalled batch,
torchattacks' standard settings."""
import json

import pytest

import pit_eval
from pit_eval import metrics as pit_eval_metrics
from pit_eval.benchmarks import autoattack
from pit_eval.models import Normalized

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

IMAGENET_NORM = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


def test_autoattack_on_a_real_classifier_resumes_per_batch(tmp_path, lite0, kill_on_call):
    kw = dict(name="lite0", benchmarks=["clean", "autoattack"], autoattack_images=4, out=str(tmp_path / "aa"),
              batch_size=1, workers=0, quiet=True, **IMAGENET_NORM)
    orig = kill_on_call(autoattack, "attack_batch", 3)   # killed in the third batch
    with pytest.raises(KeyboardInterrupt):
        pit_eval.evaluate(lite0, **kw)
    (journal,) = (tmp_path / "aa").glob("autoattack-*.jsonl")
    keys = [json.loads(line)["key"] for line in journal.read_text().splitlines()]
    assert keys == ["clean-pass", "batch-0", "batch-1"], keys    # the clean pass, then two attacked batches
    seen = []
    autoattack.attack_batch = lambda *a: seen.append(1) or orig(*a)
    try:
        s = pit_eval.evaluate(lite0, **kw).summary
    finally:
        autoattack.attack_batch = orig
    assert len(seen) == 2, "finished batches were attacked again"
    aa = s["benchmarks"]["autoattack"]
    after = [aa["acc_after"][a] for a in autoattack.ATTACK_NAMES]
    assert aa["n"] == 4 and aa["clean_acc"] == 0.75, aa      # the evenly spaced 4 of 5: clock missed
    assert aa["robust_acc"] <= after[0] <= aa["clean_acc"] and after == sorted(after, reverse=True), aa
    assert aa["robust_acc"] == after[-1]
    assert "AutoAttack robust top-1 (no published value for PiT)" in [r["metric"] for r in s["reference"]]
    cell = json.loads((tmp_path / "aa/cells.jsonl").read_text().splitlines()[-1])
    assert cell["correct1"] == cell["clean_correct"] == 3 and cell["acc1"] == 0.75, "the clean pass is the cell's top-1"
    assert cell["robust_acc"] == aa["robust_acc"] and cell["robust_acc_ci"] == pit_eval_metrics.clopper_pearson(
        cell["robust_correct"], 4)
    df = pit_eval.predictions(tmp_path / "aa", cell["key"])
    assert len(df) == 4 and sum(int(t[0]) == l for t, l in zip(df["top5"], df["label"])) == 3

def test_standard_autoattack_settings(lite0):
    atk = autoattack.standard_autoattack(Normalized(lite0, **IMAGENET_NORM), 4 / 255, seed=0)
    apgd, apgdt, fab, square = atk._autoattack.attacks
    assert (apgd.steps, apgd.loss, apgdt.steps, apgdt.n_target_classes) == (100, "ce", 100, 9)
    assert (fab.steps, fab.n_target_classes, fab.multi_targeted, square.n_queries) == (100, 9, True, 5000)
    assert all(a.eps == 4 / 255 and a.norm == "Linf" for a in (apgd, apgdt, fab, square))
