"""The ``fast`` backend under the ``imagenet-c`` protocol: the pixels of Hendrycks' generator
(imagenet-c 0.0.3 through :func:`.compat.apply_imagenet_c`, the functions that made the released
ImageNet-C) for the same ``np.random`` state, computed faster and without ImageMagick.

* motion_blur, snow: the generator runs ImageMagick's ``MagickMotionBlurImage`` on a PNG of the image.
  ImageMagick 6 (Q16) reads 8-bit values as ``257 * v``, sums ``kernel[i] * pixel(x + dx_i, y + dy_i)``
  in double over its Gaussian kernel (edge pixels repeated), rounds the sum to a 16-bit quantum and
  writes the 8-bit PNG as ``quantum // 257``. A compiled loop does exactly that, with ImageMagick's
  kernel (``GetMotionBlurKernel``) and offsets (``ceil(i * cos or sin / hypot - 0.5)`` with its
  ``pi * angle / 180``). Tested bit-identical to the installed ImageMagick (6.9.11-60 Q16 here).
* frost: the generator reads a texture file on every call and crops a 224 window straight from it
  (no resize, unlike imagecorruptions); here each texture is decoded once.
* elastic_transform: the generator's own function (its OpenCV affine warp and draws) run with two
  compiled primitives in place of scipy's: the separable Gaussian of its displacement fields
  (``correlate1d``'s symmetric sum in its order, 'reflect' extension) and the order-1
  ``map_coordinates`` over (row, column, channel) (:mod:`.exact`'s, channels weighed 1 and 0).
* glass_blur, zoom_blur, brightness, saturate: at 224x224 both generators compute the same pixels
  from the same draws, so imagecorruptions' compiled versions (:mod:`.exact`) serve both.
* every other corruption (impulse_noise's draws included) is the generator itself, already fast.

The generator hard-codes 224x224 images (glass_blur's loops, fog's and frost's crops, snow's reshape),
so this protocol renders nothing else.
"""
from __future__ import annotations

import functools
import math
import types

import numpy as np
from PIL import Image

from . import compat, exact
from .backends import BACKENDS, SIZE, check_size, corrupt_with_generator, rgb3
from .names import IMAGECORRUPTIONS, IMAGENET_C

SHARED_FAST = {"glass_blur": exact.glass_blur, "zoom_blur": exact.zoom_blur, "brightness": exact.brightness,
               "saturate": exact.saturate}


# ------------------------------------------------------------------ ImageMagick's motion blur

MAGICK_SQ2PI = 2.50662827463100024161235523934010416269302368164062  # ImageMagick's MagickSQ2PI


def magick_kernel(radius: float, sigma: float) -> np.ndarray:
    """ImageMagick 6's ``GetOptimalKernelWidth1D`` width and ``GetMotionBlurKernel`` weights."""
    width = int(2.0 * math.ceil(radius) + 1.0)
    s = sigma if abs(sigma) >= 1.0e-12 else 1.0e-12  # MagickSigma
    kernel = np.array([math.exp(-(float(i * i)) / (2.0 * s * s)) / (MAGICK_SQ2PI * s) for i in range(width)])
    total = 0.0
    for k in kernel:  # its summation order
        total += k
    return kernel / total


def magick_offsets(width: int, angle: float):
    """ImageMagick 6's motion-blur offsets (dy, dx) of the ``width`` taps for ``angle`` in degrees."""
    rad = math.pi * angle / 180.0  # DegreesToRadians
    px, py = width * math.sin(rad), width * math.cos(rad)
    hyp = math.hypot(px, py)
    dys = np.array([math.ceil((i * px) / hyp - 0.5) for i in range(width)], np.int64)
    dxs = np.array([math.ceil((i * py) / hyp - 0.5) for i in range(width)], np.int64)
    return dys, dxs


def _magick_motion_blur_py(x: np.ndarray, kernel: np.ndarray, dys: np.ndarray, dxs: np.ndarray) -> np.ndarray:
    h, w, n_c = x.shape
    out = np.empty_like(x)
    acc = np.empty(w * n_c)
    flat = x.reshape(h, w * n_c)
    for y in range(h):  # per pixel the taps are added in ImageMagick's order: tap by tap over the row
        acc[:] = 0.0
        for i in range(kernel.shape[0]):
            k, src = kernel[i], flat[min(max(y + dys[i], 0), h - 1)]
            for j in range(w):
                s = min(max(j + dxs[i], 0), w - 1) * n_c
                for c in range(n_c):
                    acc[j * n_c + c] += k * (257.0 * src[s + c])
        for j in range(w):
            for c in range(n_c):
                v = acc[j * n_c + c]
                q = 0 if v <= 0.0 else (65535 if v >= 65535.0 else int(v + 0.5))  # ClampToQuantum
                out[y, j, c] = q // 257  # the 8-bit PNG ImageMagick writes
    return out


_magick_motion_blur = exact._compiled(_magick_motion_blur_py)


def magick_motion_blur(x: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    """ImageMagick's motion blur of a uint8 HxWxC array, as the generator's PNG round trip returns it."""
    kernel = magick_kernel(radius, sigma)
    dys, dxs = magick_offsets(len(kernel), angle)
    return _magick_motion_blur(np.ascontiguousarray(x), kernel, dys, dxs)


def motion_blur(x: Image.Image, severity: int = 1) -> np.ndarray:
    radius, sigma = exact.MOTION[severity - 1]
    return magick_motion_blur(np.asarray(x), radius, sigma, np.random.uniform(-45, 45))


def snow(x: Image.Image, severity: int = 1) -> np.ndarray:
    import cv2
    corr = compat.apply_imagenet_c()
    c = exact.SNOW[severity - 1]
    x = np.array(x, dtype=np.float32) / 255.
    layer = np.random.normal(size=x.shape[:2], loc=c[0], scale=c[1])
    layer = corr.clipped_zoom(layer[..., np.newaxis], c[2])
    layer[layer < c[3]] = 0
    layer = (np.clip(layer.squeeze(), 0, 1) * 255).astype(np.uint8)[..., np.newaxis]
    layer = magick_motion_blur(layer, c[4], c[5], np.random.uniform(-135, -45)) / 255.
    gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(SIZE, SIZE, 1)
    x = c[6] * x + (1 - c[6]) * np.maximum(x, gray * 1.5 + 0.5)
    return np.clip(x + layer + np.rot90(layer, k=2), 0, 1) * 255


# ------------------------------------------------------------------------------------- frost

@functools.lru_cache(maxsize=None)
def _frost_image(idx: int) -> np.ndarray:
    """Texture ``idx`` as the generator's ``cv2.imread`` reads it (BGR), decoded once per process."""
    import cv2
    img = cv2.imread(str(compat.frost_file(exact.FROST_FILES[idx])))
    img.flags.writeable = False
    return img


def frost_texture() -> np.ndarray:
    """The generator's frost draws: a texture and a 224 window of it, RGB."""
    idx = np.random.randint(5)
    texture = _frost_image(idx)
    top, left = np.random.randint(0, texture.shape[0] - SIZE), np.random.randint(0, texture.shape[1] - SIZE)
    return texture[top:top + SIZE, left:left + SIZE][..., [2, 1, 0]]


def frost(x: Image.Image, severity: int = 1) -> np.ndarray:
    c = exact.FROST[severity - 1]
    return np.clip(c[0] * np.array(x) + c[1] * frost_texture(), 0, 255)


# ---------------------------------------------------------------------------- elastic_transform

def _correlate_axis0_py(a: np.ndarray, weights: np.ndarray, source: np.ndarray) -> np.ndarray:
    """scipy.ndimage.correlate1d along axis 0 of a 2-D ``a`` with symmetric ``weights``, each line
    extended by the row indices ``source`` ('reflect'): per output ``t = x[q] * w[r]; t += (x[q - j] +
    x[q + j]) * w[r - j]`` for j from r down to 1 (its symmetric-kernel loop, in its order), every
    column at once."""
    r = (weights.shape[0] - 1) // 2
    n, m = a.shape
    ext = np.empty((n + 2 * r, m))
    for k in range(n + 2 * r):
        ext[k] = a[source[k]]
    out = np.empty((n, m))
    for q in range(n):
        acc = ext[q + r] * weights[r]
        for j in range(-r, 0):
            wj, before, after = weights[r + j], ext[q + r + j], ext[q + r - j]
            for c in range(m):
                acc[c] += (before[c] + after[c]) * wj
        out[q] = acc
    return out


_correlate_axis0 = exact._compiled(_correlate_axis0_py)


def gaussian_reflect(image: np.ndarray, sigma: float, truncate: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter(image, sigma, mode='reflect', truncate=truncate)`` of a 2-D
    float64 array with scipy's kernel and arithmetic (axis 0, then axis 1)."""
    from scipy.ndimage._filters import _gaussian_kernel1d
    radius = int(truncate * float(sigma) + 0.5)
    weights = np.ascontiguousarray(_gaussian_kernel1d(sigma, 0, radius)[::-1])
    out = image
    for axis in (0, 1):
        n = out.shape[axis]
        period = np.arange(-radius, n + radius) % (2 * n)  # 'reflect' repeats x, reversed x, x, ...
        source = np.where(period < n, period, 2 * n - 1 - period)
        lines = np.ascontiguousarray(out if axis == 0 else out.T)
        lines = _correlate_axis0(lines, weights, source)
        out = lines if axis == 0 else lines.T
    return np.ascontiguousarray(out)


def _gaussian(image, sigma, mode="nearest", truncate=4.0, **kwargs):
    """The generator's ``gaussian(noise, sigma, mode='reflect', truncate=3)`` call, compiled."""
    if mode != "reflect" or kwargs or np.ndim(image) != 2 or np.ndim(sigma) != 0:
        return compat.apply_imagenet_c().gaussian(image, sigma, mode=mode, truncate=truncate, **kwargs)
    return gaussian_reflect(np.asarray(image, dtype=np.float64), float(sigma), truncate)


def _map_coordinates(image, coordinates, order=1, mode="reflect", **kwargs):
    """The generator's ``map_coordinates(image, (rows, cols, channels), order=1, mode='reflect')`` over
    an HxWxC image, every channel at the same (row, column): the compiled 2-D sampler per channel."""
    rows, cols, channels = coordinates
    h, w, n_c = image.shape
    if order != 1 or mode != "reflect" or kwargs or not np.array_equal(
            channels.reshape(h, w, n_c), np.broadcast_to(np.arange(n_c), (h, w, n_c))):
        import scipy.ndimage
        return scipy.ndimage.map_coordinates(image, coordinates, order=order, mode=mode, **kwargs)
    ys, xs = rows.reshape(h, w, n_c)[..., 0], cols.reshape(h, w, n_c)[..., 0]
    return exact._map_coordinates_reflect(np.ascontiguousarray(image), np.ascontiguousarray(ys),
                                          np.ascontiguousarray(xs)).reshape(-1, 1)


@functools.lru_cache(maxsize=None)
def _elastic_with_compiled_primitives():
    """The generator's elastic_transform, its code unchanged, calling :func:`_gaussian` and
    :func:`_map_coordinates` (a copy of the function with those two names rebound)."""
    corr = compat.apply_imagenet_c()
    fn = corr.elastic_transform
    names = dict(corr.__dict__, gaussian=_gaussian, map_coordinates=_map_coordinates)
    return types.FunctionType(fn.__code__, names, fn.__name__, fn.__defaults__, fn.__closure__)


def elastic_transform(x: Image.Image, severity: int = 1) -> np.ndarray:
    return _elastic_with_compiled_primitives()(x, severity)


FAST = {**SHARED_FAST, "motion_blur": motion_blur, "snow": snow, "frost": frost,
        "elastic_transform": elastic_transform}


@BACKENDS.register("fast")
def fast(img: np.ndarray, name: str, severity: int, protocol: str) -> np.ndarray:
    """The ``fast`` backend: the pixels of ``protocol``'s generator, computed faster."""
    if protocol == IMAGECORRUPTIONS:
        return exact.fast_imagecorruptions(img, name, severity)
    img = rgb3(img)
    check_size(img.shape)
    if name not in FAST:
        return corrupt_with_generator(img, name, severity, IMAGENET_C)
    return np.uint8(FAST[name](Image.fromarray(img), severity))
