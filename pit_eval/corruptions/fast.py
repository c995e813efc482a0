"""The ``fast`` corruption backend under the ``imagecorruptions`` protocol: the same pixels as
imagecorruptions 1.1.2 (with :mod:`.compat`) for the same ``np.random`` state, computed faster
(:mod:`.fast_imagenet_c` registers the backend and serves the ``imagenet-c`` protocol).

* glass_blur: the reference shuffles pixels in a Python loop, drawing one offset pair per pixel.
  Drawing all pairs with one ``np.random.randint`` call yields the same stream in the same loop
  order, and its tuple "swap" of numpy views is in fact a one-way copy
  (``x[h, w] = x[h + dy, w + dx]``, the source keeps its value). A compiled loop over the pre-drawn
  offsets reproduces it exactly.
* zoom_blur: ``scipy.ndimage.zoom`` with factor 1 on the channel axis interpolates with weights
  exactly 1 and 0 along it, so each channel is zoomed as a 2-D array; a compiled loop performs
  scipy's order-1 arithmetic for all channels at once (same sample positions, same weights, the
  four corner terms added in scipy's order in float64, cast to the input's dtype), about 7x faster
  than scipy's general n-D loop.
* brightness, saturate: scikit-image's RGB -> HSV -> RGB round trip is a function of each pixel's
  RGB triple; a compiled per-pixel loop performs the same float64 operations in the same order
  (including which of R, G, B wins the hue formula on ties: blue, then green, then red).
* elastic_transform: ``map_coordinates`` over (row, column, channel) with integral channel
  coordinates weighs the channel axis by exactly 1 and 0 (order 1), so each channel is mapped as a
  2-D array with the same row / column coordinates; a compiled loop does so with scipy's arithmetic
  (its 'reflect' mapping of coordinates and of taps outside the array, the four corner terms in its order).
* motion_blur, snow: the reference's ``_motion_blur`` sums ``kernel[i] * shift(x, dx_i, dy_i)`` over
  whole-image copies; ``shift`` is an edge-replicating translation, so each output pixel is
  ``sum_i kernel[i] * x[clamp(h - dy_i), clamp(w - dx_i)]`` accumulated in float64 in the same order —
  one compiled pass, no copies. snow's ``clipped_zoom`` of its one-channel layer uses zoom_blur's
  compiled zoom.
* frost: the reference reads and resizes one of six texture files on every call; here each texture
  is decoded once and each resized size kept (the same cv2 calls, so the same pixels).
* every other corruption is delegated to the reference implementation (identical by construction).
"""
from __future__ import annotations

import functools
import math

import numpy as np
from PIL import Image

from . import compat
from .backends import corrupt_with_generator, rgb3
from .names import IMAGECORRUPTIONS

try:
    from numba import njit
except ImportError:  # pragma: no cover - numba is in requirements.txt
    njit = None


def _compiled(fn):
    """``fn`` compiled by numba (cached on disk, GIL released), or ``fn`` itself without numba."""
    return njit(cache=True, nogil=True)(fn) if njit is not None else fn

GLASS_PARAMS = [(0.7, 1, 2), (0.9, 2, 1), (1, 2, 3), (1.1, 3, 2), (1.5, 4, 2)]  # sigma, delta, iters


def _shuffle_py(x: np.ndarray, offsets: np.ndarray, delta: int) -> None:
    k = 0
    for h in range(x.shape[0] - delta, delta, -1):
        for w in range(x.shape[1] - delta, delta, -1):
            x[h, w] = x[h + offsets[k, 1], w + offsets[k, 0]]
            k += 1


_shuffle = _compiled(_shuffle_py)


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


def _zoom_axis_py(n_in: int, n_out: int):
    """scipy.ndimage.zoom's order-1 sampling along one axis (grid_mode=False, mode 'constant'): output
    k reads input k * (n_in - 1) / (n_out - 1); per k the first source index, its weight (scipy's
    ``1 - frac``; the second weight is ``1 - w0``) and whether the point is inside (else cval 0)."""
    ratio = (n_in - 1) / (n_out - 1) if n_out > 1 else 1.0
    start, w0, inside = np.empty(n_out, np.int64), np.empty(n_out), np.empty(n_out, np.bool_)
    for k in range(n_out):
        cc = k * ratio
        inside[k] = cc <= n_in - 1
        start[k] = math.floor(cc)
        w0[k] = 1.0 - (cc - start[k])
    return start, w0, inside


_zoom_axis = _compiled(_zoom_axis_py)


def _four_taps_py(a, ya, yb, xa, xb, c, wy0, wx0) -> float:
    """scipy.ndimage's order-1 sum: ``t = 0.0; t += (a[tap] * w_y) * w_x`` over the taps in its order."""
    wy1, wx1 = 1.0 - wy0, 1.0 - wx0
    t = 0.0
    t += (np.float64(a[ya, xa, c]) * wy0) * wx0
    t += (np.float64(a[ya, xb, c]) * wy0) * wx1
    t += (np.float64(a[yb, xa, c]) * wy1) * wx0
    t += (np.float64(a[yb, xb, c]) * wy1) * wx1
    return t


_four_taps = _compiled(_four_taps_py)


def _zoom2d_py(a: np.ndarray, n_h: int, n_w: int) -> np.ndarray:
    """``scipy.ndimage.zoom(a[..., c], order=1)`` to (n_h, n_w) for every channel c of an HxWxC array,
    with scipy's arithmetic: per output, ``t = 0.0; t += (a[corner] * w_y) * w_x`` over the four
    corners in row-major order, in float64, cast to ``a``'s dtype; the second corner past the last
    row / column has weight exactly 0 (a mirrored pixel is read; any finite value adds 0)."""
    h, w, n_c = a.shape
    ys, wys, in_y = _zoom_axis(h, n_h)
    xs, wxs, in_x = _zoom_axis(w, n_w)
    out = np.empty((n_h, n_w, n_c), a.dtype)
    for i in range(n_h):
        y0 = ys[i]
        y1 = y0 + 1 if y0 + 1 < h else (2 * h - 3 - y0 if h > 1 else 0)
        wy0 = wys[i]
        for j in range(n_w):
            x0 = xs[j]
            x1 = x0 + 1 if x0 + 1 < w else (2 * w - 3 - x0 if w > 1 else 0)
            wx0 = wxs[j]
            for c in range(n_c):
                out[i, j, c] = _four_taps(a, y0, y1, x0, x1, c, wy0, wx0) if in_y[i] and in_x[j] else 0.0
    return out


_zoom2d = _compiled(_zoom2d_py)


def clipped_zoom_window(h: int, w: int, factor: float):
    """imagecorruptions' ``clipped_zoom`` geometry: the centred crop (rows, columns) that is zoomed,
    and the zoomed size (scipy's ``round(size * factor)``)."""
    h0, w0 = int(np.ceil(h / float(factor))), int(np.ceil(w / float(factor)))
    top0, top1 = (h - h0) // 2, (w - w0) // 2
    return (slice(top0, top0 + h0), slice(top1, top1 + w0)), (int(round(h0 * factor)), int(round(w0 * factor)))


def _clipped_zoom(img: np.ndarray, factor: float) -> np.ndarray:
    crop, size = clipped_zoom_window(img.shape[0], img.shape[1], factor)
    return _zoom2d(np.ascontiguousarray(img[crop]), *size)


def zoom_blur(x: Image.Image, severity: int = 1) -> np.ndarray:
    factors = ZOOM_FACTORS[severity - 1]
    x = (np.array(x) / 255.).astype(np.float32)
    out = np.zeros_like(x)
    for factor in factors:
        layer = _clipped_zoom(x, factor)[:x.shape[0], :x.shape[1], :]
        out[:layer.shape[0], :layer.shape[1]] += layer
    x = (x + out) / (len(factors) + 1)
    return np.clip(x, 0, 1) * 255


def _hsv_round_trip_py(img: np.ndarray, channel: int, scale: float, shift: float) -> np.ndarray:
    """clip(hsv2rgb(adjust(rgb2hsv(img / 255.))), 0, 1) * 255 with ``adjust`` = clip(x * scale + shift,
    0, 1) on HSV ``channel`` (1 = S, 2 = V), scikit-image's arithmetic pixel by pixel."""
    out = np.empty(img.shape, np.float64)
    for i in range(img.shape[0]):
        for j in range(img.shape[1]):
            r, g, b = img[i, j, 0] / 255., img[i, j, 1] / 255., img[i, j, 2] / 255.
            v = max(r, g, b)
            delta = v - min(r, g, b)
            if delta == 0.0:
                h = 0.0
                s = 0.0
            else:
                s = delta / v
                if r == v:
                    h = (g - b) / delta
                if g == v:
                    h = 2.0 + (b - r) / delta
                if b == v:
                    h = 4.0 + (r - g) / delta
                h = (h / 6.0) % 1.0  # Python's float modulo = numpy's remainder
            if channel == 1:
                s = min(max(s * scale + shift, 0.0), 1.0)
            else:
                v = min(max(v * scale + shift, 0.0), 1.0)
            hi = math.floor(h * 6)
            f = h * 6 - hi
            p = v * (1 - s)
            q = v * (1 - f * s)
            t = v * (1 - (1 - f) * s)
            k = int(hi) % 6
            if k == 0:
                o0, o1, o2 = v, t, p
            elif k == 1:
                o0, o1, o2 = q, v, p
            elif k == 2:
                o0, o1, o2 = p, v, t
            elif k == 3:
                o0, o1, o2 = p, q, v
            elif k == 4:
                o0, o1, o2 = t, p, v
            else:
                o0, o1, o2 = v, p, q
            out[i, j, 0] = min(max(o0, 0.0), 1.0) * 255
            out[i, j, 1] = min(max(o1, 0.0), 1.0) * 255
            out[i, j, 2] = min(max(o2, 0.0), 1.0) * 255
    return out


_hsv_round_trip = _compiled(_hsv_round_trip_py)

BRIGHTNESS = [.1, .2, .3, .4, .5]
SATURATE = [(0.3, 0), (0.1, 0), (2, 0), (5, 0.1), (20, 0.2)]


def brightness(x: Image.Image, severity: int = 1) -> np.ndarray:
    return _hsv_round_trip(np.asarray(x), 2, 1.0, BRIGHTNESS[severity - 1])


def saturate(x: Image.Image, severity: int = 1) -> np.ndarray:
    scale, shift = SATURATE[severity - 1]
    return _hsv_round_trip(np.asarray(x), 1, float(scale), float(shift))


def _translate_sum_py(x: np.ndarray, kernel: np.ndarray, dys: np.ndarray, dxs: np.ndarray) -> np.ndarray:
    n_h, n_w, n_c = x.shape
    out = np.zeros(x.shape, np.float64)
    flat_out, flat_x = out.reshape(n_h, n_w * n_c), x.reshape(n_h, n_w * n_c)
    for h in range(n_h):  # one output row at a time (it stays in cache while every term is added)
        row = flat_out[h]
        for i in range(len(kernel)):  # per pixel, the terms are added in the reference's order
            k, dy, dx = kernel[i], dys[i], dxs[i]
            lo, hi = max(dx, 0), min(n_w + dx, n_w)  # columns whose source w - dx is inside the image
            src = flat_x[min(max(h - dy, 0), n_h - 1)]
            for j in range(lo * n_c, hi * n_c):
                row[j] = row[j] + k * src[j - dx * n_c]
            for w in range(0, lo):
                for c in range(n_c):
                    row[w * n_c + c] = row[w * n_c + c] + k * src[c]
            for w in range(hi, n_w):
                for c in range(n_c):
                    row[w * n_c + c] = row[w * n_c + c] + k * src[(n_w - 1) * n_c + c]
    return out


_translate_sum = _compiled(_translate_sum_py)


def motion_terms(shape: tuple, radius: int, sigma: float, angle: float):
    """imagecorruptions' motion-blur terms for an image of ``shape``: weights and (dy, dx) shifts, in
    the order the reference adds them (it stops where the motion leaves the image)."""
    corr = compat.apply()
    width = corr.getOptimalKernelWidth1D(radius, sigma)
    kernel = corr.getMotionBlurKernel(width, sigma)
    point = (width * np.sin(np.deg2rad(angle)), width * np.cos(np.deg2rad(angle)))
    hypot = math.hypot(point[0], point[1])
    dys, dxs = [], []
    for i in range(width):
        dy = -math.ceil(((i * point[0]) / hypot) - 0.5)
        dx = -math.ceil(((i * point[1]) / hypot) - 0.5)
        if abs(dy) >= shape[0] or abs(dx) >= shape[1]:
            break
        dys.append(dy)
        dxs.append(dx)
    return np.ascontiguousarray(kernel[:len(dys)]), np.array(dys, np.int64), np.array(dxs, np.int64)


def _motion_blur(x: np.ndarray, radius: int, sigma: float, angle: float) -> np.ndarray:
    """imagecorruptions' ``_motion_blur`` of an HxWxC array (float64 result)."""
    kernel, dys, dxs = motion_terms(x.shape, radius, sigma, angle)
    return _translate_sum(np.ascontiguousarray(x, dtype=np.float64), kernel, dys, dxs)


MOTION = [(10, 3), (15, 5), (15, 8), (15, 12), (20, 15)]


def motion_blur(x: Image.Image, severity: int = 1) -> np.ndarray:
    radius, sigma = MOTION[severity - 1]
    x = np.array(x)
    angle = np.random.uniform(-45, 45)
    return np.clip(_motion_blur(x, radius, sigma, angle), 0, 255)


SNOW = [(0.1, 0.3, 3, 0.5, 10, 4, 0.8), (0.2, 0.3, 2, 0.5, 12, 4, 0.7), (0.55, 0.3, 4, 0.9, 12, 8, 0.7),
        (0.55, 0.3, 4.5, 0.85, 12, 8, 0.65), (0.55, 0.3, 2.5, 0.85, 12, 12, 0.55)]


def snow_layer(hw: tuple, c: tuple) -> np.ndarray:
    """Both generators' snow flakes before their motion blur: a normal draw, zoomed (the zoomed size,
    untrimmed), thresholded."""
    layer = np.random.normal(size=hw, loc=c[0], scale=c[1])
    layer = _clipped_zoom(layer[..., np.newaxis], c[2])
    layer[layer < c[3]] = 0
    return layer


def snow_blend(x: np.ndarray, layer: np.ndarray, c: tuple) -> np.ndarray:
    """Both generators' last step: the image whitened towards its gray, plus the blurred layer twice."""
    import cv2
    gray = cv2.cvtColor(x, cv2.COLOR_RGB2GRAY).reshape(x.shape[0], x.shape[1], 1)
    x = c[6] * x + (1 - c[6]) * np.maximum(x, gray * 1.5 + 0.5)
    return np.clip(x + layer + np.rot90(layer, k=2), 0, 1) * 255


def snow(x: Image.Image, severity: int = 1) -> np.ndarray:
    c = SNOW[severity - 1]
    x = np.array(x, dtype=np.float32) / 255.
    layer = np.clip(snow_layer(x.shape[:2], c), 0, 1)
    layer = _motion_blur(layer, c[4], c[5], np.random.uniform(-135, -45))
    layer = (np.round(layer * 255).astype(np.uint8) / 255.)[:x.shape[0], :x.shape[1], :]
    return snow_blend(x, layer, c)


ELASTIC_ALPHA = [250 * 0.05, 250 * 0.065, 250 * 0.085, 250 * 0.1, 250 * 0.12]


def _reflect_py(cc: float, n: int) -> float:
    """scipy.ndimage's NI_EXTEND_REFLECT mapping of a coordinate outside [0, n - 1] (its C code,
    including the truncating integer casts)."""
    if n <= 1:
        return 0.0 if (cc < 0 or cc > n - 1) else cc
    sz2 = 2 * n
    if cc < 0:
        if cc < -sz2:
            cc = sz2 * int(-cc / sz2) + cc
        return cc + sz2 if cc < -n else -cc - 1
    if cc > n - 1:
        cc -= sz2 * int(cc / sz2)
        if cc >= n:
            cc = sz2 - cc - 1
    return cc


_reflect = _compiled(_reflect_py)


def _reflect_index_py(idx: int, n: int) -> int:
    """The array index scipy.ndimage reads for a spline tap ``idx`` outside [0, n) in 'reflect' mode
    (half-sample symmetric, period 2n: -1 -> 0, n -> n - 1, -2n -> 0)."""
    if n <= 1:
        return 0
    m = idx % (2 * n)
    return m if m < n else 2 * n - 1 - m


_reflect_index = _compiled(_reflect_index_py)


def _map_coordinates_reflect_py(a: np.ndarray, ys: np.ndarray, xs: np.ndarray) -> np.ndarray:
    """``map_coordinates(a[..., c], (ys, xs), order=1, mode='reflect')`` for every channel c, with
    scipy's arithmetic (its 'reflect' mapping of coordinates and of taps; per output
    ``t = 0.0; t += (a[tap] * w_y) * w_x`` over the four taps in row-major order, float64, cast to
    ``a``'s dtype)."""
    h, w, n_c = a.shape
    out = np.empty((ys.shape[0], ys.shape[1], n_c), a.dtype)
    for i in range(ys.shape[0]):
        for j in range(ys.shape[1]):
            cy, cx = _reflect(ys[i, j], h), _reflect(xs[i, j], w)
            if cy <= -1.0 or cx <= -1.0:
                for c in range(n_c):
                    out[i, j, c] = 0.0
                continue
            y0, x0 = math.floor(cy), math.floor(cx)
            wy0 = 1.0 - (cy - y0)
            wx0 = 1.0 - (cx - x0)
            ya, yb = _reflect_index(y0, h), _reflect_index(y0 + 1, h)
            xa, xb = _reflect_index(x0, w), _reflect_index(x0 + 1, w)
            for c in range(n_c):
                out[i, j, c] = _four_taps(a, ya, yb, xa, xb, c, wy0, wx0)
    return out


_map_coordinates_reflect = _compiled(_map_coordinates_reflect_py)

ELASTIC_ALPHA = [250 * 0.05, 250 * 0.065, 250 * 0.085, 250 * 0.1, 250 * 0.12]


def elastic_transform(image: Image.Image, severity: int = 1) -> np.ndarray:
    corr = compat.apply()
    image = np.array(image, dtype=np.float32) / 255.
    shape = image.shape
    sigma = np.array(shape[:2]) * 0.01
    alpha = ELASTIC_ALPHA[severity - 1]
    max_d = shape[0] * 0.005
    dx = (corr.gaussian(np.random.uniform(-max_d, max_d, size=shape[:2]), sigma, mode="reflect",
                        truncate=3) * alpha).astype(np.float32)
    dy = (corr.gaussian(np.random.uniform(-max_d, max_d, size=shape[:2]), sigma, mode="reflect",
                        truncate=3) * alpha).astype(np.float32)
    x, y = np.meshgrid(np.arange(shape[1]), np.arange(shape[0]))
    out = _map_coordinates_reflect(image, y + dy, x + dx)  # int64 + float32 -> float64, as the reference
    return np.clip(out, 0, 1) * 255


FROST = [(1, 0.4), (0.8, 0.6), (0.7, 0.7), (0.65, 0.7), (0.6, 0.75)]
FROST_FILES = ["frost1.png", "frost2.png", "frost3.png", "frost4.jpg", "frost5.jpg", "frost6.jpg"]


@functools.lru_cache(maxsize=None)
def _frost_image(idx: int) -> np.ndarray:
    """imagecorruptions' frost texture ``idx`` as cv2 reads it (BGR), decoded once per process."""
    import cv2
    from imagecorruptions import corruptions as ref
    img = cv2.imread(ref.resource_filename(ref.__name__, f"./frost/{FROST_FILES[idx]}"))
    img.flags.writeable = False
    return img


@functools.lru_cache(maxsize=32)
def _frost_texture(idx: int, dsize: tuple) -> np.ndarray:
    import cv2
    out = cv2.resize(_frost_image(idx), dsize=dsize, interpolation=cv2.INTER_CUBIC)
    out.flags.writeable = False
    return out


def frost_texture(hw: tuple) -> np.ndarray:
    """The reference's frost draws for an image of size ``hw``: a texture, its scale rule and a random
    crop, as an RGB uint8 array (textures read and resized once per (texture, size), not per call)."""
    idx = np.random.randint(5)
    f_h, f_w = _frost_image(idx).shape[:2]
    h, w = hw
    if f_h >= h and f_w >= w:
        scale = 1
    elif f_h < h and f_w >= w:
        scale = h / f_h
    elif f_h >= h and f_w < w:
        scale = w / f_w
    else:
        scale = np.maximum(h / f_h, w / f_w)
    scale *= 1.1
    texture = _frost_texture(idx, (int(np.ceil(f_w * scale)), int(np.ceil(f_h * scale))))
    top, left = np.random.randint(0, texture.shape[0] - h), np.random.randint(0, texture.shape[1] - w)
    return texture[top:top + h, left:left + w][..., [2, 1, 0]]


def frost(x: Image.Image, severity: int = 1) -> np.ndarray:
    c = FROST[severity - 1]
    x = np.array(x)
    return np.clip(c[0] * x + c[1] * frost_texture(x.shape[:2]), 0, 255)


FAST = {"glass_blur": glass_blur, "zoom_blur": zoom_blur, "brightness": brightness, "saturate": saturate,
        "elastic_transform": elastic_transform, "motion_blur": motion_blur, "snow": snow, "frost": frost}


def fast_imagecorruptions(img: np.ndarray, name: str, severity: int) -> np.ndarray:
    if name not in FAST:
        return corrupt_with_generator(img, name, severity, IMAGECORRUPTIONS)
    return np.uint8(FAST[name](Image.fromarray(rgb3(img)), severity))

