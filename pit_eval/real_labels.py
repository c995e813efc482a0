"""ImageNet-ReaL (Beyer et al. 2020, "Are we done with ImageNet?"; google-research/reassessed-imagenet
``real.json``): a set of plausible labels per ImageNet val image, indexed by the number in its file
name (``ILSVRC2012_val_00000001.JPEG`` is entry 0); an image with an empty set is left out. Scored as
timm's ``RealLabelsImagenet`` scores it: top-k is right when any of the top-k classes is in the set.

Where the labels come from (the clean benchmark's ``--real-labels``): ``auto`` (default) a
``real.json`` beside the val folder, else the copy inside the installed timm package
(``timm/data/_info/imagenet_real_labels.json``), used only when every val file has its
``ILSVRC2012_val_*`` name; ``timm``; a path; ``none``. Page: docs/benchmarks/imagenet.md."""
from __future__ import annotations

import hashlib
import json
import re
from pathlib import Path
from typing import List, Optional, Sequence, Tuple

from .images import DataError

VAL_NAME = re.compile(r"ILSVRC2012_val_(\d{8})\.JPEG$")
CHOICES = ("auto", "timm", "none")


def timm_copy() -> Path:
    import timm.data
    return Path(timm.data.__file__).parent / "_info" / "imagenet_real_labels.json"


def locate(value: str, val_root: Optional[str]) -> Tuple[Optional[Path], str]:
    """(the labels file or None, what it is) for an option value."""
    if value == "none":
        return None, "none"
    if value == "timm":
        return timm_copy(), "timm's copy"
    if value == "auto":
        beside = Path(val_root).parent / "real.json" if val_root else None
        if beside is not None and beside.is_file():
            return beside, f"{beside} (beside the val folder)"
        return timm_copy(), "timm's copy"
    path = Path(value)
    if not path.is_file():
        raise DataError(f"--real-labels {value}: no such file; give real.json of google-research/"
                        "reassessed-imagenet, 'timm' (the copy timm installs), 'auto' or 'none'")
    return path, str(path)


def load(path: Path) -> Tuple[List[List[int]], str]:
    """The label sets and the file's sha256."""
    data = path.read_bytes()
    try:
        sets = json.loads(data)
    except json.JSONDecodeError as e:
        raise DataError(f"--real-labels {path}: not JSON ({e}); give reassessed-imagenet's real.json") from None
    if not isinstance(sets, list) or not all(isinstance(s, list) for s in sets):
        raise DataError(f"--real-labels {path}: expected a list of label lists, one per val image")
    return sets, hashlib.sha256(data).hexdigest()


def per_sample(paths: Sequence[str], sets: List[List[int]], strict: bool) -> Optional[List[List[int]]]:
    """Each sample's label set from its file name; a name that is not ``ILSVRC2012_val_<n>.JPEG`` is
    refused (``strict``: the labels were asked for) or turns ReaL off (None)."""
    out = []
    for p in paths:
        m = VAL_NAME.search(p)
        if m is None or int(m.group(1)) > len(sets):
            if not strict:
                return None
            raise DataError(f"--real-labels: val image {p!r} is not named ILSVRC2012_val_<n>.JPEG (1..{len(sets)}); "
                            "ReaL labels are indexed by that number — give the val tree with its original "
                            "file names, or --real-labels none")
        out.append(list(sets[int(m.group(1)) - 1]))
    return out
