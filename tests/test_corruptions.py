import numpy as np
import pytest
import torch
from PIL import Image
from torch.utils.data import DataLoader

from pit_eval import corruptions as C
from pit_eval.images import SAMPLE_ROOT, EvalTransform, ImageList
from pit_eval.datasets import scan_class_folders, imagenet_wnids

pytestmark = pytest.mark.core   # the core install proves it too (make core-test)

ALL = C.GROUPS["all"]


def _img(h, w, seed=0, gray=False):
    rs = np.random.RandomState(seed)
    return (rs.rand(h, w) if gray else rs.rand(h, w, 3)).__mul__(255).astype(np.uint8)


@pytest.mark.parametrize("name", ALL)
def test_every_corruption_every_severity_runs_and_is_reproducible(name):
    img = _img(48, 64)
    for s in C.SEVERITIES:
        a = C.corrupt_image(img, name, s, seed_value=7, backend="reference")
        b = C.corrupt_image(img, name, s, seed_value=7, backend="reference")
        assert a.dtype == np.uint8 and a.shape == img.shape, (name, s, a.shape)
        assert np.array_equal(a, b), f"{name}/{s} not reproducible from the seed"
        f = C.corrupt_image(img, name, s, seed_value=7, backend="fast")
        assert np.array_equal(a, f), f"{name}/{s}: fast backend differs from reference"


@pytest.mark.parametrize("name", ["gaussian_noise", "impulse_noise", "glass_blur", "frost", "snow"])
def test_different_seeds_give_different_pixels(name):
    img = _img(64, 64)
    a = C.corrupt_image(img, name, 3, seed_value=1, backend="reference")
    b = C.corrupt_image(img, name, 3, seed_value=2, backend="reference")
    assert not np.array_equal(a, b), f"{name}: seed has no effect"


FAST_OWN = sorted(C.fast.FAST)  # the corruptions the exact backend computes itself


@pytest.mark.parametrize("name", FAST_OWN)
@pytest.mark.parametrize("shape", [(224, 224), (224, 224, 3), (97, 131, 3), (300, 451, 3)])
def test_fast_backend_is_bit_exact(name, shape):
    img = _img(*shape[:2], seed=3, gray=len(shape) == 2)
    for s in C.SEVERITIES if shape[0] <= 224 else (1, 5):
        ref = C.corrupt_image(img, name, s, seed_value=11, backend="reference")
        fast = C.corrupt_image(img, name, s, seed_value=11, backend="fast")
        assert np.array_equal(ref, fast), f"{name}/{s} at {shape}: max diff " \
            f"{np.abs(ref.astype(int) - fast.astype(int)).max()}"


def test_compiled_zoom_and_map_coordinates_equal_scipy_bit_for_bit():
    """The exact backend's order-1 kernels against scipy.ndimage on random arrays, float32 and float64,
    odd sizes, 1 x 1 arrays, zoom_blur's and snow's factors, and coordinates far outside the array."""
    from scipy.ndimage import map_coordinates, zoom
    rs = np.random.RandomState(0)
    sizes = [(224, 224), (97, 131), (2, 3), (1, 1), (1, 9)]
    for k, (h, w) in enumerate(sizes):
        for dtype in (np.float32, np.float64):
            a = rs.rand(h, w, 3).astype(dtype)
            for f in (1.0, 1.01, 1.06, 1.13, 1.27, 2.5, 4.5):
                ref = np.stack([zoom(a[..., c], (f, f), order=1) for c in range(3)], -1)
                ours = C.fast._zoom2d(a, *ref.shape[:2])
                assert ours.dtype == ref.dtype and np.array_equal(ours, ref), (h, w, dtype, f)
            span = 3 + 40 * k
            ys, xs = rs.uniform(-span, h + span, (h + 5, w + 5)), rs.uniform(-span, w + span, (h + 5, w + 5))
            ys[0, :4], xs[0, :4] = [-1, 0, h - 1, h], [w, -1, w - 1, 0]
            ref = np.stack([map_coordinates(a[..., c], (ys.ravel(), xs.ravel()), order=1, mode="reflect")
                            .reshape(ys.shape) for c in range(3)], -1)
            ours = C.fast._map_coordinates_reflect(a, ys, xs)
            assert ours.dtype == ref.dtype and np.array_equal(ours, ref), (h, w, dtype)


@pytest.mark.parametrize("name", ["brightness", "saturate"])
def test_hsv_kernel_equals_scikit_image_on_a_grid_of_colours(name):
    """Every RGB triple on a step-3 grid (636,056 colours: greys, ties between channels, black,
    white, the extremes of each hue sextant) at every severity. (The whole 2**24 cube was checked once
    by hand when the kernel was written; it takes minutes.)"""
    v = np.arange(0, 256, 3, dtype=np.uint8)
    grid = np.stack(np.meshgrid(v, v, v, indexing="ij"), -1).reshape(-1, 3)
    img = grid[:len(grid) // 256 * 256].reshape(-1, 256, 3)
    for s in C.SEVERITIES:
        ref = C.corrupt_image(img, name, s, seed_value=0, backend="reference")
        assert np.array_equal(ref, C.corrupt_image(img, name, s, seed_value=0, backend="fast")), (name, s)


@pytest.mark.parametrize("name", FAST_OWN + ["frost", "spatter"])
def test_fast_backend_on_sample_photo(name):
    img = np.asarray(Image.open(SAMPLE_ROOT / "imagenet/val/n02123045/chelsea.JPEG").convert("RGB"))
    ref = C.corrupt_image(img, name, 4, seed_value=5, backend="reference")
    assert np.array_equal(ref, C.corrupt_image(img, name, 4, seed_value=5, backend="fast")), name


def test_global_rng_state_is_restored():
    np.random.seed(123)
    expected = np.random.rand()
    np.random.seed(123)
    C.corrupt_image(_img(32, 32), "gaussian_noise", 1, seed_value=9)
    assert np.random.rand() == expected


def test_parse_corruptions_and_severities():
    assert C.parse_corruptions("blur,fog") == ["defocus_blur", "glass_blur", "motion_blur", "zoom_blur", "fog"]
    assert len(C.parse_corruptions("all")) == 19 and C.parse_corruptions("extra") == list(C.EXTRA)
    with pytest.raises(ValueError, match="Did you mean 'gaussian_noise'"):
        C.parse_corruptions("gausian_noise")
    assert C.parse_severities("5,3,3") == [3, 5]
    for bad in ("0", "6", "x"):
        with pytest.raises(ValueError, match="severit"):
            C.parse_severities(bad)
    with pytest.raises(KeyError, match="Did you mean 'fast'"):
        C.CorruptedImageNet(None, "fog", 1, backend="fastt")


def _clean():
    root = SAMPLE_ROOT / "imagenet/val"
    return ImageList(scan_class_folders(root, imagenet_wnids(), "imagenet", "--imagenet"),
                     EvalTransform().full(), root=str(root))


def test_on_the_fly_render_follows_protocol():
    """Resize(256) -> CenterCrop(224) -> corrupt with Hendrycks' generator (the default protocol) ->
    JPEG q85; imagecorruptions' elastic_transform is another image."""
    ds = C.CorruptedImageNet(_clean(), "elastic_transform", 2, seed=0, backend="fast")
    img, label = ds[0]
    assert img.shape == (3, 224, 224) and img.dtype == torch.uint8 and label == ds.base.samples[0][1]
    clean = np.asarray(ds.prepare(ds.base.load(0)))
    seed = C.render_seed(0, ds.base.key(0), "elastic_transform", 2)
    expect = C.jpeg_round_trip(C.corrupt_image(clean, "elastic_transform", 2, seed_value=seed, backend="reference",
                                               protocol="imagenet-c"), 85)
    assert torch.equal(img, torch.from_numpy(np.array(expect)).permute(2, 0, 1))
    other = C.CorruptedImageNet(_clean(), "elastic_transform", 2, seed=0, protocol="imagecorruptions")[0][0]
    assert (img.int() - other.int()).abs().float().mean() > 5


def test_on_the_fly_identical_for_0_and_2_workers():
    ds = C.CorruptedImageNet(_clean(), "gaussian_noise", 3, seed=4)
    def batches(w):
        return [b[0] for b in DataLoader(ds, batch_size=2, num_workers=w)]
    a, b = batches(0), batches(2)
    assert all(torch.equal(x, y) for x, y in zip(a, b)) and len(a) == len(b) == 3
