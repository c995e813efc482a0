"""Pretrained-weight loading shared by the mmdet backbones: a timm hub id or a local file (timm,
original release, safetensors, wrapped checkpoints) through pit_eval's safe loader."""
from __future__ import annotations

from typing import Iterable

import timm
from mmengine.logging import MMLogger
from torch import nn

from pit_eval.models import (WeightsError, convert_state_dict, hub_offline_if_unreachable, load_strict,
                             read_state_dict)

#: keys of the classification model that a detection backbone does not use
CLASSIFIER_KEYS = ("head.", "head_dist.", "norm.", "fc_norm.")


def load_pretrained(model: nn.Module, timm_arch: str, checkpoint: str,
                    ignore_prefixes: Iterable[str] = CLASSIFIER_KEYS) -> None:
    """Load ``checkpoint`` into ``model`` (a timm model without classifier), strictly except for the
    classifier keys, and log what was loaded and what was ignored."""
    logger = MMLogger.get_current_instance()
    if checkpoint.startswith(("timm/", "hf-hub:", "hub:")):
        hub_id = checkpoint.split(":", 1)[1] if checkpoint.startswith(("hf-hub:", "hub:")) else checkpoint
        try:
            with hub_offline_if_unreachable():
                src = timm.create_model(f"hf-hub:{hub_id}", pretrained=True)
        except Exception as e:
            raise WeightsError(f"could not fetch backbone weights {checkpoint!r} from the Hugging Face "
                               f"hub ({e.__class__.__name__}); offline, download them elsewhere and set "
                               "init_cfg.checkpoint to the local file") from None
        sd = src.state_dict()
        origin = f"hub {checkpoint}"
    else:
        sd = read_state_dict(checkpoint)
        origin = f"file {checkpoint}"
    sd, converted = convert_state_dict(sd, model)
    ignore = tuple(ignore_prefixes)
    own = model.state_dict()
    dropped = sorted(k for k in sd if k.startswith(ignore) and k not in own)
    sd = {k: v for k, v in sd.items() if k not in dropped}
    load_strict(model, sd, f"backbone weights {origin}")
    logger.info(f"{type(model).__name__} ({timm_arch}): loaded {len(sd)} tensors from {origin}"
                + (f" [{converted}]" if converted else "")
                + (f"; ignored classifier keys: {', '.join(dropped)}" if dropped else ""))
