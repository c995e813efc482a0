"""ImageNet-C corruption names, groups and severities, and the parsers of ``--corruptions`` /
``--severities``."""
from __future__ import annotations

from typing import Dict, Iterable, List, Optional, Tuple

from ..registry import check_choice, unknown_name_message

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
#: the key of a corruption grid's uncorrupted cell (COCO-C's P; ImageNet-C reads the clean benchmark's)
UNCORRUPTED = "clean"
#: AlexNet top-1 error averaged over severities 1..5, per benchmark corruption (ImageNet-C repository).
ALEXNET_ERR: Dict[str, float] = {
    "gaussian_noise": 0.886428, "shot_noise": 0.894468, "impulse_noise": 0.922640,
    "defocus_blur": 0.819880, "glass_blur": 0.826268, "motion_blur": 0.785948, "zoom_blur": 0.798360,
    "snow": 0.866816, "frost": 0.826572, "fog": 0.819324, "brightness": 0.564592,
    "contrast": 0.853204, "elastic_transform": 0.646056, "pixelate": 0.717840,
    "jpeg_compression": 0.606500,
}
ALEXNET_CLEAN_ERR = 0.4348

#: the protocol name of ImageNet-C cells read from the released files (the only one whose mCE is
#: compared with published values)
RELEASED_PROTOCOL = "released ImageNet-C files"

#: the two generators of corrupted images, by what each reproduces
IMAGENET_C, IMAGECORRUPTIONS = "imagenet-c", "imagecorruptions"
PROTOCOLS: Dict[str, str] = {
    IMAGENET_C: "Hendrycks & Dietterich's generator, the functions that made the released ImageNet-C "
                "(make_imagenet_c.py; PyPI imagenet-c 0.0.3); 224x224 images only",
    IMAGECORRUPTIONS: "Michaelis et al.'s imagecorruptions 1.1.2 (any image size), the generator of "
                      "mmdetection's COCO-C; its elastic_transform, frost crop, impulse-noise draws and "
                      "motion blur differ from the released ImageNet-C's",
}
#: the corruptions whose two generators differ (every other one renders the same pixels at 224x224,
#: tests/benchmarks/test_imagenet_c.py); spatter only at severities 4-5, by float rounding
PROTOCOL_SPECIFIC = ("impulse_noise", "motion_blur", "snow", "frost", "elastic_transform", "spatter")


def check_protocol(name: str) -> str:
    return check_choice("--corruption-protocol", name, PROTOCOLS)


def on_the_fly_source(protocol: str, backend: str, seed: int) -> str:
    """The ``source`` of an on-the-fly cell's data fingerprint: its protocol, backend and seed."""
    return f"on-the-fly:{protocol}:{backend}:seed={seed}"


def source_protocol(source: str) -> Optional[str]:
    """The protocol named by a cell's data ``source`` (None for the released files)."""
    parts = source.split(":")
    return parts[1] if parts[0] == "on-the-fly" and len(parts) == 4 else None


def source_backend(source: str) -> Optional[str]:
    """The backend that rendered an on-the-fly cell, from its data ``source`` (None for the files)."""
    parts = source.split(":")
    return parts[2] if parts[0] == "on-the-fly" and len(parts) == 4 else None


def with_protocol(data: Optional[dict]) -> Optional[dict]:
    """A stored data fingerprint in today's form: on-the-fly cells written before the two protocols
    (``on-the-fly:<backend>:seed=N``) were rendered by imagecorruptions."""
    src = (data or {}).get("source", "")
    parts = src.split(":")
    if parts[0] == "on-the-fly" and len(parts) == 3:
        return {**data, "source": on_the_fly_source(IMAGECORRUPTIONS, parts[1], int(parts[2].split("=")[1]))}
    return data


#: the summary's names of the ImageNet-C protocols a run's cells followed, and whether a published
#: (released-set) mCE may be compared with them
PROTOCOL_LABELS = {
    frozenset({None}): RELEASED_PROTOCOL,
    frozenset({IMAGENET_C}): "imagenet-c, on the fly",
    frozenset({None, IMAGENET_C}): "released files and imagenet-c on the fly",
    frozenset({IMAGECORRUPTIONS}): "imagecorruptions, on the fly",
    frozenset({None, IMAGECORRUPTIONS}): "mixed: released files and imagecorruptions on the fly",
    frozenset({IMAGENET_C, IMAGECORRUPTIONS}): "mixed: imagenet-c and imagecorruptions on the fly",
    frozenset({None, IMAGENET_C, IMAGECORRUPTIONS}): "mixed: released files, imagenet-c and imagecorruptions",
}
COMPARABLE_PROTOCOLS = (PROTOCOL_LABELS[frozenset({None})], PROTOCOL_LABELS[frozenset({IMAGENET_C})],
                        PROTOCOL_LABELS[frozenset({None, IMAGENET_C})])


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
