"""The ``fast`` corruption backend: the same pixels as imagecorruptions 1.1.2 (with
:mod:`pit_eval.compat`) for the same ``np.random`` state, computed faster.

* glass_blur: the reference shuffles pixels in a Python loop, drawing one offset pair per pixel.
  Drawing all pairs with one ``np.random.randint`` call yields the same stream in the same loop
  order, and its tuple "swap" of numpy views is in fact a one-way copy
  (``x[h, w] = x[h + dy, w + dx]``, the source keeps its value). A compiled loop over the pre-drawn
  offsets reproduces it exactly.
* zoom_blur: ``scipy.ndimage.zoom`` with factor 1 on the channel axis interpolates with weights
  exactly 1 and 0 along it, so zooming each channel as a 2-D array gives the same floats, about 2x
  faster.
* every other corruption is delegated to the reference implementation (identical by construction).
"""
from __future__ import annotations

import numpy as np
from PIL import Image
from scipy.ndimage import zoom as scizoom

from . import compat
from .corruptions import BACKENDS

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is in requirements.txt
    njit = None

GLASS_PARAMS = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)]  # sigma, delta, iters


def _shuffle_py(x: np.ndarray, offsets: np.ndarray, delta: int) -> None:
    k = 0
    for h in range(x.shape[0] - delta, delta, -1):
        for w in range(x.shape[1] - delta, delta, -1):
            x[h, w] = x[h + offsets[k, 1], w + offsets[k, 0]]
            k += 1


_shuffle = njit(cache=True, nogil=True)(_shuffle_py) if njit is not None else _shuffle_py


def glass_blur(x: Image.Image, severity: int = 1) -> np.ndarray:
    corr = compat.apply()
    sigma, delta, iterations = GLASS_PARAMS[severity - 1]
    img = np.uint8(corr.gaussian(np.array(x) / 255., sigma=sigma, multichannel=True) * 255)
    n_h = len(range(img.shape[0] - delta, delta, -1))
    n_w = len(range(img.shape[1] - delta, delta, -1))
    for _ in range(iterations):
        offsets = np.random.randint(-delta, delta, size=(n_h * n_w, 2))
        _shuffle(img, offsets, delta)
    return np.clip(corr.gaussian(img / 255., sigma=sigma, multichannel=True), 0, 1) * 255


ZOOM_FACTORS = [np.arange(1, 1.11, 0.01), np.arange(1, 1.16, 0.01), np.arange(1, 1.21, 0.02),
                np.arange(1, 1.26, 0.02), np.arange(1, 1.31, 0.03)]


def _clipped_zoom(img: np.ndarray, factor: float) -> np.ndarray:
    h0 = int(np.ceil(img.shape[0] / float(factor)))
    w0 = int(np.ceil(img.shape[1] / float(factor)))
    top0, top1 = (img.shape[0] - h0) // 2, (img.shape[1] - w0) // 2
    crop = img[top0:top0 + h0, top1:top1 + w0]
    return np.stack([scizoom(np.ascontiguousarray(crop[..., c]), (factor, factor), order=1)
                     for c in range(img.shape[2])], axis=-1)


def zoom_blur(x: Image.Image, severity: int = 1) -> np.ndarray:
    factors = ZOOM_FACTORS[severity - 1]
    x = (np.array(x) / 255.).astype(np.float32)
    out = np.zeros_like(x)
    for factor in factors:
        layer = _clipped_zoom(x, factor)[:x.shape[0], :x.shape[1], :]
        out[:layer.shape[0], :layer.shape[1]] += layer
    x = (x + out) / (len(factors) + 1)
    return np.clip(x, 0, 1) * 255


FAST = {"glass_blur": glass_blur, "zoom_blur": zoom_blur}


@BACKENDS.register("fast")
def _fast(img: np.ndarray, name: str, severity: int) -> np.ndarray:
    if name not in FAST:
        return BACKENDS.get("reference")(img, name, severity)
    if img.ndim == 2:
        img = np.stack((img,) * 3, axis=-1)
    if img.ndim == 3 and img.shape[2] == 1:
        img = np.concatenate([img] * 3, axis=-1)
    return np.uint8(FAST[name](Image.fromarray(img), severity))
