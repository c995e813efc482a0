"""Occlusion (benchmarks/occlusion.py): patch-drop and centred-box masks, their areas and positions,
their determinism, and the dataset that applies them."""
import numpy as np
import pytest
import torch

from pit_eval.benchmarks.occlusion import OcclusionConfig, Occluded, occlusion_mask, _rng

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)


@pytest.mark.parametrize("level", [0.1, 0.25, 0.5, 0.75, 1.0])
def test_patch_drop_covers_requested_fraction(level):
    m = occlusion_mask(224, 224, "patch_drop", level, 16, np.random.default_rng(0))
    n_patches = round(level * 196)
    assert m.sum() == n_patches * 256, (level, m.sum() / 256, n_patches)

@pytest.mark.parametrize("level", [0.1, 0.25, 0.5])
@pytest.mark.parametrize("hw", [(224, 224), (200, 300)])
def test_center_occlusion_area_and_position(level, hw):
    m = occlusion_mask(*hw, "center", level)
    assert abs(m.mean() - level) < 0.01, (hw, level, m.mean())
    rows, cols = np.where(m)
    assert abs((rows.min() + rows.max()) / 2 - (hw[0] - 1) / 2) <= 1
    assert abs((cols.min() + cols.max()) / 2 - (hw[1] - 1) / 2) <= 1

def test_masks_deterministic_per_image_and_level():
    a = occlusion_mask(64, 64, "patch_drop", 0.5, 8, _rng(0, "img1", "patch_drop", 0.5))
    b = occlusion_mask(64, 64, "patch_drop", 0.5, 8, _rng(0, "img1", "patch_drop", 0.5))
    c = occlusion_mask(64, 64, "patch_drop", 0.5, 8, _rng(0, "img2", "patch_drop", 0.5))
    assert np.array_equal(a, b) and not np.array_equal(a, c)

def test_occluded_dataset_fills_mask():
    class DS:
        def __len__(self): return 1
        def __getitem__(self, i): return torch.full((3, 32, 32), 200, dtype=torch.uint8), 3
        def key(self, i): return "k"
    occ = Occluded(DS(), OcclusionConfig("center", (0.25,), fill="mean"), 0.25)
    img, label = occ[0]
    assert label == 3
    assert tuple(img[:, 16, 16].tolist()) == (124, 116, 104)  # ImageNet mean * 255
    assert (img[:, 0, 0] == 200).all()

def test_occlusion_config_rejects_bad_values():
    for kw in ({"protocol": "cutout"}, {"levels": (1.5,)}, {"patch_size": 0}, {"fill": "2"}):
        with pytest.raises(ValueError):
            OcclusionConfig(**kw)
