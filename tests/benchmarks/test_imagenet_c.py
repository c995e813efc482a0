"""The imagenet-c protocol: Hendrycks' generator (imagenet-c 0.0.3, the functions that made the released
ImageNet-C) as the reference backend, the fast backend equal to it pixel for pixel (ImageMagick's
motion blur reproduced), which corruptions the two protocols share, and the protocol kept per cell."""
import hashlib
import json
from io import BytesIO

import numpy as np
import pytest
import torch
from PIL import Image
from torchvision import transforms as T

from pit_eval import corruptions as C
from pit_eval.corruptions import torch_backend, compat, fast_imagenet_c
from pit_eval.corruptions.names import PROTOCOL_SPECIFIC
from pit_eval.engine import EngineConfig
from pit_eval.images import SAMPLE_ROOT, DataError, load_rgb, sample_photographs
from pit_eval.robustness import RobustnessConfig, RobustnessRun

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

IC, ICOR = C.IMAGENET_C, C.IMAGECORRUPTIONS


@pytest.fixture(scope="module")
def images():
    """The sample photographs' ImageNet-C crops and two random 224 images."""
    prepare = T.Compose([T.Resize(256), T.CenterCrop(224)])
    photos = [np.asarray(prepare(load_rgb(p))) for p in sample_photographs()]
    rs = np.random.RandomState(3)
    return photos + [rs.randint(0, 256, (224, 224, 3)).astype(np.uint8) for _ in range(2)]


def test_imagemagick_is_installed():
    """The reference backend's motion_blur and snow need it (scripts/setup.sh installs it)."""
    assert compat.magickwand_version() is not None, compat.MAGICKWAND_MISSING


@pytest.mark.parametrize("name", C.GROUPS["all"])
def test_fast_equals_the_generator_every_severity(name, images):
    """Bit-identical to Hendrycks' generator for every corruption and severity, on photographs and
    random images (the generator's glass_blur takes ~0.6 s an image: three images for it)."""
    subset = images[:2] + images[-1:] if name == "glass_blur" else images
    for s in C.SEVERITIES:
        for i, img in enumerate(subset):
            ref = C.corrupt_image(img, name, s, seed_value=100 * i + s, backend="reference", protocol=IC)
            fast = C.corrupt_image(img, name, s, seed_value=100 * i + s, backend="fast", protocol=IC)
            assert np.array_equal(ref, fast), (name, s, i)


@pytest.mark.parametrize("angle", [0.0, 45.0, -45.0, 90.0, -90.0, -135.0, 12.345, -61.8, 179.0])
def test_motion_blur_equals_imagemagick_at_any_angle(angle, images):
    """The reproduction against ImageMagick itself (through the generator's own Wand call) for every
    severity's radius and sigma, on RGB and on a one-channel layer (snow's)."""
    corr = compat.apply_imagenet_c()
    for radius, sigma in C.fast.MOTION + [(12, 4), (12, 12)]:
        for img in (images[0], images[-1][..., :1]):
            buf = BytesIO()
            Image.fromarray(img.squeeze(-1) if img.shape[-1] == 1 else img).save(buf, format="PNG")
            wand = corr.MotionImage(blob=buf.getvalue())
            wand.motion_blur(radius=radius, sigma=sigma, angle=angle)
            import cv2
            ref = cv2.imdecode(np.frombuffer(wand.make_blob(), np.uint8), cv2.IMREAD_UNCHANGED)
            ref = ref[..., None] if ref.ndim == 2 else ref[..., [2, 1, 0]]
            ours = fast_imagenet_c.magick_motion_blur(img, radius, sigma, angle)
            assert np.array_equal(ours, ref), (angle, radius, sigma, img.shape)


def test_the_protocols_share_every_corruption_but_six(images):
    """At 224x224 the two generators compute the same pixels from the same seed for 13 corruptions at
    every severity (so the fast and torch backends serve both with one implementation); impulse_noise,
    motion_blur, snow, frost and elastic_transform differ, elastic_transform most, and spatter at
    severities 4-5 only (its mud colour rounded to float32 by one generator, not the other)."""
    diff = {}
    for name in C.GROUPS["all"]:
        for s in C.SEVERITIES:
            d = [np.abs(C.corrupt_image(img, name, s, seed_value=s, protocol=IC).astype(int)
                        - C.corrupt_image(img, name, s, seed_value=s, protocol=ICOR)).mean() for img in images[:3]]
            diff[name, s] = float(np.mean(d))
    assert {n for (n, s), d in diff.items() if d > 0} == set(PROTOCOL_SPECIFIC)
    assert {s for (n, s), d in diff.items() if d > 0 and n == "spatter"} == {4, 5}
    mean = {n: np.mean([diff[n, s] for s in C.SEVERITIES]) for n in PROTOCOL_SPECIFIC}
    assert mean["elastic_transform"] > 5 and mean["frost"] > 5 and mean["impulse_noise"] > 5
    assert 0 < mean["motion_blur"] < 0.1 and 0 < mean["spatter"] < 0.01


def test_impulse_noise_draws_as_scikit_image_0_18():
    """skimage 0.13-0.18's s&p noise (the ImageNet-C era's): np.random.choice for which values flip,
    then for salt vs pepper, from the global state — restated here from its source."""
    img = np.random.RandomState(0).randint(0, 256, (224, 224, 3)).astype(np.uint8)
    amount = [.03, .06, .09, 0.17, 0.27][3]
    np.random.seed(42)
    flipped = np.random.choice([True, False], size=img.shape, p=[amount, 1 - amount])
    salted = np.random.choice([True, False], size=img.shape, p=[0.5, 0.5])
    x = img / 255.
    x[flipped & salted], x[flipped & ~salted] = 1, 0
    expect = np.uint8(np.clip(x, 0, 1) * 255)
    got = C.corrupt_image(img, "impulse_noise", 4, seed_value=42, backend="reference", protocol=IC)
    assert np.array_equal(got, expect)
    assert abs(flipped.mean() - amount) < 0.005


def test_frost_textures_are_the_generators_and_cropped_unscaled():
    """imagecorruptions ships byte-identical copies of the generator's six textures (git blob ids of
    hendrycks/robustness); the generator crops its 224 window from the texture as it is."""
    for name, blob in compat.FROST_BLOBS.items():
        data = compat.frost_file(name).read_bytes()
        assert hashlib.sha1(b"blob %d\0" % len(data) + data).hexdigest() == blob, name
    import cv2
    img = np.full((224, 224, 3), 100, np.uint8)
    np.random.seed(5)
    idx = np.random.randint(5)
    tex = cv2.imread(str(compat.frost_file(C.fast.FROST_FILES[idx])))
    top, left = np.random.randint(0, tex.shape[0] - 224), np.random.randint(0, tex.shape[1] - 224)
    expect = np.uint8(np.clip(0.7 * img + 0.7 * tex[top:top + 224, left:left + 224][..., [2, 1, 0]], 0, 255))
    assert np.array_equal(C.corrupt_image(img, "frost", 3, seed_value=5, protocol=IC), expect)


def test_other_sizes_are_refused_under_imagenet_c():
    msg = ("the imagenet-c protocol renders 224x224 images (Hendrycks' generator hard-codes the size; the "
           "on-the-fly pipeline makes them with Resize(256) and CenterCrop(224)); got 64x80. For other sizes "
           "use --corruption-protocol imagecorruptions")
    for backend in ("reference", "fast", "torch"):
        with pytest.raises(ValueError) as e:
            C.corrupt_image(np.zeros((64, 80, 3), np.uint8), "fog", 1, seed_value=0, backend=backend, protocol=IC)
        assert str(e.value) == msg, backend
    assert C.corrupt_image(np.zeros((64, 80, 3), np.uint8), "fog", 1, seed_value=0).shape == (64, 80, 3)


def test_without_imagemagick(monkeypatch, tmp_path):
    """Without the MagickWand library the generator still imports (stand-ins), its two ImageMagick
    corruptions say what to install, the fast backend needs none of it, and a reference-backend run
    that would call it stops before any work."""
    stand_ins = compat._wand_stand_ins()
    with pytest.raises(RuntimeError) as e:
        stand_ins["wand.image"].Image(blob=b"")
    assert str(e.value) == compat.MAGICKWAND_MISSING and "apt-get install libmagickwand-6.q16-6" in str(e.value)
    corr = compat.apply_imagenet_c()
    monkeypatch.setattr(corr, "MotionImage", stand_ins["wand.image"].Image)
    img = np.zeros((224, 224, 3), np.uint8)
    with pytest.raises(RuntimeError, match="MagickWand library is not installed"):
        C.corrupt_image(img, "snow", 1, seed_value=0, backend="reference", protocol=IC)
    assert C.corrupt_image(img, "snow", 1, seed_value=0, backend="fast", protocol=IC).shape == img.shape
    monkeypatch.setattr(compat, "magickwand_version", lambda: None)
    cfg = RobustnessConfig(model="pit_ti", weights="none", out=str(tmp_path / "r"), benchmarks=("imagenet-c",),
                           corruptions=("fog", "motion_blur"), severities=(1,), corruption_backend="reference",
                           engine=EngineConfig(batch_size=2, workers=0, quiet=True))
    with pytest.raises(DataError) as e:
        RobustnessRun(cfg).run()
    assert str(e.value) == compat.MAGICKWAND_MISSING
    assert not (tmp_path / "r" / "cells.jsonl").exists()


def test_torch_backend_under_imagenet_c(images):
    """impulse_noise and frost take the generator's draws; the cells it renders meet the thresholds
    against the imagenet-c exact backend; motion_blur, snow and elastic_transform go to the exact one."""
    photos = images[:5]
    for name in sorted(torch_backend.TORCH):
        if not torch_backend.supports(name, 1, IC):
            assert torch_backend.render_backend("torch", name, 1, IC) == "fast"
            continue
        for s in (1, 5):
            st = torch_backend.pixel_differences(photos, name, s, [13 * i + s for i in range(len(photos))], protocol=IC)
            assert torch_backend.meets_thresholds(st), (name, s)
    assert sorted(n for n in torch_backend.TORCH if not torch_backend.supports(n, 1, IC)) == [
        "elastic_transform", "motion_blur", "snow"]
    with pytest.raises(ValueError, match=r"^the torch backend does not render snow/2 under the imagenet-c "
                                         r"protocol \(its layer goes through ImageMagick's motion blur\)"):
        torch_backend.corrupt_batch(torch.zeros(1, 224, 224, 3, dtype=torch.uint8), "snow", 2, [0], IC)


def _cells(path):
    return {c["key"]: c for c in map(json.loads, open(path / "cells.jsonl"))}


def test_protocol_in_every_cell_and_never_mixed_on_resume(tmp_path):
    """Each on-the-fly cell's data fingerprint names its protocol; resuming a directory under the other
    protocol stops before any work, naming both; the same protocol resumes with nothing recomputed; a
    directory written before the protocols (sources without one) resumes as imagecorruptions."""
    out = tmp_path / "r"

    def run(protocol, **kw):
        cfg = RobustnessConfig(model="pit_ti", weights="none", out=str(out), benchmarks=("imagenet-c",),
                               corruptions=("elastic_transform",), severities=(1,), corruption_protocol=protocol,
                               engine=EngineConfig(batch_size=2, workers=0, quiet=True), **kw)
        return RobustnessRun(cfg).run()["summary"]

    run(ICOR)
    cell = _cells(out)["imagenet-c/elastic_transform/1"]
    assert cell["data"]["source"] == "on-the-fly:imagecorruptions:fast:seed=0"
    with pytest.raises(DataError) as e:
        run(IC)
    assert str(e.value) == (
        f"cell imagenet-c/elastic_transform/1 in {out} was rendered under the imagecorruptions protocol and "
        "this run renders imagenet-c; cells of the two are never mixed: resume with --corruption-protocol "
        "imagecorruptions, or use another --out (or --force to recompute the directory's cells)")
    lines = open(out / "cells.jsonl").read()
    legacy = lines.replace("on-the-fly:imagecorruptions:fast:seed=0", "on-the-fly:fast:seed=0")
    (out / "cells.jsonl").write_text(legacy)
    s = run(ICOR)
    assert open(out / "cells.jsonl").read() == legacy  # nothing recomputed
    assert s["benchmarks"]["imagenet-c"]["corruption_protocol"] == "imagecorruptions, on the fly"
    assert s["benchmarks"]["imagenet-c"]["sources"] == ["on-the-fly:imagecorruptions:fast:seed=0"]
    assert (out / "summary.csv").read_text().splitlines()[1].endswith(",on-the-fly:imagecorruptions:fast:seed=0")


@pytest.mark.parametrize("sigma", [244 * 0.7, 244 * 0.08, 244 * 0.01, 0.7])
def test_compiled_gaussian_equals_scipy(sigma):
    """The elastic displacement fields' Gaussian, bit for bit, including kernels several times longer
    than the image (the 'reflect' extension folds back more than once) and non-square arrays."""
    from scipy.ndimage import gaussian_filter
    rs = np.random.RandomState(int(sigma * 10))
    for shape in ((224, 224), (37, 90)):
        a = rs.uniform(-1, 1, size=shape)
        assert np.array_equal(fast_imagenet_c.gaussian_reflect(a, sigma, 3),
                              gaussian_filter(a, sigma, mode="reflect", truncate=3)), shape


def test_fast_backend_needs_neither_the_generator_nor_imagemagick():
    """With Hendrycks' package and Wand unimportable, the fast backend still renders every corruption
    under the imagenet-c protocol; the reference backend names what to install."""
    import subprocess
    import sys
    code = (
        "import sys\n"
        "for m in ('imagenet_c', 'imagenet_c.corruptions', 'wand', 'wand.image', 'wand.api'): sys.modules[m] = None\n"
        "import numpy as np\n"
        "from pit_eval import corruptions as C\n"
        "img = np.random.RandomState(0).randint(0, 256, (224, 224, 3)).astype(np.uint8)\n"
        "for name in C.GROUPS['all']:\n"
        "    C.corrupt_image(img, name, 4, seed_value=1, protocol='imagenet-c')\n"
        "try:\n"
        "    C.corrupt_image(img, 'fog', 1, seed_value=1, backend='reference', protocol='imagenet-c')\n"
        "except ImportError as e:\n"
        "    print(e)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.strip() == ("the imagenet-c protocol needs Hendrycks' package: pip install --no-deps "
                                  "imagenet-c==0.0.3 wand==0.7.2 (scripts/setup.sh does)")
