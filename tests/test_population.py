"""Effective robustness: the shipped clouds equal their source CSVs, the standard rule, the fit against
an independent scipy recomputation, a run's effective robustness, the same-classes clean top-1."""
import csv
from pathlib import Path

import numpy as np
import pytest
import torch
from scipy.stats import linregress

from pit_eval import benchmarks, population
from pit_eval.loop_metrics import Batch, SubsetTop1
from pit_eval.metrics import clopper_pearson
from pit_eval.registry import unknown_name_message

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

ROOT = Path(__file__).resolve().parents[1]
SOURCES = ROOT / "tests/data/clouds"
ASSETS = ROOT / "pit_eval/assets/clouds"


def _csv(path):
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_every_timm_number_equals_its_csv():
    shipped = {(r["model"], r["img_size"]): r for r in _csv(ASSETS / "timm.csv")}
    files = {"clean": "results-imagenet.csv", "imagenet-v2": "results-imagenetv2-matched-frequency.csv",
             "imagenet-sketch": "results-sketch.csv", "imagenet-a": "results-imagenet-a.csv",
             "imagenet-a-clean": "results-imagenet-a-clean.csv", "imagenet-r": "results-imagenet-r.csv",
             "imagenet-r-clean": "results-imagenet-r-clean.csv"}
    checked = 0
    for col, name in files.items():
        source = {(r["model"], r["img_size"]): r["top1"] for r in _csv(SOURCES / "timm" / name)}
        # every row of the source with a clean top-1 is shipped (the cloud's rows are results-imagenet.csv's)
        assert {k for k, v in shipped.items() if v[col] != ""} == set(source) & set(shipped), col
        for key, top1 in source.items():
            if key not in shipped:
                continue       # no clean top-1 in timm's results: not a point of the cloud
            assert shipped[key][col] == top1, (col, key, shipped[key][col], top1)
            checked += 1
    pretrain = {r["model"]: r["pretrain"] for r in _csv(SOURCES / "timm/model_metadata-in1k.csv")}
    assert all(r["pretrain"] == pretrain.get(r["model"].split(".")[0], "") for r in shipped.values())
    assert checked > 10_000 and len(shipped) == len(_csv(SOURCES / "timm/results-imagenet.csv"))


def test_every_testbed_number_equals_its_csv():
    columns = {"clean": "val", "imagenet-v2": "imagenetv2-matched-frequency", "imagenet-sketch": "imagenet-sketch",
               "imagenet-a": "imagenet-a", "imagenet-a-clean": "val-on-imagenet-a-classes", "imagenet-r": "imagenet-r",
               "imagenet-r-clean": "val-on-imagenet-r-classes", "objectnet": "objectnet-1.0-beta",
               "objectnet-clean": "val-on-objectnet-classes"}
    source = {r["model"]: r for r in _csv(SOURCES / "testbed/robustness_top1s.csv")}
    shipped = _csv(ASSETS / "testbed.csv")
    assert [r["model"] for r in shipped] == list(source)
    from pit_eval.corruptions.names import COMMON
    for r in shipped:
        src = source[r["model"]]
        assert all(r[ours] == src[theirs] for ours, theirs in columns.items()), r["model"]
        cells = [src[f"imagenet-c.{c}.{s}_on-disk"] for c in COMMON for s in range(1, 6)]
        if all(cells):
            assert float(r["imagenet-c"]) == pytest.approx(np.mean([float(v) for v in cells]), abs=1e-12)
        else:
            assert r["imagenet-c"] == ""
    types = (SOURCES / "testbed/model_types.py.txt").read_text()
    assert "'resnet50': ModelTypes.STANDARD" in types
    assert next(r for r in shipped if r["model"] == "resnet50")["model_type"] == "STANDARD"


def test_timm_standard_set_holds_no_extra_data():
    df = population.load_cloud("timm")
    std = df[df["standard"]]
    assert len(std) >= 300, len(std)
    banned = ("in21k", "in22k", "in12k", "laion", "openai", "jft", "ig1b", "yfcc", "webli", "m38m", "swsl", "ssl",
              "clip", "distilled", "_dist", "seer", "swag")
    bad = [m for m in std["model"] if any(b in m for b in banned)]
    assert bad == [], bad[:10]
    assert std["model"].is_unique, "one point per model (its default test size)"
    assert "pit_s_224.in1k" in set(std["model"]) and "deit_small_patch16_224.fb_in1k" in set(std["model"])
    why = dict(zip(df["model"], df["excluded_because"]))
    assert why["pit_s_distilled_224.in1k"] == "metadata pretrain in1k-dist" and why["tf_efficientnet_b0.ap_in1k"].startswith("robust")
    assert why["vit_base_patch16_224.augreg2_in21k_ft_in1k"].endswith("in21k")
    assert why["convnext_tiny.fb_in22k_ft_in1k"] == "extra data (in22k)"
    t = population.load_cloud("testbed")
    assert 50 <= t["standard"].sum() < len(t) and set(t[t["standard"]]["model"]) >= {"resnet50", "densenet121"}


def test_the_clouds_shifts_and_axes_are_read_from_their_headers():
    assert population.shifts("timm") == ("imagenet-v2", "imagenet-sketch", "imagenet-a", "imagenet-r")
    assert population.shifts("testbed") == ("imagenet-v2", "imagenet-sketch", "imagenet-a", "imagenet-r",
                                            "objectnet", "imagenet-c")
    assert [population.axis(s, "testbed") for s in population.shifts("testbed")] == [
        "clean", "clean", "imagenet-a-clean", "imagenet-r-clean", "objectnet-clean", "clean"]
    assert population.reference_column("timm") == population.reference_column("testbed") == "clean"


@pytest.mark.parametrize("cloud", population.CLOUDS)
def test_fit_equals_scipy_on_the_standard_members(cloud):
    df = population.load_cloud(cloud)
    for shift in population.shifts(cloud):
        axis = population.axis(shift, cloud)
        m = df[df["standard"] & (df[axis] > 0) & (df[axis] < 1) & (df[shift] > 0) & (df[shift] < 1)]
        ref = linregress(np.log(m[axis] / (1 - m[axis])), np.log(m[shift] / (1 - m[shift])))
        f = population.fit(shift, cloud)
        assert (f.slope, f.intercept, f.r) == pytest.approx((ref.slope, ref.intercept, ref.rvalue), abs=1e-9), shift
        assert len(f.members) == len(m) and f.axis == axis and f.r > 0.85, (shift, f.r)


def test_effective_robustness_of_a_run_equals_the_recomputation():
    bench = {"clean": {"acc1": 0.80, "subset_acc1": {"imagenet-a": {"acc1": 0.95}, "imagenet-r": {"acc1": 0.94}}},
             "imagenet-v2": {"acc1": 0.70, "acc1_ci": [0.69, 0.71]}, "imagenet-a": {"acc1": 0.25, "acc1_ci": None},
             "imagenet-r": {"acc1": 0.45, "acc1_ci": [0.44, 0.46]}}
    er = benchmarks.effective_robustness(bench)
    assert set(er) == {"imagenet-v2", "imagenet-a", "imagenet-r"}
    for shift, x in (("imagenet-v2", 0.80), ("imagenet-a", 0.95), ("imagenet-r", 0.94)):
        f = population.fit(shift)
        expected = 1 / (1 + np.exp(-(f.slope * np.log(x / (1 - x)) + f.intercept)))
        y = bench[shift]["acc1"]
        assert er[shift]["value"] == pytest.approx(100 * (y - expected), abs=1e-9)
        assert er[shift]["expected"] == pytest.approx(100 * expected, abs=1e-9) and er[shift]["measured"] == 100 * y
        assert er[shift]["fit"]["n_models"] == len(f.members) and er[shift]["fit"]["cloud"] == "timm"
    lo, hi = er["imagenet-v2"]["ci"]
    assert lo == pytest.approx(69 - er["imagenet-v2"]["expected"]) and hi == pytest.approx(71 - er["imagenet-v2"]["expected"])
    assert not er["imagenet-v2"]["extrapolated"]
    far = benchmarks.effective_robustness({"clean": {"acc1": 0.995}, "imagenet-v2": {"acc1": 0.9}})
    assert far["imagenet-v2"]["extrapolated"], "x beyond the cloud's span is said to extrapolate"


def test_timm_reference_for_pit_s():
    ref = population.timm_reference("pit_s_224", "imagenet-v2")
    f = population.fit("imagenet-v2")
    assert ref["model"] == "pit_s_224.in1k" and ref["source"] == "timm_results"
    assert ref["value"] == pytest.approx(69.8 - 100 * f.expected(0.81114), abs=1e-9)


def test_band_is_seeded_and_holds_the_fit():
    b = population.band("imagenet-v2", samples=200)
    assert b == population.band("imagenet-v2", samples=200)
    f = population.fit("imagenet-v2")
    mid = len(b["x"]) // 2
    assert b["lo"][mid] <= f.expected(b["x"][mid]) <= b["hi"][mid]
    assert f.band["lo_logit"][mid] == pytest.approx(np.log(f.band["lo"][mid] / (1 - f.band["lo"][mid])))
    assert len(population.band("imagenet-v2")["x"]) == 100   # the default: 1,000 resamples


def test_bad_names_and_missing_clean_are_said():
    with pytest.raises(ValueError) as e:
        population.load_cloud("timmm")
    assert str(e.value) == unknown_name_message("cloud", "timmm", population.CLOUDS)
    with pytest.raises(ValueError, match=r"unknown shift of the timm cloud 'imagenet-v3'. Did you mean 'imagenet-v2'"):
        population.fit("imagenet-v3")
    er = benchmarks.effective_robustness({"imagenet-v2": {"acc1": 0.7}})
    assert er["imagenet-v2"] == {"value": None, "why": "effective robustness needs the clean accuracy: add clean to --benchmarks"}


def test_subset_top1_equals_numpy():
    """Top-1 on the 200 ImageNet-A classes: the images of those classes, logits restricted to them."""
    from pit_eval.datasets import subset_indices
    g = torch.Generator().manual_seed(0)
    idx = subset_indices("a")
    labels = torch.cat([torch.tensor(idx[:60]), torch.randint(0, 1000, (140,), generator=g)])
    logits = torch.randn(200, 1000, generator=g)
    logits[torch.arange(0, 200, 3), labels[::3]] += 5
    m = SubsetTop1({"imagenet-a": idx})
    state = m.init(1, torch.device("cpu"))
    for s in range(0, 200, 64):
        m.update(state, Batch(torch.zeros(len(labels[s:s + 64]), dtype=torch.long), logits[s:s + 64], labels[s:s + 64],
                              torch.arange(s, min(s + 64, 200))))
    got = m.finalize(m.read(state, 1)[0], 200)["subset_acc1"]["imagenet-a"]
    inside = np.isin(labels.numpy(), idx)
    pred = np.asarray(idx)[logits.numpy()[:, idx].argmax(1)]
    right = int((inside & (pred == labels.numpy())).sum())
    assert got == {"correct": right, "n": int(inside.sum()), "acc1": right / inside.sum(),
                   "acc1_ci": clopper_pearson(right, int(inside.sum()))}
    assert 20 < right < int(inside.sum())


def test_report_draws_one_scatter_per_shift_with_a_value():
    from pit_eval.plots import figure_png
    from pit_eval.result_kinds.robustness import effective_robustness_plots
    bench = {"clean": {"acc1": 0.81, "subset_acc1": {"imagenet-a": {"acc1": 0.95}}},
             "imagenet-v2": {"acc1": 0.70, "acc1_ci": [0.69, 0.71]}, "imagenet-a": {"acc1": 0.21, "acc1_ci": [0.2, 0.22]},
             "imagenet-sketch": {"acc1": 0.0, "acc1_ci": [0.0, 0.1]}}
    plots = effective_robustness_plots([("m", {"effective_robustness": benchmarks.effective_robustness(bench)}), ("old", {})])
    assert sorted(plots) == ["effective_robustness_imagenet-a", "effective_robustness_imagenet-v2"]
    assert all(figure_png(p)[:8] == b"\x89PNG\r\n\x1a\n" for p in plots.values())


def test_docs_print_the_fits_of_both_clouds():
    """docs/effective-robustness.md's slopes are the ones the shipped clouds give."""
    page = (ROOT / "docs/effective-robustness.md").read_text()
    for cloud in population.CLOUDS:
        for shift in population.shifts(cloud):
            f = population.fit(shift, cloud)
            assert f"| {cloud} | {shift} | {len(f.members)} | {f.slope:.3f} | {f.intercept:.3f} | {f.r:.3f} |" in page, (cloud, shift)


def test_imagenet_c_is_compared_only_as_the_released_complete_grid():
    from pit_eval.corruptions.names import RELEASED_PROTOCOL
    clean = {"acc1": 0.76}
    done = {"mean_corrupted_acc": 0.39, "mean_corrupted_acc_complete": True, "corruption_protocol": RELEASED_PROTOCOL}
    er = benchmarks.effective_robustness({"clean": clean, "imagenet-c": done}, cloud="testbed")
    f = population.fit("imagenet-c", "testbed")
    assert er["imagenet-c"]["value"] == pytest.approx(39 - 100 * f.expected(0.76), abs=1e-9)
    for other in ({**done, "corruption_protocol": "imagenet-c, on the fly"}, {**done, "mean_corrupted_acc_complete": False}):
        assert "imagenet-c" not in benchmarks.effective_robustness({"clean": clean, "imagenet-c": other}, cloud="testbed")
