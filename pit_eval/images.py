"""Images: decoding any file to 8-bit RGB, eval transforms, and the image-list dataset (with
skip-aware collation) that every classification benchmark reads; ``DataError``, the error of bad
data. Where each dataset lives, its layout and labels: :mod:`pit_eval.datasets`."""
from __future__ import annotations

import io
import json
import logging
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError
from torch.utils.data import Dataset
from torchvision import transforms as T
from torchvision.transforms import InterpolationMode

logger = logging.getLogger(__name__)

IMG_EXTENSIONS = (".jpg", ".jpeg", ".png", ".bmp", ".ppm", ".pgm", ".tif", ".tiff", ".webp")
SAMPLE_ROOT = Path(__file__).parent / "assets" / "sample"
SAMPLE_NOTE = "sample data — not comparable to the paper"


def sample_photographs() -> List[Path]:
    """The embedded sample's val photographs (SOURCES.json ``val``), sorted; not its drawing."""
    names = json.loads((SAMPLE_ROOT / "SOURCES.json").read_text())["val"]
    return sorted(p for p in (SAMPLE_ROOT / "imagenet" / "val").rglob("*") if p.is_file() and p.stem in names)


class DataError(ValueError):
    """A dataset folder or file is missing, empty or malformed; the message names it."""


class BadImageError(DataError):
    pass


def load_rgb(path: str | os.PathLike) -> Image.Image:
    """Decode any image to 8-bit RGB: grayscale is replicated, CMYK converted, alpha composited on
    white, 16-bit scaled (not clipped) to 8-bit. Raises BadImageError naming the file."""
    path = str(path)
    if os.path.getsize(path) == 0:
        raise BadImageError(f"image file {path!r} is empty (0 bytes)")
    return _decode(path, f"image {path!r}", "Fix or remove the file")


def decode_rgb(data: bytes, name: str) -> Image.Image:
    """:func:`load_rgb` for an image's bytes (a table row, a shard member); ``name`` says where they
    are in BadImageError."""
    if not data:
        raise BadImageError(f"{name} is empty (0 bytes)")
    return _decode(io.BytesIO(data), name, "Fix or remove the sample")


def _decode(source, name: str, fix: str) -> Image.Image:
    try:
        with Image.open(source) as im:
            im.load()
            return _to_rgb(im)
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError) as e:
        raise BadImageError(f"cannot decode {name}: {e}. {fix}, or pass --on-bad-image skip to count it "
                            "as skipped") from None


def _to_rgb(im: Image.Image) -> Image.Image:
    if im.mode in ("I;16", "I;16B", "I;16L", "I"):
        a = np.asarray(im, dtype=np.float64)
        scale = 257.0 if im.mode.startswith("I;16") or a.max() > 255 else 1.0
        im = Image.fromarray(np.clip(np.round(a / scale), 0, 255).astype(np.uint8), "L")
    if im.mode == "P":
        im = im.convert("RGBA" if "transparency" in im.info else "RGB")
    if im.mode in ("RGBA", "LA", "PA"):
        rgba = im.convert("RGBA")
        bg = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(bg, rgba).convert("RGB")
    return im.convert("RGB")


# ----------------------------------------------------------------------------- transforms
@dataclass(frozen=True)
class EvalTransform:
    """Resize -> CenterCrop -> tensor in [0, 1] (normalisation happens inside the model)."""
    input_size: int = 224
    crop_pct: float = 0.875
    interpolation: str = "bicubic"
    mean: Tuple[float, ...] = (0.485, 0.456, 0.406)
    std: Tuple[float, ...] = (0.229, 0.224, 0.225)

    @classmethod
    def from_model(cls, model=None, pretrained_cfg: Optional[dict] = None, **overrides) -> "EvalTransform":
        """timm's pretrained cfg (crop_pct, interpolation, mean/std) of ``model``, or ``pretrained_cfg``
        itself (a plan that builds no model), overridable; None keeps cfg."""
        from timm.data import resolve_data_config
        cfg = resolve_data_config(model=model, pretrained_cfg=pretrained_cfg)
        base = dict(input_size=int(cfg["input_size"][-1]), crop_pct=float(cfg["crop_pct"]),
                    interpolation=str(cfg["interpolation"]), mean=tuple(cfg["mean"]),
                    std=tuple(cfg["std"]))
        base.update({k: v for k, v in overrides.items() if v is not None})
        return cls(**base)

    @property
    def resize_size(self) -> int:
        return int(np.floor(self.input_size / self.crop_pct))

    def resize_crop(self) -> Callable:
        return T.Compose([T.Resize(self.resize_size, interpolation=InterpolationMode(self.interpolation)),
                          T.CenterCrop(self.input_size)])

    def full(self) -> Callable:
        return T.Compose([self.resize_crop(), T.PILToTensor()])

    def prerendered(self) -> Callable:
        """For pre-rendered corrupted sets (ImageNet-C, -C-bar, -3DCC: 224x224 files): a file of the
        model's input size is read as stored; any other through the model's own resize and crop."""
        return AsStoredOrResized(self.input_size, self.full())

    def to_dict(self) -> dict:
        return asdict(self)


class AsStoredOrResized:
    """A square image of ``size`` as stored (uint8 CHW); any other through ``resize`` (picklable, for
    DataLoader workers)."""

    def __init__(self, size: int, resize: Callable) -> None:
        self.size, self.resize = size, resize

    def __call__(self, img: Image.Image) -> torch.Tensor:
        if img.size == (self.size, self.size):
            return T.functional.pil_to_tensor(img)
        return self.resize(img)


def check_same_size(paths: Sequence[str], what: str, why: str) -> Tuple[int, int]:
    """All images must have one size (batches are built without resizing; ``why`` says so for the
    message); returns (H, W)."""
    size = None
    for p in paths:
        try:
            s = stored_size(p)
        except OSError as e:
            raise DataError(f"cannot read image {p!r} ({e}); fix or remove it") from None
        if size is None:
            size = s
        elif s != size:
            raise DataError(f"{what}: image {p!r} is {s[0]}x{s[1]} but {paths[0]!r} is {size[0]}x{size[1]}; {why}")
    return (size[1], size[0]) if size else (0, 0)


def stored_size(path: str) -> Tuple[int, int]:
    """An image file's (width, height), from its header."""
    with Image.open(path) as im:
        return im.size


# ----------------------------------------------------------------------------- datasets
#: the label of a sample that has none (a table row or shard sample without its class): skipped
#: under ``--on-bad-image skip``, else refused when the dataset is opened
NO_LABEL = -1


class FileReader:
    """Samples that are image files: a sample's locator is its path, its key the path relative to
    ``root`` (or its name). The readers of tables and shards: :mod:`pit_eval.sources`."""
    kind = "class folders"

    def __init__(self, root: Optional[str] = None) -> None:
        self.root = root

    def key(self, locator: str) -> str:
        return os.path.relpath(locator, self.root) if self.root else os.path.basename(locator)

    def where(self, locator: str) -> str:
        return repr(locator)

    def load(self, locator: str) -> Image.Image:
        return load_rgb(locator)

    def size(self, locator: str) -> Tuple[int, int]:
        return stored_size(locator)


class ImageList(Dataset):
    """``(locator, label)`` pairs -> (uint8 CHW tensor, label), decoded by ``reader`` (default: the
    locators are image files). ``on_bad_image='skip'`` yields label -1 for an undecodable image or a
    sample without a label (counted as skipped) instead of raising."""

    def __init__(self, samples: Sequence[Tuple[str, int]], transform: Callable,
                 on_bad_image: str = "error", root: Optional[str] = None, reader=None) -> None:
        if on_bad_image not in ("error", "skip"):
            raise ValueError(f"on_bad_image must be 'error' or 'skip', got {on_bad_image!r}")
        self.samples = list(samples)
        self.transform = transform
        self.on_bad_image = on_bad_image
        self.root = root
        self.reader = reader or FileReader(root)
        unlabelled = next((loc for loc, label in self.samples if label == NO_LABEL), None)
        if unlabelled is not None and on_bad_image == "error":
            raise DataError(f"sample {self.reader.where(unlabelled)} has no label (no class column value or "
                            ".cls member); give it one, or pass --on-bad-image skip to count it as skipped")

    def view(self, samples: Sequence[Tuple[str, int]]) -> "ImageList":
        """Other samples of the same data (a subset, relabelled), read the same way."""
        return ImageList(samples, self.transform, self.on_bad_image, self.root, self.reader)

    def __len__(self) -> int:
        return len(self.samples)

    def key(self, index: int) -> str:
        """A stable identity of sample ``index``: ``<class>/<file name>`` (a file's path relative to the
        dataset root; for a table row or shard sample, the same from its stored name)."""
        return self.reader.key(self.samples[index][0])

    def stored_size(self, index: int) -> Tuple[int, int]:
        """Sample ``index``'s image (width, height) as stored."""
        return self.reader.size(self.samples[index][0])

    def load(self, index: int) -> Optional[Image.Image]:
        locator, label = self.samples[index]
        if label == NO_LABEL:
            logger.warning("skipping sample %s: it has no label", self.reader.where(locator))
            return None
        try:
            return self.reader.load(locator)
        except BadImageError:
            if self.on_bad_image == "skip":
                logger.warning("skipping unreadable image %s", self.reader.where(locator))
                return None
            raise

    def __getitem__(self, index: int):
        img = self.load(index)
        if img is None:
            return torch.zeros(3, 1, 1, dtype=torch.uint8), -1
        return self.transform(img), self.samples[index][1]


def sample_paths(dataset) -> Callable[[int], str]:
    """Sample index -> its path relative to the dataset root, through wrappers (``base``) down to the
    :class:`ImageList` (an occluded or corrupted view of a dataset names the base's files)."""
    d = dataset
    while not isinstance(d, ImageList) and hasattr(d, "base"):
        d = d.base
    if not isinstance(d, ImageList):
        return str
    return d.key


class Indexed(Dataset):
    """Adds the sample index: (image, label) -> (image, label, index)."""

    def __init__(self, base: Dataset) -> None:
        self.base = base

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int):
        img, label = self.base[index]
        return img, label, index


def collate_skipping(batch):
    """Collate (image, label, index) triples; skipped samples (label -1, placeholder image) are
    kept only as a count: returns (images, labels, indices, n_skipped)."""
    kept = [b for b in batch if b[1] >= 0]
    skipped = len(batch) - len(kept)
    if not kept:
        empty = torch.zeros(0, dtype=torch.long)
        return torch.zeros(0, 3, 1, 1, dtype=torch.uint8), empty, empty, skipped
    imgs = torch.stack([b[0] for b in kept])
    labels = torch.tensor([b[1] for b in kept], dtype=torch.long)
    return imgs, labels, torch.tensor([b[2] for b in kept], dtype=torch.long), skipped
