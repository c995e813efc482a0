"""The corruption backends and deterministic rendering of one image.

Each render is seeded from (seed, image key, corruption, severity) alone, so the pixels do not depend
on worker count, rank count or order. Each backend renders either protocol (:data:`.names.PROTOCOLS`):
``reference`` (the generator itself through :mod:`.compat`: Hendrycks' imagenet-c 0.0.3 or
imagecorruptions 1.1.2), ``fast`` (:mod:`.fast`, :mod:`.fast_imagenet_c`: the same pixels computed
faster; the default) and ``torch`` (:mod:`.torch_backend`).
"""
from __future__ import annotations

import hashlib
from typing import Callable

import numpy as np

from ..registry import Registry
from . import compat
from .names import IMAGECORRUPTIONS, IMAGENET_C, check_protocol

compat.apply()  # patch imagecorruptions once, for us and for mmdet's own Corrupt transform

#: backend name -> function(image uint8 HxWx3, corruption, severity, protocol) -> uint8 HxWx3.
#: The global np.random state is seeded by the caller.
BACKENDS: Registry[Callable[[np.ndarray, str, int, str], np.ndarray]] = Registry("corruption backend")


#: the one image size of the imagenet-c protocol
SIZE = 224


def check_size(shape: tuple) -> None:
    """Refuse an image whose (height, width, ...) ``shape`` is not the imagenet-c protocol's."""
    if tuple(shape[:2]) != (SIZE, SIZE):
        raise ValueError(f"the imagenet-c protocol renders {SIZE}x{SIZE} images (Hendrycks' generator "
                         f"hard-codes the size; the on-the-fly pipeline makes them with Resize(256) and "
                         f"CenterCrop(224)); got {shape[0]}x{shape[1]}. For other sizes use "
                         f"--corruption-protocol {IMAGECORRUPTIONS}")


def corrupt_with_generator(img: np.ndarray, name: str, severity: int, protocol: str) -> np.ndarray:
    """``protocol``'s generator itself."""
    if protocol == IMAGENET_C:
        img = rgb3(img)
        check_size(img.shape)
        compat.apply_imagenet_c()
        import imagenet_c
        return imagenet_c.corrupt(img, severity=severity, corruption_name=name)
    from imagecorruptions import corrupt
    return corrupt(img, severity=severity, corruption_name=name)


def rgb3(img: np.ndarray) -> np.ndarray:
    """A grayscale HxW or HxWx1 image as HxWx3, as imagecorruptions' ``corrupt`` makes it."""
    if img.ndim == 2:
        return np.stack((img,) * 3, axis=-1)
    if img.shape[2] == 1:
        return np.concatenate([img] * 3, axis=-1)
    return img


BACKENDS.register("reference")(corrupt_with_generator)


def render_seed(seed: int, key: str, corruption: str, severity: int) -> int:
    """A 32-bit seed that depends only on (seed, image key, corruption, severity)."""
    digest = hashlib.sha256(f"{seed}|{key}|{corruption}|{severity}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def corrupt_image(img: np.ndarray, corruption: str, severity: int, *, seed_value: int,
                  backend: str = "fast", protocol: str = IMAGECORRUPTIONS) -> np.ndarray:
    """Corrupt one uint8 HxWx3 (or HxW) image deterministically under ``protocol`` (imagecorruptions,
    COCO-C's, unless told); restores the global RNG state."""
    fn = BACKENDS.get(backend)
    check_protocol(protocol)
    state = np.random.get_state()
    try:
        np.random.seed(seed_value)
        return np.uint8(fn(img, corruption, severity, protocol))
    finally:
        np.random.set_state(state)
