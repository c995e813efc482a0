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
* glass_blur, zoom_blur, brightness, saturate: at 224x224 both generators compute the same pixels
  from the same draws, so imagecorruptions' compiled versions (:mod:`.exact`) serve both.
* every other corruption (impulse_noise's draws and elastic_transform's affine + elastic warp
  included) is the generator itself, already fast.

The generator hard-codes 224x224 images (glass_blur's loops, fog's and frost's crops, snow's reshape),
so this protocol renders nothing else.
"""
from __future__ import annotations

import functools
import math

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
    for y in range(h):
        for j in range(w):
            for c in range(n_c):
                acc = 0.0
                for i in range(kernel.shape[0]):
                    yy = min(max(y + dys[i], 0), h - 1)
                    xx = min(max(j + dxs[i], 0), w - 1)
                    acc += kernel[i] * (257.0 * x[yy, xx, c])
                if acc <= 0.0:
                    q = 0
                elif acc >= 65535.0:
                    q = 65535
                else:
                    q = int(acc + 0.5)  # ClampToQuantum
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


FAST = {**SHARED_FAST, "motion_blur": motion_blur, "snow": snow, "frost": frost}


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
