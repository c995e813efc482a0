"""The ``fast`` corruption backend: the same pixels as imagecorruptions 1.1.2 (with
:mod:`pit_eval.compat`) for the same ``np.random`` state, computed faster.

* glass_blur: the reference shuffles pixels in a Python loop, drawing one offset pair per pixel.
  Drawing all pairs with one ``np.random.randint`` call yields the same stream in the same loop
  order, and its tuple "swap" of numpy views is in fact a one-way copy
  (``x[h, w] = x[h + dy, w + dx]``, the source keeps its value). A compiled loop over the pre-drawn
  offsets reproduces it exactly.
* every other corruption is delegated to the reference implementation (identical by construction).
"""
from __future__ import annotations

import numpy as np
from PIL import Image

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


FAST = {"glass_blur": glass_blur}


@BACKENDS.register("fast")
def _fast(img: np.ndarray, name: str, severity: int) -> np.ndarray:
    if name not in FAST:
        return BACKENDS.get("reference")(img, name, severity)
    if img.ndim == 2:
        img = np.stack((img,) * 3, axis=-1)
    if img.ndim == 3 and img.shape[2] == 1:
        img = np.concatenate([img] * 3, axis=-1)
    return np.uint8(FAST[name](Image.fromarray(img), severity))
