import numpy as np
import pytest
import torch
from torch import nn

from pit_eval.benchmarks.attacks import AttackConfig, fgsm, pgd
from pit_eval.benchmarks.occlusion import OcclusionConfig, Occluded, occlusion_mask, _rng


def _linear():
    torch.manual_seed(0)
    model = nn.Sequential(nn.Flatten(), nn.Linear(3 * 8 * 8, 2))
    return model, model[1].weight.detach()


def test_fgsm_on_linear_classifier_steps_along_sign_w():
    """For a 2-class linear model the loss gradient w.r.t. x is proportional to w_other - w_true."""
    model, w = _linear()
    x = torch.full((4, 3, 8, 8), 0.5)
    y = torch.tensor([0, 1, 0, 1])
    eps = 4 / 255
    adv = fgsm(model, x, y, eps)
    for i in range(4):
        expect = x[i] + eps * torch.sign(w[1 - y[i]] - w[y[i]]).view(3, 8, 8)
        assert torch.allclose(adv[i], expect, atol=1e-7), f"sample {i}: max diff {(adv[i]-expect).abs().max()}"


def test_pgd_on_linear_classifier_reaches_the_optimal_vertex():
    model, w = _linear()
    x = torch.full((2, 3, 8, 8), 0.5)
    y = torch.tensor([0, 1])
    eps = 2 / 255
    adv = pgd(model, x, y, eps, steps=5, step_size=eps / 2, random_start=True,
              generator=torch.Generator().manual_seed(0))
    for i in range(2):
        opt = x[i] + eps * torch.sign(w[1 - y[i]] - w[y[i]]).view(3, 8, 8)
        assert torch.allclose(adv[i], opt, atol=1e-6), f"max diff {(adv[i]-opt).abs().max()}"
    assert (adv - x).abs().max() <= eps + 1e-7


def test_attack_stays_in_image_range():
    model, _ = _linear()
    x = torch.rand(3, 3, 8, 8, generator=torch.Generator().manual_seed(2))
    adv = pgd(model, x, torch.tensor([0, 1, 0]), 0.3, 5, 0.1)
    assert adv.min() >= 0 and adv.max() <= 1


def test_attack_config_rejects_bad_values():
    for kw in ({"eps": -1}, {"eps": 1, "steps": 0}, {"eps": 1, "step_size": 0}):
        with pytest.raises(ValueError, match="eps|steps|step size"):
            AttackConfig(**kw)


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
