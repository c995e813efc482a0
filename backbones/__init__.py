"""MMDetection backbones of pit_eval; importing this package registers them (``custom_imports``)."""
from .pit import PiT
from .vit import TimmViT
from pit_eval import mmdet_ext  # noqa: F401  (hooks and transforms used by the configs)

__all__ = ["PiT", "TimmViT"]
