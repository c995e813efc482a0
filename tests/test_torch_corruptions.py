"""The torch corruption backend: every cell it renders is held to torch_backend.THRESHOLDS against the
exact backend on real photographs, the cells it cannot render are refused / handed to the exact
backend, and ImageNet-C through the runner gives the exact backend's predictions."""
import json

import numpy as np
import pytest
import torch

from pit_eval import corruptions as C
from pit_eval.corruptions import torch_backend
from pit_eval.engine import EngineConfig
from pit_eval.images import SAMPLE_ROOT, load_rgb, sample_photographs
from pit_eval.robustness import RobustnessConfig, RobustnessRun
from torchvision import transforms as T


@pytest.fixture(scope="module")
def photos():
    prepare = T.Compose([T.Resize(256), T.CenterCrop(224)])
    return [np.asarray(prepare(load_rgb(p))) for p in sample_photographs()]


@pytest.mark.parametrize("name", sorted(torch_backend.TORCH))
def test_torch_backend_meets_thresholds_on_photographs(name, photos):
    for s in C.SEVERITIES:
        st = torch_backend.pixel_differences(photos, name, s, [31 * i + s for i in range(len(photos))])
        assert torch_backend.meets_thresholds(st), (name, s, {k: st[k] for k in torch_backend.THRESHOLDS})


def test_thresholds_reject_a_real_approximation(photos):
    """The thresholds are not vacuous: zoom_blur with F.interpolate's default pixel-area alignment
    (align_corners=False, half a pixel off scipy's grid; an easy mistake) is refused."""
    st = torch_backend.pixel_differences(photos, "zoom_blur", 5, [1] * len(photos))
    x = torch.from_numpy(np.stack(photos)).permute(0, 3, 1, 2).float() / 255.
    out = torch.zeros_like(x)
    for f in C.fast.ZOOM_FACTORS[4]:
        h0 = int(np.ceil(224 / f))
        t = (224 - h0) // 2
        crop = x[:, :, t:t + h0, t:t + h0]
        out += torch.nn.functional.interpolate(crop, size=int(round(h0 * f)), mode="bilinear",
                                               align_corners=False)[:, :, :224, :224]
    approx = (torch.clip((x + out) / (len(C.fast.ZOOM_FACTORS[4]) + 1), 0, 1) * 255).to(torch.uint8)
    d = np.abs(st["exact"].astype(int) - approx.permute(0, 2, 3, 1).numpy().astype(int))
    assert not torch_backend.meets_thresholds({"max_abs": d.max(), "mean_abs": d.mean(), "share_over_1": (d > 1).mean()})


def test_unsupported_cells_are_refused_and_handed_to_exact():
    img = torch.zeros(1, 64, 64, 3, dtype=torch.uint8)
    with pytest.raises(ValueError, match=r"^the torch backend does not render shot_noise/2 under the imagecorruptions "
                                         r"protocol \(its Poisson draws depend on the pixel values\); render it "
                                         r"with the exact backend$"):
        torch_backend.corrupt_batch(img, "shot_noise", 2, [0])
    assert set(torch_backend.TORCH) | set(torch_backend.EXACT_ONLY) == set(C.GROUPS["all"])
    assert torch_backend.render_backend("torch", "pixelate", 1) == "fast"
    assert torch_backend.render_backend("torch", "fog", 1) == "torch"
    with pytest.raises(ValueError, match="does not render spatter/1"):
        C.CorruptedImageNet(None, "spatter", 1, backend="torch")


def test_per_image_torch_backend_equals_the_batch(photos):
    """corrupt_image(backend='torch') (COCO-C's per-image path) draws from the state it is given, as
    the batch does from each image's seed; unsupported corruptions come out exact."""
    for name in ("snow", "glass_blur", "elastic_transform"):
        one = C.corrupt_image(photos[0], name, 3, seed_value=99, backend="torch")
        batch = torch_backend.corrupt_batch(torch.from_numpy(photos[0][None]), name, 3, [99])[0].numpy()
        assert np.array_equal(one, batch), name
    assert np.array_equal(C.corrupt_image(photos[1], "spatter", 2, seed_value=5, backend="torch"),
                          C.corrupt_image(photos[1], "spatter", 2, seed_value=5, backend="fast"))


@pytest.mark.parametrize("protocol", ["imagenet-c", "imagecorruptions"])
def test_imagenet_c_through_the_runner_matches_the_exact_backend(tmp_path, protocol):
    """All 19 corruptions at severity 3 on the sample set, under either protocol: the torch run's cells
    record their protocol and renderer, and every cell's predictions equal the exact backend's
    (prediction fingerprints)."""
    def run(backend):
        cfg = RobustnessConfig(model="pit_ti", weights="none", out=str(tmp_path / backend), benchmarks=("imagenet-c",),
                               corruptions="all", severities="3", corruption_backend=backend,
                               corruption_protocol=protocol,
                               engine=EngineConfig(device="cpu", batch_size=4, workers=0, quiet=True))
        r = RobustnessRun(cfg)
        r.run()
        return {c["key"]: c for c in map(json.loads, open(tmp_path / backend / "cells.jsonl"))}, r
    exact, _ = run("fast")
    torch_cells, r = run("torch")
    for key, c in torch_cells.items():
        name = key.split("/")[1]
        renderer = "torch" if torch_backend.supports(name, 3, protocol) else "fast"
        assert c["data"]["source"] == f"on-the-fly:{protocol}:{renderer}:seed=0", key
        assert c["pred_fingerprint"] == exact[key]["pred_fingerprint"] and c["n"] == exact[key]["n"] == 6, key
    flags = json.load(open(tmp_path / "torch" / "summary.json"))["flags"]
    n_torch = {"imagecorruptions": 15, "imagenet-c": 12}[protocol]
    assert any(f.startswith(f"ImageNet-C: {n_torch} of 19 cells rendered by the torch corruption backend") for f in flags)
