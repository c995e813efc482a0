import csv
from pathlib import Path

import pytest

from pit_eval import metrics as M
from pit_eval.corruptions.names import ALEXNET_CLEAN_ERR, ALEXNET_ERR


def _robustbench_cells():
    path = Path(__file__).parent / "data" / "robustbench_standard_r50_imagenet_c.csv"
    rows = csv.DictReader(l for l in path.open() if not l.startswith("#"))
    return {(r["corruption"], int(r["severity"])): float(r["acc"]) for r in rows}


def test_published_mean_corrupted_accuracy_reproduced():
    """RobustBench's Standard_R50: 75 published cells -> published aggregate 38.12 %."""
    cells = _robustbench_cells()
    assert len(cells) == 75
    s = M.imagenet_c_summary(cells, clean_acc=0.7652)
    assert round(100 * s["mean_corrupted_acc"], 2) == 38.12, s["mean_corrupted_acc"]
    assert s["mce_complete"] and s["mce"] is not None


def test_ce_hand_computed():
    # model errors 0.5 at every severity of gaussian_noise: CE = 2.5 / (5 * 0.886428)
    assert M.corruption_error([0.5] * 5, "gaussian_noise") == pytest.approx(0.5 / 0.886428)
    # relative CE: (sum(e) - 5*clean) / (5*(alex - alex_clean))
    rce = M.relative_corruption_error([0.4, 0.5, 0.6, 0.7, 0.8], 0.2, "fog")
    assert rce == pytest.approx((3.0 - 1.0) / (5 * (0.819324 - 0.4348)))
    with pytest.raises(ValueError, match="5 severities"):
        M.corruption_error([0.5] * 4, "fog")


def test_mce_equals_alexnet_for_alexnet_errors():
    cells = {(c, s): 1 - e for c, e in ALEXNET_ERR.items() for s in range(1, 6)}
    s = M.imagenet_c_summary(cells, clean_acc=1 - ALEXNET_CLEAN_ERR)
    assert s["mce"] == pytest.approx(1.0) and s["relative_mce"] == pytest.approx(1.0)


def test_mce_only_when_complete_and_extras_get_accuracy_only():
    cells = {("fog", s): 0.5 for s in range(1, 6)}
    cells.update({("spatter", s): 0.25 for s in range(1, 6)})
    s = M.imagenet_c_summary(cells)
    assert s["mce"] is None and not s["mce_complete"]
    assert "ce" in s["per_corruption"]["fog"] and "ce" not in s["per_corruption"]["spatter"]
    assert s["per_corruption"]["spatter"]["mean_acc"] == 0.25
    assert s["mean_corrupted_acc"] == pytest.approx(0.5), "the mean is over the 15 benchmark corruptions"
    assert s["mean_corrupted_acc_evaluated"] == pytest.approx(0.375)
    assert not s["mean_corrupted_acc_complete"] and s["evaluated_corruptions"] == ["fog", "spatter"]


def test_mean_corrupted_accuracy_is_over_the_15_even_with_19_evaluated():
    from pit_eval.corruptions.names import COMMON
    assert tuple(ALEXNET_ERR) == COMMON            # the mCE's 15 are the benchmark corruptions, in order
    cells = {(c, s): 0.6 for c in COMMON for s in range(1, 6)}
    cells.update({(c, s): 0.1 for c in ("speckle_noise", "gaussian_blur", "spatter", "saturate")
                  for s in range(1, 6)})
    s = M.imagenet_c_summary(cells)
    assert s["mean_corrupted_acc"] == pytest.approx(0.6) and s["mean_corrupted_acc_complete"]
    assert s["mean_corrupted_acc_evaluated"] == pytest.approx((75 * 0.6 + 20 * 0.1) / 95)


def test_coco_c_summary_by_formula():
    cells = {("fog", 1): 0.30, ("fog", 2): 0.20, ("snow", 1): 0.10, ("snow", 2): 0.0}
    s = M.coco_c_summary(0.40, cells)
    assert s == {"P": 0.40, "mPC": pytest.approx(0.15), "rPC": pytest.approx(0.375), "mPC_complete": False,
                 "mPC_cells": 4, "mPC_extra": None}


def test_coco_c_mpc_is_over_the_15_by_5_and_extras_apart():
    """mmdet's robustness_eval.py: mPC = mean over the 15 benchmark corruptions x severities 1-5."""
    cells = {(c, s): 0.2 + 0.01 * s for c in ALEXNET_ERR for s in range(1, 6)}
    cells.update({("spatter", s): 0.0 for s in range(1, 6)})
    s = M.coco_c_summary(0.40, cells)
    assert s["mPC"] == pytest.approx(0.23) and s["mPC_complete"] and s["mPC_cells"] == 75
    assert s["mPC_extra"] == 0.0 and s["rPC"] == pytest.approx(0.23 / 0.40)
    with pytest.raises(ValueError):
        M.coco_c_summary(0.4, {})


def test_area_under_curve():
    assert M.area_under_curve([0, 0.5, 1.0], [1.0, 0.5, 0.0]) == pytest.approx(0.5)
    assert M.area_under_curve([0.5, 0, 1.0], [0.5, 1.0, 1.0]) == pytest.approx(0.75)
