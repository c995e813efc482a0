"""The ``torch`` corruption backend: the corruptions as batched tensor operations on the evaluation
device (CUDA on a GPU box, the CPU here), under either protocol.

Random numbers come from the same seeded ``np.random`` stream as the exact backend: per image,
:func:`draw` seeds numpy with the image's render seed and makes the reference's calls in the
reference's order (they depend only on the image's shape). Only those draws are made on the CPU; the
arithmetic runs on the device in float64, following the reference operation by operation, so the
differences are numerical only (the table in the README is measured by
``scripts/validate_torch_corruptions.py``; :data:`THRESHOLDS` is enforced by the tests).

Exceptions, said where they happen:

* glass_blur: its pixel copies are a sequential chain (a copy may read a pixel copied a moment
  before); they run on the CPU with the exact backend's compiled loop between the two device blurs.
* frost: the texture crop is read from the exact backend's decoded textures (data, not compute).
* fog: the plasma fractal is the random stream itself (diamond-square on 256 x 256); it is drawn on
  the CPU with the reference's function.
* shot_noise (Poisson draws depend on the pixel values), pixelate and jpeg_compression (PIL's
  fixed-point resampling and codec) and spatter (thresholded masks, cv2 morphology) are not rendered
  here: :func:`supports` says no and the caller renders them with the exact backend.

Under the ``imagenet-c`` protocol the arithmetic of every corruption rendered here is the same as under
imagecorruptions at 224x224 (tests/benchmarks/test_imagenet_c.py); impulse_noise and frost take that
generator's draws (:data:`IMAGENET_C_DRAWS`), and motion_blur, snow and elastic_transform, which differ,
go to the exact backend (:data:`IMAGENET_C_EXACT_ONLY`). Cells are validated against the exact
backend of the same protocol.
"""
from __future__ import annotations

from typing import Dict, List, Sequence

import numpy as np
import torch

from . import compat, fast, fast_imagenet_c
from .backends import BACKENDS, check_size, corrupt_image, rgb3
from .names import IMAGECORRUPTIONS, IMAGENET_C

#: Validation thresholds per (corruption, severity) cell, torch vs exact backend on real photographs
#: (before the JPEG round trip): the largest absolute difference in levels, the share of pixels that
#: differ by more than one level, and the mean absolute difference in levels.
THRESHOLDS = {"max_abs": 2, "share_over_1": 1e-4, "mean_abs": 0.01}


def _gaussian_weights(sigma: float, truncate: float) -> np.ndarray:
    """scipy.ndimage's Gaussian taps (radius ``int(truncate * sigma + 0.5)``, normalised to sum 1)."""
    radius = int(truncate * float(sigma) + 0.5)
    x = np.arange(-radius, radius + 1)
    phi = np.exp(-0.5 / (sigma * sigma) * x ** 2)
    return phi / phi.sum()


def _reflect_index(i: torch.Tensor, n: int) -> torch.Tensor:
    """scipy.ndimage's 'reflect' (half-sample symmetric) index: d c b a | a b c d | d c b a."""
    i = torch.remainder(i, 2 * n)
    return torch.where(i >= n, 2 * n - 1 - i, i)


def _index(n: int, radius: int, mode: str, device) -> torch.Tensor:
    """Source indices of positions -radius .. n - 1 + radius under a scipy.ndimage boundary mode."""
    i = torch.arange(-radius, n + radius, device=device)
    if mode == "nearest":
        return i.clamp(0, n - 1)
    if mode == "reflect":
        return _reflect_index(i, n)
    if mode == "mirror":  # d c b | a b c d | c b a  (cv2's BORDER_REFLECT_101)
        period = max(2 * n - 2, 1)
        i = torch.remainder(i, period)
        return torch.where(i >= n, period - i, i)
    raise ValueError(f"unknown boundary mode {mode!r}")


def _correlate1d(x: torch.Tensor, weights: np.ndarray, dim: int, mode: str) -> torch.Tensor:
    r = len(weights) // 2
    n = x.shape[dim]
    padded = x.index_select(dim, _index(n, r, mode, x.device))
    out = torch.zeros_like(x)
    for k, w in enumerate(weights.tolist()):
        out = out + w * padded.narrow(dim, k, n)
    return out


def _gaussian(x: torch.Tensor, sigma, mode: str = "nearest", truncate: float = 4.0) -> torch.Tensor:
    """skimage.filters.gaussian / scipy.ndimage.gaussian_filter over the two spatial axes of a
    (B, H, W[, C]) tensor (the channel axis is not blurred)."""
    sy, sx = (sigma, sigma) if np.isscalar(sigma) else sigma
    x = _correlate1d(x, _gaussian_weights(sy, truncate), 1, mode)
    return _correlate1d(x, _gaussian_weights(sx, truncate), 2, mode)


def _bilinear(a: torch.Tensor, b, y0, y1, wy0, x0, x1, wx0) -> torch.Tensor:
    """scipy.ndimage's order-1 sum ``(a[y, x] * w_y) * w_x`` over the four taps in its order."""
    wy1, wx1 = 1.0 - wy0, 1.0 - wx0
    t = (a[b, y0, x0] * wy0[..., None]) * wx0[..., None]
    t = t + (a[b, y0, x1] * wy0[..., None]) * wx1[..., None]
    t = t + (a[b, y1, x0] * wy1[..., None]) * wx0[..., None]
    return t + (a[b, y1, x1] * wy1[..., None]) * wx1[..., None]


def _zoom(a: torch.Tensor, n_h: int, n_w: int) -> torch.Tensor:
    """scipy.ndimage.zoom(order=1) of each channel of a (B, h, w, C) float64 tensor to (n_h, n_w)."""
    _, h, w, _ = a.shape
    dev = a.device

    def axis(n_in, n_out):
        start, w0, inside = (torch.from_numpy(v).to(dev) for v in fast._zoom_axis(n_in, n_out))
        second = torch.where(start + 1 < n_in, start + 1, (2 * n_in - 3 - start).clamp(min=0))
        return start, second, w0, inside

    y0, y1, wy0, in_y = axis(h, n_h)
    x0, x1, wx0, in_x = axis(w, n_w)
    b = torch.arange(a.shape[0], device=dev)[:, None, None]
    out = _bilinear(a, b, y0[:, None], y1[:, None], wy0[:, None].expand(n_h, n_w),
                    x0[None, :], x1[None, :], wx0[None, :].expand(n_h, n_w))
    return out * (in_y[:, None] & in_x[None, :])[..., None]


def _clipped_zoom(a: torch.Tensor, factor: float) -> torch.Tensor:
    (rows, cols), size = fast.clipped_zoom_window(a.shape[1], a.shape[2], factor)
    return _zoom(a[:, rows, cols], *size)


def _reflect_coordinate(c: torch.Tensor, n: int) -> torch.Tensor:
    """scipy.ndimage's 'reflect' mapping of coordinates outside [0, n - 1] (see fast._reflect)."""
    sz2 = 2 * n
    neg = torch.where(c < -sz2, sz2 * torch.trunc(-c / sz2) + c, c)
    neg = torch.where(neg < -n, neg + sz2, -neg - 1)
    over = c - sz2 * torch.trunc(c / sz2)
    over = torch.where(over >= n, sz2 - over - 1, over)
    return torch.where(c < 0, neg, torch.where(c > n - 1, over, c))


def _map_coordinates_reflect(a: torch.Tensor, ys: torch.Tensor, xs: torch.Tensor) -> torch.Tensor:
    """map_coordinates(order=1, mode='reflect') of each image and channel of (B, h, w, C) at
    per-image (B, H, W) float64 coordinates."""
    _, h, w, _ = a.shape
    cy, cx = _reflect_coordinate(ys, h), _reflect_coordinate(xs, w)
    fy, fx = torch.floor(cy), torch.floor(cx)
    y0, x0 = fy.long(), fx.long()
    b = torch.arange(a.shape[0], device=a.device)[:, None, None]
    return _bilinear(a.double(), b, _reflect_index(y0, h), _reflect_index(y0 + 1, h), 1.0 - (cy - fy),
                     _reflect_index(x0, w), _reflect_index(x0 + 1, w), 1.0 - (cx - fx)).to(a.dtype)


def _translate_sum(x: torch.Tensor, terms: List[tuple]) -> torch.Tensor:
    """Per image: sum_i k_i * x[clamp(h - dy_i), clamp(w - dx_i)], added in the reference's order
    (images with fewer terms are padded with weight 0, which adds exactly 0)."""
    n_b, h, w, _ = x.shape
    n = max(len(k) for k, _, _ in terms)
    pad = [np.pad(v, (0, n - len(v))) for t in terms for v in t]
    k, dy, dx = (torch.from_numpy(np.stack(pad[j::3])).to(x.device) for j in range(3))
    b = torch.arange(n_b, device=x.device)[:, None, None]
    rows, cols = torch.arange(h, device=x.device), torch.arange(w, device=x.device)
    out = torch.zeros_like(x)
    for i in range(n):
        r = (rows[None, :] - dy[:, i:i + 1]).clamp(0, h - 1)
        c = (cols[None, :] - dx[:, i:i + 1]).clamp(0, w - 1)
        out = out + k[:, i, None, None, None] * x[b, r[:, :, None], c[:, None, :]]
    return out


# ----------------------------------------------------------------------------------------- draws
# Each takes (severity, (H, W)) with np.random seeded, and makes the reference's calls in its order.

NOISE = {"gaussian_noise": [.08, .12, 0.18, 0.26, 0.38], "speckle_noise": [.15, .2, 0.35, 0.45, 0.6]}
IMPULSE = fast_imagenet_c.IMPULSE  # the same amounts in both generators


def _draw_normal(name):
    return lambda s, hw: {"noise": np.random.normal(size=(*hw, 3), scale=NOISE[name][s - 1])}


def _draw_impulse(s, hw):
    corr = compat.apply()  # the reference's call on a constant image: 1 = salt, 0 = pepper, 0.5 = kept
    return {"mask": corr.sk.util.random_noise(np.full((*hw, 3), 0.5), mode="s&p", amount=IMPULSE[s - 1])}


def _draw_glass(s, hw):
    _, delta, iterations = fast.GLASS_PARAMS[s - 1]
    n = len(range(hw[0] - delta, delta, -1)) * len(range(hw[1] - delta, delta, -1))
    return {"offsets": [np.random.randint(-delta, delta, size=(n, 2)) for _ in range(iterations)]}


def _draw_motion(s, hw):
    return {"angle": np.random.uniform(-45, 45)}


def _draw_snow(s, hw):
    c = fast.SNOW[s - 1]
    return {"layer": np.random.normal(size=hw, loc=c[0], scale=c[1]), "angle": np.random.uniform(-135, -45)}


def _draw_frost(s, hw):
    return {"texture": np.ascontiguousarray(fast.frost_texture(hw))}


def _draw_impulse_imagenet_c(s, hw):
    return {"mask": compat.salt_and_pepper(np.full((*hw, 3), 0.5), IMPULSE[s - 1])}


def _draw_frost_imagenet_c(s, hw):
    return {"texture": np.ascontiguousarray(fast_imagenet_c.frost_texture())}


#: the imagenet-c generator's draws where they differ from imagecorruptions'
IMAGENET_C_DRAWS = {"impulse_noise": _draw_impulse_imagenet_c, "frost": _draw_frost_imagenet_c}

FOG = [(1.5, 2), (2., 2), (2.5, 1.7), (2.5, 1.5), (3., 1.4)]


def _draw_fog(s, hw):
    corr = compat.apply()
    size = corr.next_power_of_2(int(max(*hw, 3)))
    return {"plasma": corr.plasma_fractal(mapsize=size, wibbledecay=FOG[s - 1][1])[:hw[0], :hw[1]]}


def _draw_elastic(s, hw):
    max_d = hw[0] * 0.005
    return {"dx": np.random.uniform(-max_d, max_d, size=hw), "dy": np.random.uniform(-max_d, max_d, size=hw)}


def _draw_nothing(s, hw):
    return {}


# ---------------------------------------------------------------------------------------- renders
# Each takes (x: (B, H, W, 3) float64 in [0, 255], severity, stacked draws) and returns the
# reference's float result (before its final uint8 cast).

def _stack(draws: List[dict], key: str, device) -> torch.Tensor:
    return torch.from_numpy(np.stack([d[key] for d in draws])).to(device)


def _noise(name):
    def render(x, s, draws):
        n = _stack(draws, "noise", x.device)
        x = x / 255.
        return torch.clip(x + n if name == "gaussian_noise" else x + x * n, 0, 1) * 255
    return render


def _impulse(x, s, draws):
    m = _stack(draws, "mask", x.device)
    x = torch.where(m == 1.0, 1.0, torch.where(m == 0.0, 0.0, x / 255.))
    return torch.clip(x, 0, 1) * 255


GAUSSIAN_BLUR = [1, 2, 3, 4, 6]


def _gaussian_blur(x, s, draws):
    return torch.clip(_gaussian(x / 255., GAUSSIAN_BLUR[s - 1]), 0, 1) * 255


DEFOCUS = [(3, 0.1), (4, 0.5), (6, 0.5), (8, 0.5), (10, 0.5)]


def _defocus(x, s, draws):
    """cv2.filter2D (correlation, BORDER_REFLECT_101) with the reference's disk kernel, as a sum of
    shifted copies over the kernel's non-zero taps: memory stays one batch (an im2col convolution in
    float64 would need tens of GB at batch 64)."""
    kernel = compat.apply().disk(radius=DEFOCUS[s - 1][0], alias_blur=DEFOCUS[s - 1][1]).astype(np.float64)
    r = kernel.shape[0] // 2
    h, w = x.shape[1:3]
    padded = (x / 255.).index_select(1, _index(h, r, "mirror", x.device))
    padded = padded.index_select(2, _index(w, r, "mirror", x.device))
    out = torch.zeros_like(x)
    for ky, kx in zip(*np.nonzero(kernel)):
        out = out + kernel[ky, kx] * padded[:, ky:ky + h, kx:kx + w]
    return torch.clip(out, 0, 1) * 255


def _glass(x, s, draws):
    sigma, delta, _ = fast.GLASS_PARAMS[s - 1]
    img = (_gaussian(x / 255., sigma) * 255).to(torch.uint8).cpu().numpy()
    for i, d in enumerate(draws):  # sequential pixel copies: the exact compiled loop, on the CPU
        for offsets in d["offsets"]:
            fast._shuffle(img[i], offsets, delta)
    img = torch.from_numpy(img).to(x.device).double()
    return torch.clip(_gaussian(img / 255., sigma), 0, 1) * 255


def _motion(x, s, draws):
    radius, sigma = fast.MOTION[s - 1]
    terms = [fast.motion_terms(x.shape[1:], radius, sigma, d["angle"]) for d in draws]
    return torch.clip(_translate_sum(x, terms), 0, 255)


def _zoom_blur(x, s, draws):
    factors = fast.ZOOM_FACTORS[s - 1]
    x = (x / 255.).float()
    out = torch.zeros_like(x)
    for factor in factors:
        out = out + _clipped_zoom(x.double(), factor)[:, :x.shape[1], :x.shape[2]].float()
    x = (x + out) / (len(factors) + 1)
    return torch.clip(x, 0, 1) * 255


def _snow(x, s, draws):
    c = fast.SNOW[s - 1]
    x = (x.float() / 255.)
    layer = _clipped_zoom(_stack(draws, "layer", x.device)[..., None], c[2])
    layer = torch.clip(torch.where(layer < c[3], 0.0, layer), 0, 1)
    terms = [fast.motion_terms(layer.shape[1:], c[4], c[5], d["angle"]) for d in draws]
    layer = _translate_sum(layer, terms)
    layer = (torch.round(layer * 255).to(torch.uint8).double() / 255.)[:, :x.shape[1], :x.shape[2]]
    gray = (x[..., 0:1] * 0.299 + x[..., 1:2] * 0.587 + x[..., 2:3] * 0.114)  # cv2 RGB2GRAY, float32
    x = c[6] * x + (1 - c[6]) * torch.maximum(x, gray * 1.5 + 0.5)
    return torch.clip(x.double() + layer + torch.flip(layer, (1, 2)), 0, 1) * 255


def _frost(x, s, draws):
    c = fast.FROST[s - 1]
    return torch.clip(c[0] * x + c[1] * _stack(draws, "texture", x.device).double(), 0, 255)


def _fog(x, s, draws):
    c = FOG[s - 1]
    x = x / 255.
    max_val = x.amax(dim=(1, 2, 3), keepdim=True)
    x = x + c[0] * _stack(draws, "plasma", x.device)[..., None]
    return torch.clip(x * max_val / (max_val + c[0]), 0, 1) * 255


def _hsv_adjust(x, channel: int, scale: float, shift: float):
    """skimage's rgb2hsv -> clip(v * scale + shift) on one channel -> hsv2rgb, elementwise."""
    x = x / 255.
    r, g, b = x[..., 0], x[..., 1], x[..., 2]
    v = torch.maximum(torch.maximum(r, g), b)
    delta = v - torch.minimum(torch.minimum(r, g), b)
    flat = delta == 0.0
    d = torch.where(flat, 1.0, delta)
    s = torch.where(flat, 0.0, delta / torch.where(flat, 1.0, v))
    h = torch.where(r == v, (g - b) / d, torch.zeros_like(r))
    h = torch.where(g == v, 2.0 + (b - r) / d, h)
    h = torch.where(b == v, 4.0 + (r - g) / d, h)
    h = torch.where(flat, 0.0, torch.remainder(h / 6.0, 1.0))
    if channel == 1:
        s = torch.clip(s * scale + shift, 0.0, 1.0)
    else:
        v = torch.clip(v * scale + shift, 0.0, 1.0)
    hi = torch.floor(h * 6)
    f = h * 6 - hi
    p, q, t = v * (1 - s), v * (1 - f * s), v * (1 - (1 - f) * s)
    k = torch.remainder(hi.long(), 6)
    table = [(v, t, p), (q, v, p), (p, v, t), (p, q, v), (t, p, v), (v, p, q)]
    out = []
    for ch in range(3):
        o = table[5][ch]
        for j in range(4, -1, -1):
            o = torch.where(k == j, table[j][ch], o)
        out.append(o)
    return torch.clip(torch.stack(out, -1), 0.0, 1.0) * 255


def _brightness(x, s, draws):
    return _hsv_adjust(x, 2, 1.0, fast.BRIGHTNESS[s - 1])


def _saturate(x, s, draws):
    scale, shift = fast.SATURATE[s - 1]
    return _hsv_adjust(x, 1, float(scale), float(shift))


CONTRAST = [0.4, .3, .2, .1, .05]


def _contrast(x, s, draws):
    x = x / 255.
    means = x.mean(dim=(1, 2), keepdim=True)
    return torch.clip((x - means) * CONTRAST[s - 1] + means, 0, 1) * 255


def _elastic(x, s, draws):
    n_b, h, w, _ = x.shape
    alpha = fast.ELASTIC_ALPHA[s - 1]
    sigma = (h * 0.01, w * 0.01)
    img = (x.float() / 255.)
    dx = (_gaussian(_stack(draws, "dx", x.device), sigma, "reflect", 3) * alpha).float()
    dy = (_gaussian(_stack(draws, "dy", x.device), sigma, "reflect", 3) * alpha).float()
    rows = torch.arange(h, device=x.device, dtype=torch.float64)[None, :, None]
    cols = torch.arange(w, device=x.device, dtype=torch.float64)[None, None, :]
    out = _map_coordinates_reflect(img, rows + dy.double(), cols + dx.double())
    return torch.clip(out, 0, 1) * 255


#: corruption -> (draw, render)
TORCH: Dict[str, tuple] = {
    "gaussian_noise": (_draw_normal("gaussian_noise"), _noise("gaussian_noise")),
    "speckle_noise": (_draw_normal("speckle_noise"), _noise("speckle_noise")),
    "impulse_noise": (_draw_impulse, _impulse),
    "gaussian_blur": (_draw_nothing, _gaussian_blur),
    "defocus_blur": (_draw_nothing, _defocus),
    "glass_blur": (_draw_glass, _glass),
    "motion_blur": (_draw_motion, _motion),
    "zoom_blur": (_draw_nothing, _zoom_blur),
    "snow": (_draw_snow, _snow),
    "frost": (_draw_frost, _frost),
    "fog": (_draw_fog, _fog),
    "brightness": (_draw_nothing, _brightness),
    "contrast": (_draw_nothing, _contrast),
    "saturate": (_draw_nothing, _saturate),
    "elastic_transform": (_draw_elastic, _elastic),
}

#: corruptions the torch backend leaves to the exact backend, and why
EXACT_ONLY = {
    "shot_noise": "its Poisson draws depend on the pixel values",
    "pixelate": "PIL's fixed-point box resampling",
    "jpeg_compression": "a JPEG codec (PIL), not tensor arithmetic",
    "spatter": "thresholded masks and cv2 morphology",
}


#: corruptions the torch backend also leaves to the exact backend under the imagenet-c protocol
IMAGENET_C_EXACT_ONLY = {
    "motion_blur": "ImageMagick's motion blur, rounded to 16 then 8 bits",
    "snow": "its layer goes through ImageMagick's motion blur",
    "elastic_transform": "an OpenCV affine warp before the elastic map",
}


def exact_only(protocol: str) -> Dict[str, str]:
    """Corruptions the torch backend does not render under ``protocol``, and why."""
    return {**EXACT_ONLY, **(IMAGENET_C_EXACT_ONLY if protocol == IMAGENET_C else {})}


def supports(name: str, severity: int, protocol: str = IMAGECORRUPTIONS) -> bool:
    return name in TORCH and name not in exact_only(protocol)


def pixel_differences(images: Sequence[np.ndarray], name: str, severity: int, seeds: Sequence[int],
                      device: str = "cpu", protocol: str = IMAGECORRUPTIONS) -> dict:
    """torch vs exact backend on uint8 HxWx3 ``images`` (same size) with render ``seeds``: the largest
    and mean absolute difference in levels, the share of values off by more than one level, and both
    renders (``exact``, ``torch``)."""
    ref = np.stack([corrupt_image(im, name, severity, seed_value=s, backend="fast", protocol=protocol)
                    for im, s in zip(images, seeds)])
    out = corrupt_batch(torch.from_numpy(np.stack(images)).to(device), name, severity, seeds, protocol).cpu().numpy()
    d = np.abs(ref.astype(np.int16) - out.astype(np.int16))
    return {"max_abs": int(d.max()), "mean_abs": float(d.mean()), "share_over_1": float((d > 1).mean()),
            "exact": ref, "torch": out}


def meets_thresholds(stats: dict) -> bool:
    return all(stats[k] <= v for k, v in THRESHOLDS.items())


def render_backend(requested: str, name: str, severity: int, protocol: str = IMAGECORRUPTIONS) -> str:
    """The backend that renders cell (name, severity) when ``requested`` is asked for: the torch
    backend hands the cells it does not render to ``fast`` (exact), never approximates them."""
    return "fast" if requested == "torch" and not supports(name, severity, protocol) else requested


def _drawer(name: str, protocol: str):
    return IMAGENET_C_DRAWS.get(name, TORCH[name][0]) if protocol == IMAGENET_C else TORCH[name][0]


def draw(name: str, severity: int, hw: tuple, seed_value: int, protocol: str = IMAGECORRUPTIONS) -> dict:
    """The generator's random draws for one image, from ``np.random.seed(seed_value)`` (the global
    state is restored)."""
    state = np.random.get_state()
    try:
        np.random.seed(seed_value)
        return _drawer(name, protocol)(severity, hw)
    finally:
        np.random.set_state(state)


def corrupt_batch(images: torch.Tensor, name: str, severity: int, seeds: Sequence[int],
                  protocol: str = IMAGECORRUPTIONS) -> torch.Tensor:
    """Corrupt a (B, H, W, 3) uint8 batch on its device; image i uses render seed ``seeds[i]`` exactly
    as the exact backend would. Returns (B, H, W, 3) uint8 on the same device."""
    if not supports(name, severity, protocol):
        raise ValueError(f"the torch backend does not render {name}/{severity} under the {protocol} protocol "
                         f"({exact_only(protocol).get(name, 'unknown corruption')}); render it with the exact backend")
    if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != torch.uint8:
        raise ValueError(f"expected a (B, H, W, 3) uint8 batch, got {tuple(images.shape)} {images.dtype}")
    if protocol == IMAGENET_C:
        check_size(tuple(images.shape[1:3]))
    return _render(images, name, severity, [draw(name, severity, tuple(images.shape[1:3]), s, protocol) for s in seeds])


def _render(images: torch.Tensor, name: str, severity: int, draws: List[dict]) -> torch.Tensor:
    with torch.no_grad():
        out = TORCH[name][1](images.double(), severity, draws)
    return out.to(torch.uint8)  # np.uint8 of the reference's float: truncation toward zero


@BACKENDS.register("torch")
def _torch_one(img: np.ndarray, name: str, severity: int, protocol: str) -> np.ndarray:
    """One image through the torch backend on the CPU, drawing from the global state the caller seeded
    (for per-image pipelines such as COCO-C's); corruptions it does not render use the exact backend."""
    if not supports(name, severity, protocol):
        return BACKENDS.get("fast")(img, name, severity, protocol)
    img = np.array(rgb3(img), copy=True)  # writable and contiguous for torch.from_numpy
    if protocol == IMAGENET_C:
        check_size(img.shape)
    return _render(torch.from_numpy(img)[None], name, severity,
                   [_drawer(name, protocol)(severity, img.shape[:2])])[0].numpy()
