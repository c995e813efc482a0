"""ImageNet-C corruptions, one package:

* :mod:`.names` — the 15 benchmark + 4 extra corruptions, groups, severities, argument parsers, and
  the two protocols (generators): ``imagenet-c`` (Hendrycks', the released set's) and
  ``imagecorruptions`` (Michaelis et al.'s, COCO-C's);
* :mod:`.compat` — makes both generators run (and seed) on numpy 2 / scikit-image >= 0.20;
* :mod:`.backends` — the backend registry, per-image seeding, ``corrupt_image``, the ``reference``
  backend (the generator itself);
* :mod:`.fast`, :mod:`.fast_imagenet_c` — the ``fast`` backend: each generator's pixels bit for bit,
  computed faster;
* :mod:`.torch_backend` — the ``torch`` backend: whole batches on the evaluation device, validated against
  ``fast`` (it leaves the cells it cannot render to ``fast``);
* :mod:`.imagenet_c` — ImageNet-C rendered on the fly (the released set's pipeline), cell by cell or
  many cells from one decode of each image.

Imports go one way: names, compat <- backends <- fast <- fast_imagenet_c <- torch_backend <- imagenet_c
<- this module. The names load with the package (the lower layers read them: results, metrics); the
backends, which import torch and the generators, load on first use of any of them, all together, so
that the registry always holds the 'fast' and 'torch' backends.
"""
import importlib

from .names import (COMMON, EXTRA, GROUPS, IMAGECORRUPTIONS, IMAGENET_C, PROTOCOLS, RELEASED_PROTOCOL,
                    SEVERITIES, check_protocol, parse_corruptions, parse_severities)

#: what the package offers from its backends: name -> the module that holds it
_BACKEND_NAMES = {"BACKENDS": "backends", "corrupt_image": "backends", "render_seed": "backends",
                  "CorruptedImageNet": "imagenet_c", "ImageNetCPass": "imagenet_c", "jpeg_round_trip": "imagenet_c"}
_BACKEND_MODULES = ("backends", "compat", "fast", "fast_imagenet_c", "torch_backend", "imagenet_c")


_loading = False


def __getattr__(name: str):
    global _loading
    if _loading or (name not in _BACKEND_NAMES and name not in _BACKEND_MODULES):
        # while the backends load, their own ``from . import x`` falls through to a plain submodule import
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    _loading = True
    try:
        for module in _BACKEND_MODULES:     # registers the 'fast' and 'torch' backends
            importlib.import_module(f"{__name__}.{module}")
    finally:
        _loading = False
    for attr, module in _BACKEND_NAMES.items():
        globals()[attr] = getattr(globals()[module], attr)
    return globals()[name]

__all__ = ["BACKENDS", "COMMON", "EXTRA", "GROUPS", "IMAGECORRUPTIONS", "IMAGENET_C", "PROTOCOLS",
           "RELEASED_PROTOCOL", "SEVERITIES", "CorruptedImageNet", "ImageNetCPass", "check_protocol",
           "corrupt_image", "jpeg_round_trip", "parse_corruptions", "parse_severities", "render_seed"]
