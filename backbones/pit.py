"""PiT (Heo et al., ICCV 2021) as an MMDetection 3.x backbone, built on timm's PiT modules."""
from __future__ import annotations

from typing import Dict, Optional, Sequence, Tuple, Union

import torch
import torch.nn.functional as F
from mmengine.model import BaseModule
from mmdet.registry import MODELS
from timm.models.pit import PoolingVisionTransformer

from ._weights import load_pretrained

#: architecture numbers (naver-ai/pit and timm pit.py)
ARCHS: Dict[str, dict] = {
    "ti": dict(patch_size=16, stride=8, base_dims=(32, 32, 32), depth=(2, 6, 4), heads=(2, 4, 8)),
    "xs": dict(patch_size=16, stride=8, base_dims=(48, 48, 48), depth=(2, 6, 4), heads=(2, 4, 8)),
    "s": dict(patch_size=16, stride=8, base_dims=(48, 48, 48), depth=(2, 6, 4), heads=(3, 6, 12)),
    "b": dict(patch_size=14, stride=7, base_dims=(64, 64, 64), depth=(3, 6, 4), heads=(4, 8, 16)),
}
TIMM_NAMES = {"ti": "pit_ti_224", "xs": "pit_xs_224", "s": "pit_s_224", "b": "pit_b_224"}


def resize_pos_embed(pos_embed: torch.Tensor, grid: Tuple[int, int]) -> torch.Tensor:
    """Bicubic resize of a (1, C, H, W) position embedding to ``grid`` (identity when equal)."""
    if tuple(pos_embed.shape[-2:]) == tuple(grid):
        return pos_embed
    return F.interpolate(pos_embed, size=grid, mode="bicubic", align_corners=False)


@MODELS.register_module()
class PiT(BaseModule):
    """Pooling-based Vision Transformer backbone.

    Args:
        arch (str | dict): ``'ti' | 'xs' | 's' | 'b'`` or a dict with ``patch_size``, ``stride``,
            ``base_dims``, ``depth``, ``heads``.
        out_indices (Sequence[int]): stages to output (0, 1, 2 -> strides ~8, 16, 32).
        frozen_stages (int): stages to freeze (-1: none; 0: patch embedding + pos/cls tokens;
            k >= 1: also stages 0..k-1). Re-applied by ``train()``.
        drop_path_rate (float): stochastic depth rate.
        pretrain_img_size (int): the size the position embedding was trained at (224).
        init_cfg (dict, optional): ``dict(type='Pretrained', checkpoint=...)`` with a timm hub id
            (``'timm/pit_s_224.in1k'``) or a local timm / naver-ai / safetensors file.

    Outputs NCHW maps of every input size (padded batches included): the position embedding is
    resized to the token grid of the input (bicubic; cached per grid size when no gradient flows).
    The cls token is dropped from the maps.
    """

    def __init__(self, arch: Union[str, dict] = "s", out_indices: Sequence[int] = (2,),
                 frozen_stages: int = -1, drop_path_rate: float = 0.1, pretrain_img_size: int = 224,
                 init_cfg: Optional[dict] = None) -> None:
        super().__init__(init_cfg=init_cfg)
        if isinstance(arch, str):
            if arch not in ARCHS:
                raise ValueError(f"PiT arch {arch!r} unknown; use one of {list(ARCHS)} or a dict")
            self.timm_name = TIMM_NAMES[arch]
            arch = ARCHS[arch]
        else:
            self.timm_name = "custom"
        bad = [i for i in out_indices if i not in (0, 1, 2)]
        if bad or not out_indices:
            raise ValueError(f"PiT out_indices must be a non-empty subset of (0, 1, 2), got {out_indices}")
        self.out_indices = tuple(sorted(out_indices))
        self.frozen_stages = frozen_stages
        self.patch_size = arch["patch_size"]
        self.pit = PoolingVisionTransformer(img_size=pretrain_img_size, num_classes=0, global_pool="",
                                            drop_path_rate=drop_path_rate, **arch)
        self.pit.norm = torch.nn.Identity()  # only used on the cls token by the classifier
        self.out_channels = [arch["base_dims"][i] * arch["heads"][i] for i in self.out_indices]
        self._pos_cache: Dict[Tuple[int, int], torch.Tensor] = {}

    def init_weights(self) -> None:
        if self.init_cfg and self.init_cfg.get("type") == "Pretrained":
            load_pretrained(self.pit, self.timm_name, self.init_cfg["checkpoint"])
            self._pos_cache.clear()
        else:
            super().init_weights()

    def _pos_embed(self, grid: Tuple[int, int]) -> torch.Tensor:
        if torch.is_grad_enabled() and self.pit.pos_embed.requires_grad:
            return resize_pos_embed(self.pit.pos_embed, grid)
        cached = self._pos_cache.get(grid)
        if cached is None or cached.device != self.pit.pos_embed.device:
            cached = self._pos_cache[grid] = resize_pos_embed(self.pit.pos_embed.detach(), grid)
        return cached

    def forward(self, x: torch.Tensor) -> Tuple[torch.Tensor, ...]:
        h, w = x.shape[-2:]
        if h < self.patch_size or w < self.patch_size:
            raise ValueError(f"PiT input {h}x{w} is smaller than one patch ({self.patch_size} px)")
        x = self.pit.patch_embed(x)
        x = self.pit.pos_drop(x + self._pos_embed(tuple(x.shape[-2:])))
        cls_tokens = self.pit.cls_token.expand(x.shape[0], -1, -1)
        outs = []
        for i, stage in enumerate(self.pit.transformers):
            x, cls_tokens = stage((x, cls_tokens))
            if i in self.out_indices:
                outs.append(x)
            if i == self.out_indices[-1]:
                break
        return tuple(outs)

    def _freeze_stages(self) -> None:
        if self.frozen_stages < 0:
            return
        frozen = [self.pit.patch_embed] + list(self.pit.transformers[:self.frozen_stages])
        for m in frozen:
            m.eval()
            for p in m.parameters():
                p.requires_grad = False
        self.pit.pos_embed.requires_grad = False
        self.pit.cls_token.requires_grad = False

    def train(self, mode: bool = True) -> "PiT":
        super().train(mode)
        self._freeze_stages()
        self._pos_cache.clear()
        return self
