"""ViT / DeiT (timm) as an MMDetection 3.x backbone: multi-scale maps from chosen blocks, the way
the PiT paper built its ViT-S detection baseline (blocks 2, 8, 12)."""
from __future__ import annotations

from typing import Optional, Sequence, Tuple

import timm
import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmdet.registry import MODELS

from ._weights import load_pretrained


@MODELS.register_module()
class TimmViT(BaseModule):
    """A timm Vision Transformer whose blocks ``out_blocks`` (1-based) are returned as NCHW maps.

    Args:
        model_name (str): timm architecture, e.g. ``'deit_small_patch16_224'``.
        out_blocks (Sequence[int]): 1-based block numbers to output (paper: 2, 8, 12).
        out_scales (Sequence[float], optional): per output, a resize factor applied to the stride-16
            map (e.g. ``(2, 1, 0.5)`` gives strides 8/16/32 for multi-scale heads); ``None`` keeps 16.
        frozen_blocks (int): freeze the patch embedding and the first ``frozen_blocks`` blocks
            (-1: nothing frozen).
        drop_path_rate (float): stochastic depth rate.
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=<timm hub id or file>)``.
    The position embedding is resized to every input size by timm (``dynamic_img_size``).
    """

    def __init__(self, model_name: str = "deit_small_patch16_224", out_blocks: Sequence[int] = (12,),
                 out_scales: Optional[Sequence[float]] = None, frozen_blocks: int = -1,
                 drop_path_rate: float = 0.1, init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        self.vit = timm.create_model(model_name, pretrained=False, num_classes=0, global_pool="",
                                     dynamic_img_size=True, dynamic_img_pad=True,
                                     drop_path_rate=drop_path_rate)
        n = len(self.vit.blocks)
        if not out_blocks or any(not 1 <= b <= n for b in out_blocks):
            raise ValueError(f"out_blocks must be in 1..{n}, got {out_blocks}")
        if out_scales is not None and len(out_scales) != len(out_blocks):
            raise ValueError("out_scales needs one factor per out_blocks entry")
        self.model_name = model_name
        self.out_blocks = tuple(out_blocks)
        self.out_scales = tuple(out_scales) if out_scales is not None else None
        self.frozen_blocks = frozen_blocks
        self.patch_size = self.vit.patch_embed.patch_size[0]
        self.out_channels = [self.vit.embed_dim] * len(out_blocks)

    def init_weights(self) -> None:
        if self.init_cfg and self.init_cfg.get("type") == "Pretrained":
            load_pretrained(self.vit, self.model_name, self.init_cfg["checkpoint"])
        else:
            super().init_weights()

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        h, w = x.shape[-2:]
        if h < self.patch_size or w < self.patch_size:
            raise ValueError(f"ViT input {h}x{w} is smaller than one patch ({self.patch_size} px)")
        feats = self.vit.forward_intermediates(x, indices=[b - 1 for b in self.out_blocks],
                                               intermediates_only=True, output_fmt="NCHW")
        if self.out_scales is None:
            return tuple(feats)
        return tuple(f if s == 1 else F.interpolate(f, scale_factor=s, mode="bilinear", align_corners=False)
                     for f, s in zip(feats, self.out_scales))

    def train(self, mode: bool = True) -> "TimmViT":
        super().train(mode)
        if self.frozen_blocks >= 0:
            for m in [self.vit.patch_embed] + list(self.vit.blocks[:self.frozen_blocks]):
                m.eval()
                for p in m.parameters():
                    p.requires_grad = False
            for name in ("pos_embed", "cls_token", "reg_token", "dist_token"):
                p = getattr(self.vit, name, None)
                if isinstance(p, torch.nn.Parameter):
                    p.requires_grad = False
        return self
