"""ImageNet-C rendered on the fly from the clean validation set, following the released set's pipeline
(Hendrycks & Dietterich, ``make_imagenet_c.py``): clean image -> Resize(256) -> CenterCrop(224) ->
corrupt -> JPEG (quality 85) round trip. The corruption is the ``imagenet-c`` protocol's (the released
set's generator) unless ``protocol="imagecorruptions"`` is asked for.

With the exact backends the whole chain runs per image in the data workers. With the ``torch``
backend the workers only decode, resize and crop; the evaluation loop calls :meth:`finish_batch`,
which corrupts the batch on the device (:mod:`.torch_backend`) and then makes the JPEG round trip with PIL
on the CPU (the same codec and settings as the exact path), images in parallel threads.

:class:`ImageNetCPass` renders many cells from one decode of each image (how the runner evaluates
them); :class:`CorruptedImageNet` is one cell (pre-rendering, the cell-by-cell reference path)."""
from __future__ import annotations

import functools
import io
from concurrent.futures import ThreadPoolExecutor
from typing import Iterator, List, Optional, Sequence, Tuple

import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset
from torchvision import transforms as T

from ..images import ImageList
from . import torch_backend
from .backends import BACKENDS, corrupt_image, render_seed
from .names import IMAGENET_C, check_protocol


SKIPPED = (torch.zeros(3, 1, 1, dtype=torch.uint8), -1)  # an unreadable image, as ImageList marks it


def jpeg_round_trip(img: np.ndarray, quality: int = 85) -> Image.Image:
    buf = io.BytesIO()
    Image.fromarray(img).save(buf, "JPEG", quality=quality)
    buf.seek(0)
    out = Image.open(buf)
    out.load()
    return out


@functools.lru_cache(maxsize=None)
def _jpeg_threads(n: int) -> ThreadPoolExecutor:
    """The main process's threads for JPEG round trips of rendered batches (PIL's codec releases the
    GIL), shared by every cell."""
    return ThreadPoolExecutor(n)


class CorruptedImageNet(Dataset):
    """ImageNet-C rendered on the fly from a clean :class:`ImageList` (the released set's pipeline,
    ``protocol``'s generator).

    ``backend="torch"``: items are the clean 224 crops; :meth:`finish_batch` renders them."""

    def __init__(self, base: ImageList, corruption: str, severity: int, *, seed: int = 0,
                 backend: str = "fast", protocol: str = IMAGENET_C, input_size: int = 224,
                 jpeg_quality: int = 85, threads: int = 4) -> None:
        BACKENDS.get(backend)
        self.protocol = check_protocol(protocol)
        if backend == "torch" and not torch_backend.supports(corruption, severity, protocol):
            raise ValueError(f"the torch backend does not render {corruption}/{severity} under the {protocol} "
                             f"protocol ({torch_backend.exact_only(protocol).get(corruption, '?')}); use backend "
                             "'fast' for it")
        self.base, self.corruption, self.severity = base, corruption, severity
        self.seed, self.backend, self.jpeg_quality = seed, backend, jpeg_quality
        self.input_size = input_size
        self.threads = max(1, threads)
        self.prepare = T.Compose([T.Resize(256), T.CenterCrop(224)])  # as make_imagenet_c.py
        self.finish = T.Compose([T.CenterCrop(input_size), T.PILToTensor()])

    def __len__(self) -> int:
        return len(self.base)

    def identity(self) -> tuple:
        """What the rendered images depend on (no model enters them but for its input size, the final crop)."""
        return (self.corruption, self.severity, self.seed, self.backend, self.protocol, self.jpeg_quality,
                self.input_size, len(self.base), self.base.samples[:1], self.base.samples[-1:])

    @property
    def renders_in_loop(self) -> bool:
        """True when the evaluation loop must call :meth:`finish_batch` (torch backend)."""
        return self.backend == "torch"

    def _seed(self, index: int) -> int:
        return render_seed(self.seed, self.base.key(index), self.corruption, self.severity)

    def _corrupt(self, crop: Image.Image, index: int) -> Image.Image:
        out = corrupt_image(np.asarray(crop), self.corruption, self.severity, seed_value=self._seed(index),
                            backend=self.backend, protocol=self.protocol)
        return jpeg_round_trip(out, self.jpeg_quality)

    def clean_crop(self, index: int) -> Optional[Tuple[Image.Image, int]]:
        """(the 224 crop the protocol corrupts, label); None for an unreadable image (skipped)."""
        img = self.base.load(index)
        return None if img is None else (self.prepare(img), self.base.samples[index][1])

    def rendered(self, crop: Image.Image, index: int) -> torch.Tensor:
        """The evaluated uint8 tensor of ``crop`` (image ``index``) with the exact backends."""
        return self.finish(self._corrupt(crop, index))

    def render(self, index: int) -> Image.Image | None:
        got = self.clean_crop(index)
        return None if got is None else self._corrupt(got[0], index)

    def __getitem__(self, index: int):
        got = self.clean_crop(index)
        if got is None:
            return SKIPPED
        crop, label = got
        if self.renders_in_loop:  # the clean crop; finish_batch renders it
            return T.functional.pil_to_tensor(crop), label
        return self.rendered(crop, index), label

    def finish_batch(self, images: torch.Tensor, indices: torch.Tensor, device: torch.device) -> torch.Tensor:
        """(B, 3, 224, 224) clean crops -> corrupted on ``device`` -> JPEG round trip -> final crop.
        Only used with the torch backend; returns uint8 (B, 3, S, S) on the CPU."""
        seeds = [self._seed(i) for i in indices.tolist()]
        x = images.to(device, non_blocking=True).permute(0, 2, 3, 1)
        out = torch_backend.corrupt_batch(x, self.corruption, self.severity, seeds, self.protocol).cpu().numpy()
        jpegs = _jpeg_threads(self.threads).map(lambda a: self.finish(jpeg_round_trip(a, self.jpeg_quality)), out)
        return torch.stack(list(jpegs))


class ImageNetCPass(Dataset):
    """Several on-the-fly ImageNet-C cells of one clean set, each clean image decoded, resized and
    cropped once for all of them. Each cell is rendered exactly as its :class:`CorruptedImageNet`
    renders it alone (same crop, same per-cell seed), so the cells' predictions are those of the
    cell-by-cell path.

    Exact backends: an item is the (K, 3, S, S) stack of the K rendered cells, made in the workers.
    Torch backend: an item is the clean crop; :meth:`split` renders every cell from it in the loop."""

    def __init__(self, cells: Sequence[CorruptedImageNet]) -> None:
        if not cells:
            raise ValueError("an ImageNet-C pass needs at least one cell")
        kinds = {(id(c.base), c.renders_in_loop, c.input_size) for c in cells}
        if len(kinds) != 1:
            raise ValueError("an ImageNet-C pass needs cells of one clean set, one input size and either "
                             "all or none rendered in the loop (torch backend)")
        self.cells: List[CorruptedImageNet] = list(cells)
        self.base, self.in_loop = cells[0].base, cells[0].renders_in_loop

    def __len__(self) -> int:
        return len(self.base)

    def __getitem__(self, index: int):
        got = self.cells[0].clean_crop(index)
        if got is None:
            return SKIPPED
        crop, label = got
        if self.in_loop:
            return T.functional.pil_to_tensor(crop), label
        return torch.stack([c.rendered(crop, index) for c in self.cells]), label

    def loader_batch(self, batch_size: int) -> int:
        """Images per loaded batch so that one batch holds about ``batch_size`` evaluated crops."""
        return batch_size if self.in_loop else max(1, -(-batch_size // len(self.cells)))

    def split(self, images: torch.Tensor, labels: torch.Tensor, indices: torch.Tensor,
              device: torch.device) -> Iterator[Tuple[torch.Tensor, ...]]:
        """A loaded batch -> (cell ids, images, labels, indices) groups for the engine."""
        if self.in_loop:
            for k, cell in enumerate(self.cells):
                yield torch.full((len(labels),), k), cell.finish_batch(images, indices, device), labels, indices
            return
        b, k = images.shape[:2]
        yield (torch.arange(k).repeat(b), images.flatten(0, 1), labels.repeat_interleave(k),
               indices.repeat_interleave(k))
