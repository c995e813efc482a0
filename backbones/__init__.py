"""MMDetection backbones of pit_eval; importing this package registers them (``custom_imports``)."""
from pit_eval.extras import require_detection

require_detection()  # on the core install: one message naming the install command

from .pit import PiT  # noqa: E402
from .vit import TimmViT  # noqa: E402
from pit_eval import mmdet_ext  # noqa: F401  (hooks and transforms used by the configs)

__all__ = ["PiT", "TimmViT"]
