"""ImageNet-C corruption names, groups and severities, and the parsers of ``--corruptions`` /
``--severities``."""
from __future__ import annotations

from typing import Dict, Iterable, List, Tuple

from ..registry import unknown_name_message

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
#: the protocol name of ImageNet-C cells read from the released files (the only one whose mCE is
#: compared with published values)
RELEASED_PROTOCOL = "released ImageNet-C files"


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
