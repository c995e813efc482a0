"""ImageNet-C corruptions, one package:

* :mod:`.names` — the 15 benchmark + 4 extra corruptions, groups, severities, argument parsers;
* :mod:`.compat` — makes imagecorruptions 1.1.2 run (and seed) on numpy 2 / scikit-image >= 0.20;
* :mod:`.backends` — the backend registry, per-image seeding, ``corrupt_image``, the ``reference``
  backend (imagecorruptions itself);
* :mod:`.exact` — the ``fast`` backend: imagecorruptions' pixels bit for bit, computed faster;
* :mod:`.batched` — the ``torch`` backend: whole batches on the evaluation device, validated against
  ``fast`` (it leaves shot_noise, pixelate, jpeg_compression and spatter to ``fast``);
* :mod:`.imagenet_c` — ImageNet-C rendered on the fly (released protocol), cell by cell or many cells
  from one decode of each image.

Imports go one way: names, compat <- backends <- exact <- batched <- imagenet_c <- this module.
"""
from .backends import BACKENDS, corrupt_image, reference, render_seed
from .names import (COMMON, EXTRA, GROUPS, RELEASED_PROTOCOL, SEVERITIES, parse_corruptions,
                    parse_severities)
from . import batched, exact  # noqa: E402,F401  (register the 'fast' and 'torch' backends)
from .imagenet_c import CorruptedImageNet, ImageNetCPass, jpeg_round_trip

__all__ = ["BACKENDS", "COMMON", "EXTRA", "GROUPS", "RELEASED_PROTOCOL", "SEVERITIES", "CorruptedImageNet", "ImageNetCPass", "corrupt_image",
           "jpeg_round_trip", "parse_corruptions", "parse_severities", "reference", "render_seed"]
