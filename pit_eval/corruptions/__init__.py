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
<- this module.
"""
from .backends import BACKENDS, corrupt_image, render_seed
from .names import (COMMON, EXTRA, GROUPS, IMAGECORRUPTIONS, IMAGENET_C, PROTOCOLS, RELEASED_PROTOCOL,
                    SEVERITIES, check_protocol, parse_corruptions, parse_severities)
from . import torch_backend, fast, fast_imagenet_c  # noqa: E402,F401  (register the 'fast' and 'torch' backends)
from .imagenet_c import CorruptedImageNet, ImageNetCPass, jpeg_round_trip

__all__ = ["BACKENDS", "COMMON", "EXTRA", "GROUPS", "IMAGECORRUPTIONS", "IMAGENET_C", "PROTOCOLS",
           "RELEASED_PROTOCOL", "SEVERITIES", "CorruptedImageNet", "ImageNetCPass", "check_protocol",
           "corrupt_image", "jpeg_round_trip", "parse_corruptions", "parse_severities", "render_seed"]
