"""The optional detection install: which packages it adds to the core, and one clear error when a
detection command or config runs without them.

The core install (``pip install .``, ``make demo``) is everything robustness, the paper's robustness
and classification tables, the API, the reports and AutoAttack need: nothing compiled. Detection adds
mmdet, mmengine, pycocotools, openmim and mmcv 2.1.0 with its compiled ops (``make detection-setup``).
"""
from __future__ import annotations

import importlib.util
from typing import List

#: module -> what provides it
DETECTION_MODULES = {"mmcv": "mmcv 2.1.0 with ops (built by make detection-setup)", "mmdet": "mmdet 3.3",
                     "mmengine": "mmengine", "pycocotools": "pycocotools"}
DETECTION_INSTALL = ("detection needs the detection install, which this environment lacks ({missing}): "
                     "run `make detection-setup` (= bash scripts/setup.sh --detection), or "
                     "pip install '.[detection]' and build mmcv 2.1.0 with its ops as the README's Setup shows")


class MissingInstall(ImportError):
    """A part of pit_eval was used without the packages it needs; the message names the install."""


class DetectionInstallMissing(MissingInstall):
    """A detection command or config was used on the core install."""


def missing_detection_modules() -> List[str]:
    missing = []
    for name in DETECTION_MODULES:
        try:
            found = importlib.util.find_spec(name) is not None
        except (ImportError, ValueError):  # a module set to None in sys.modules, or a broken install
            found = False
        if not found:
            missing.append(name)
    return missing


def require_detection() -> None:
    """Raise :class:`DetectionInstallMissing` naming the missing packages and the install command."""
    missing = missing_detection_modules()
    if missing:
        raise DetectionInstallMissing(DETECTION_INSTALL.format(
            missing=", ".join(f"{m}: {DETECTION_MODULES[m]}" for m in missing)))
