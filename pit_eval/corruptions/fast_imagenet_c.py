"""The ``fast`` backend under the ``imagenet-c`` protocol: the pixels of Hendrycks' generator
(imagenet-c 0.0.3 through :func:`.compat.apply_imagenet_c`, the functions that made the released
ImageNet-C) for the same ``np.random`` state, computed faster, without ImageMagick and without the
generator's package (only the ``reference`` backend and the tests import it).

* motion_blur, snow: the generator runs ImageMagick's ``MagickMotionBlurImage`` on a PNG of the image.
  ImageMagick 6 (Q16) reads 8-bit values as ``257 * v``, sums ``kernel[i] * pixel(x + dx_i, y + dy_i)``
  in double over its Gaussian kernel (edge pixels repeated), rounds the sum to a 16-bit quantum and
  writes the 8-bit PNG as ``quantum // 257``. A compiled loop does exactly that, with ImageMagick's
  kernel (``GetMotionBlurKernel``) and offsets (``ceil(i * cos or sin / hypot - 0.5)`` with its
  ``pi * angle / 180``). Tested bit-identical to the installed ImageMagick (6.9.11-60 Q16 here).
* frost: the generator reads a texture file on every call and crops a 224 window straight from it
  (no resize, unlike imagecorruptions); here each texture is decoded once.
* elastic_transform: the generator's random affine warp (OpenCV, the same calls and draws) and
  elastic warp with two compiled primitives in place of scipy's: the separable Gaussian of the
  displacement fields (``correlate1d``'s symmetric sum in its order, 'reflect' extension) and the
  order-1 ``map_coordinates`` over (row, column, channel) (:mod:`.fast`'s, channels weighed 1 and 0).
* impulse_noise: scikit-image 0.13-0.18's s&p draws (:func:`.compat.salt_and_pepper`), as the
  compatibility layer gives the generator.
* the 14 corruptions the two generators share at 224x224 (every other one): imagecorruptions' fast
  path (:mod:`.fast`), the same pixels from the same draws.

The generator hard-codes 224x224 images (glass_blur's loops, fog's and frost's crops, snow's reshape),
so this protocol renders nothing else.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image

from . import compat, fast
from .backends import BACKENDS, SIZE, check_size, rgb3
from .names import IMAGENET_C



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


_magick_motion_blur = fast._compiled(_magick_motion_blur_py)


def magick_motion_blur(x: np.ndarray, radius: float, sigma: float, angle: float) -> np.ndarray:
    """ImageMagick's motion blur of a uint8 HxWxC array, as the generator's PNG round trip returns it."""
    kernel = magick_kernel(radius, sigma)
    dys, dxs = magick_offsets(len(kernel), angle)
    return _magick_motion_blur(np.ascontiguousarray(x), kernel, dys, dxs)


def motion_blur(x: Image.Image, severity: int = 1) -> np.ndarray:
    radius, sigma = fast.MOTION[severity - 1]
    return magick_motion_blur(np.asarray(x), radius, sigma, np.random.uniform(-45, 45))


def snow(x: Image.Image, severity: int = 1) -> np.ndarray:
    """imagecorruptions' snow but for the layer's blur: trimmed to 224 around its centre first, then
    ImageMagick's blur of its 8-bit PNG."""
    c = fast.SNOW[severity - 1]
    x = np.array(x, dtype=np.float32) / 255.
    layer = fast.snow_layer(x.shape[:2], c)
    top = (layer.shape[0] - SIZE) // 2
    layer = (np.clip(layer[top:top + SIZE, top:top + SIZE], 0, 1) * 255).astype(np.uint8)
    layer = magick_motion_blur(layer, c[4], c[5], np.random.uniform(-135, -45)) / 255.
    return fast.snow_blend(x, layer, c)


# ------------------------------------------------------------------------------------- frost

def frost_texture() -> np.ndarray:
    """The generator's frost draws: a texture (the same files as imagecorruptions', decoded once by
    :mod:`.fast`) and a 224 window of it, RGB."""
    idx = np.random.randint(5)
    texture = fast._frost_image(idx)
    top, left = np.random.randint(0, texture.shape[0] - SIZE), np.random.randint(0, texture.shape[1] - SIZE)
    return texture[top:top + SIZE, left:left + SIZE][..., [2, 1, 0]]


def frost(x: Image.Image, severity: int = 1) -> np.ndarray:
    c = fast.FROST[severity - 1]
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


_correlate_axis0 = fast._compiled(_correlate_axis0_py)


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


#: (alpha, sigma, affine jitter) per severity, in the generator's pixels (its comment: "244 should have
#: been 224, but ultimately nothing is incorrect")
ELASTIC = [(244 * 2, 244 * 0.7, 244 * 0.1), (244 * 2, 244 * 0.08, 244 * 0.2), (244 * 0.05, 244 * 0.01, 244 * 0.02),
           (244 * 0.07, 244 * 0.01, 244 * 0.02), (244 * 0.12, 244 * 0.01, 244 * 0.02)]


def elastic_transform(x: Image.Image, severity: int = 1) -> np.ndarray:
    """A random affine warp of three points around the centre, then an elastic warp by Gaussian-smoothed
    uniform displacement fields, in the generator's order of draws and operations."""
    import cv2
    alpha, sigma, jitter = ELASTIC[severity - 1]
    image = np.array(x, dtype=np.float32) / 255.
    h, w = image.shape[:2]
    centre, third = np.float32((h, w)) // 2, min(h, w) // 3
    anchors = np.float32([centre + third, [centre[0] + third, centre[1] - third], centre - third])
    moved = anchors + np.random.uniform(-jitter, jitter, size=anchors.shape).astype(np.float32)
    image = cv2.warpAffine(image, cv2.getAffineTransform(anchors, moved), (w, h), borderMode=cv2.BORDER_REFLECT_101)
    dx = (gaussian_reflect(np.random.uniform(-1, 1, size=(h, w)), sigma, 3) * alpha).astype(np.float32)
    dy = (gaussian_reflect(np.random.uniform(-1, 1, size=(h, w)), sigma, 3) * alpha).astype(np.float32)
    cols, rows = np.meshgrid(np.arange(w), np.arange(h))
    out = fast._map_coordinates_reflect(image, rows + dy, cols + dx)  # int64 + float32 -> float64
    return np.clip(out, 0, 1) * 255


IMPULSE = [.03, .06, .09, 0.17, 0.27]  # s&p amount per severity (both generators)


def impulse_noise(x: Image.Image, severity: int = 1) -> np.ndarray:
    return np.clip(compat.salt_and_pepper(np.array(x) / 255., IMPULSE[severity - 1]), 0, 1) * 255


#: spatter's severities 4 and 5 (mud): (loc, scale, sigma, threshold, mask sigma)
MUD = {4: (0.65, 0.3, 1, 0.65, 1.5), 5: (0.67, 0.4, 1, 0.65, 1.5)}
MUD_COLOUR = (63 / 255., 42 / 255., 20 / 255.)


def spatter(x: Image.Image, severity: int = 1) -> np.ndarray:
    """Severities 1-3 (water) are imagecorruptions' pixels; 4-5 (mud) differ in one place: the
    generator builds the mud colour in float32 (from its float32 image), imagecorruptions in float64."""
    from skimage.filters import gaussian
    if severity not in MUD:
        return fast.fast_imagecorruptions(np.asarray(x), "spatter", severity)
    loc, scale, sigma, threshold, mask_sigma = MUD[severity]
    x = np.array(x, dtype=np.float32) / 255.
    liquid = gaussian(np.random.normal(size=x.shape[:2], loc=loc, scale=scale), sigma=sigma)
    liquid[liquid < threshold] = 0
    mask = gaussian(np.where(liquid > threshold, 1, 0).astype(np.float32), sigma=mask_sigma)
    mask[mask < 0.8] = 0
    ones = np.ones_like(x[..., :1])
    colour = np.concatenate([v * ones for v in MUD_COLOUR], axis=2) * mask[..., np.newaxis]
    x *= (1 - mask[..., np.newaxis])
    return np.clip(x + colour, 0, 1) * 255


FAST = {"motion_blur": motion_blur, "snow": snow, "frost": frost, "elastic_transform": elastic_transform,
        "impulse_noise": impulse_noise, "spatter": spatter}


@BACKENDS.register("fast")
def fast_backend(img: np.ndarray, name: str, severity: int, protocol: str) -> np.ndarray:
    """The ``fast`` backend: the pixels of ``protocol``'s generator, computed faster."""
    if protocol == IMAGENET_C:
        img = rgb3(img)
        check_size(img.shape)
        if name in FAST:
            return np.uint8(FAST[name](Image.fromarray(img), severity))
    return fast.fast_imagecorruptions(img, name, severity)
