"""ImageNet-C corruptions: names, groups, deterministic rendering, and the on-the-fly dataset.

Rendering follows the released protocol (Hendrycks & Dietterich): clean image -> Resize(256) ->
CenterCrop(224) -> corrupt -> JPEG (quality 85) round trip. Each render is seeded from
(seed, image key, corruption, severity) alone, so the pixels do not depend on worker count, rank
count or order. Backends: ``reference`` (imagecorruptions 1.1.2 through :mod:`pit_eval.compat`) and
``fast`` (:mod:`pit_eval.fast_corruptions`, bit-identical, the default).
"""
from __future__ import annotations

import hashlib
import io
from typing import Callable, Dict, Iterable, List, Tuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms as T

from . import compat
from .images import ImageList
from .registry import Registry, unknown_name_message

COMMON = ("gaussian_noise", "shot_noise", "impulse_noise", "defocus_blur", "glass_blur",
          "motion_blur", "zoom_blur", "snow", "frost", "fog", "brightness", "contrast",
          "elastic_transform", "pixelate", "jpeg_compression")
EXTRA = ("speckle_noise", "gaussian_blur", "spatter", "saturate")
GROUPS: Dict[str, Tuple[str, ...]] = {
    "common": COMMON, "benchmark": COMMON, "extra": EXTRA, "validation": EXTRA,
    "all": COMMON + EXTRA, "noise": COMMON[0:3], "blur": COMMON[3:7], "weather": COMMON[7:10],
    "digital": COMMON[10:15],
}
SEVERITIES = (1, 2, 3, 4, 5)

compat.apply()  # patch imagecorruptions once, for us and for mmdet's own Corrupt transform

#: backend name -> function(image uint8 HxWx3, corruption, severity) -> uint8 HxWx3.
#: The global np.random state is seeded by the caller.
BACKENDS: Registry[Callable[[np.ndarray, str, int], np.ndarray]] = Registry("corruption backend")


@BACKENDS.register("reference")
def _reference(img: np.ndarray, name: str, severity: int) -> np.ndarray:
    from imagecorruptions import corrupt
    return corrupt(img, severity=severity, corruption_name=name)


def parse_corruptions(spec: str | Iterable[str]) -> List[str]:
    """'blur,snow' / 'common' / ['noise', 'fog'] -> ordered unique corruption names."""
    items = [s.strip() for s in (spec.split(",") if isinstance(spec, str) else spec) if s.strip()]
    out: List[str] = []
    for item in items:
        if item in GROUPS:
            names = GROUPS[item]
        elif item in GROUPS["all"]:
            names = (item,)
        else:
            raise ValueError(unknown_name_message("corruption or group", item,
                                                  list(GROUPS) + list(GROUPS["all"])))
        out.extend(n for n in names if n not in out)
    if not out:
        raise ValueError("no corruption selected; give names or groups, e.g. --corruptions common")
    return out


def parse_severities(spec: str | Iterable[int]) -> List[int]:
    items = spec.split(",") if isinstance(spec, str) else list(spec)
    out = []
    for s in items:
        try:
            v = int(s)
        except (TypeError, ValueError):
            raise ValueError(f"severity {s!r} is not an integer; use values 1..5, e.g. --severities 3,4,5") from None
        if v not in SEVERITIES:
            raise ValueError(f"severity {v} is outside 1..5; use e.g. --severities 1,2,3,4,5")
        if v not in out:
            out.append(v)
    if not out:
        raise ValueError("no severity selected; use e.g. --severities 1,2,3,4,5")
    return sorted(out)


def render_seed(seed: int, key: str, corruption: str, severity: int) -> int:
    """A 32-bit seed that depends only on (seed, image key, corruption, severity)."""
    digest = hashlib.sha256(f"{seed}|{key}|{corruption}|{severity}".encode()).digest()
    return int.from_bytes(digest[:4], "little")


def corrupt_image(img: np.ndarray, corruption: str, severity: int, *, seed_value: int,
                  backend: str = "fast") -> np.ndarray:
    """Corrupt one uint8 HxWx3 (or HxW) image deterministically; restores the global RNG state."""
    fn = BACKENDS.get(backend)
    state = np.random.get_state()
    try:
        np.random.seed(seed_value)
        return np.uint8(fn(img, corruption, severity))
    finally:
        np.random.set_state(state)


def jpeg_round_trip(img: np.ndarray, quality: int = 85) -> Image.Image:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return out


class CorruptedImageNet(Dataset):
    """ImageNet-C rendered on the fly from a clean :class:`ImageList` (released protocol)."""

    def __init__(self, base: ImageList, corruption: str, severity: int, *, seed: int = 0,
                 backend: str = "fast", input_size: int = 224, jpeg_quality: int = 85) -> None:
        BACKENDS.get(backend)
        self.base, self.corruption, self.severity = base, corruption, severity
        self.seed, self.backend, self.jpeg_quality = seed, backend, jpeg_quality
        self.prepare = T.Compose([T.Resize(256), T.CenterCrop(224)])  # as make_imagenet_c.py
        self.finish = T.Compose([T.CenterCrop(input_size), T.PILToTensor()])

    def __len__(self) -> int:
        return len(self.base)

    def render(self, index: int) -> Image.Image | None:
        img = self.base.load(index)
        if img is None:
            return None
        arr = np.asarray(self.prepare(img))
        seed_value = render_seed(self.seed, self.base.key(index), self.corruption, self.severity)
        out = corrupt_image(arr, self.corruption, self.severity, seed_value=seed_value,
                            backend=self.backend)
        return jpeg_round_trip(out, self.jpeg_quality)

    def __getitem__(self, index: int):
        img = self.render(index)
        if img is None:
            return torch.zeros(3, 1, 1, dtype=torch.uint8), -1
        return self.finish(img), self.base.samples[index][1]


from . import fast_corruptions  # noqa: E402,F401  (registers the 'fast' backend)
