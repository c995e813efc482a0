"""Where a dataset's samples are read from: a tree of class folders, a Hugging Face dataset (a
``save_to_disk`` directory, or Parquet files with an image and a label column) or WebDataset shards
(``.tar`` files whose samples hold an image and a ``.cls``). The kind is detected from what is at the
path; each has a reader that decodes one sample by its locator in any process (DataLoader workers,
torchrun ranks). Layouts and how to make each from a folder tree: docs/data.md."""
from __future__ import annotations

import glob
import json
import logging
import os
from collections import OrderedDict
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from .images import NO_LABEL, DataError, FileReader, decode_rgb

logger = logging.getLogger(__name__)

FOLDERS, HF_DISK, PARQUET, WEBDATASET = FileReader.kind, "save_to_disk dataset", "Parquet files", "WebDataset shards"
ACCEPTED = (f"{FOLDERS} (DIR/<class>/<image>); a {HF_DISK} (DIR holding state.json and .arrow files); "
            f"{PARQUET} (a .parquet file, a folder of them or a glob such as 'DIR/validation-*.parquet', "
            f"with an image column and a label column); {WEBDATASET} (a .tar, a brace pattern such as "
            "'DIR/shards-{000000..000146}.tar' or a folder of .tar files, each sample an image (jpg, jpeg, png, "
            "webp) with a cls member). See docs/data.md")
IMAGE_COLUMNS = ("image", "img", "jpg", "jpeg", "png", "webp")
LABEL_COLUMNS = ("label", "labels", "cls", "class", "target")
IMAGE_MEMBERS = ("jpg", "jpeg", "png", "webp", "bmp", "ppm", "tif", "tiff")
LABEL_MEMBERS = ("cls", "wnid")
SPLITS = ("train", "validation", "valid", "val", "test")
OPEN_PARTS = 64          # shards or row groups a reader keeps open (or cached) per process


def is_pattern(path: str) -> bool:
    return any(c in path for c in "*?[{")


def _expand(path: str) -> List[str]:
    """The files a glob or brace pattern names (braces through webdataset's own expansion)."""
    from braceexpand import braceexpand
    return sorted({f for p in braceexpand(path) for f in glob.glob(p)})


def detect(path: str) -> Tuple[str, List[str]]:
    """``(kind, parts)``: the kind of data at ``path`` and its files (parts), or DataError naming the
    path and the accepted layouts."""
    p = Path(path)
    if is_pattern(path):
        parts = _expand(path)
        if not parts:
            raise DataError(f"{path!r} matches no file; accepted: {ACCEPTED}")
    elif p.is_file():
        parts = [str(p)]
    elif p.is_dir():
        if (p / "dataset_dict.json").is_file():
            splits = json.loads((p / "dataset_dict.json").read_text()).get("splits", [])
            raise DataError(f"{path!r} is a DatasetDict (splits {splits}); give one split's folder, "
                            f"e.g. {str(p / (splits[0] if splits else 'validation'))!r}")
        if (p / "state.json").is_file() and any(p.glob("*.arrow")):
            return HF_DISK, [str(p)]
        parts = sorted(str(f) for f in p.iterdir() if f.suffix in (".tar", ".parquet") and f.is_file())
        if not parts:
            if (p / "data").is_dir() and any((p / "data").glob("*.parquet")):
                raise DataError(f"{path!r} holds its Parquet files under data/; give one split of them, "
                                f"e.g. '{p / 'data' / 'validation-*.parquet'}'")
            return FOLDERS, [str(p)]
        splits = sorted({s for f in parts for s in SPLITS if Path(f).name.startswith(s + "-")})
        if len(splits) > 1:
            raise DataError(f"{path!r} holds the files of several splits ({', '.join(splits)}); give one, "
                            f"e.g. '{p / (splits[-1] + '-*' + Path(parts[0]).suffix)}'")
    else:
        raise DataError(f"{path!r} does not exist")
    kinds = {Path(f).suffix for f in parts}
    if kinds == {".tar"}:
        return WEBDATASET, parts
    if kinds == {".parquet"}:
        return PARQUET, parts
    raise DataError(f"{path!r} names files of kinds {sorted(kinds)}; accepted: {ACCEPTED}")


# ----------------------------------------------------------------------------- labels
def _positions(values: Sequence, class_names: Sequence[str], names: Optional[Sequence[str]],
               where: Callable[[int], str], what: str) -> List[int]:
    """Labels as positions in ``class_names``: an integer is a position (through ``names`` when the
    data's own class names, e.g. a ClassLabel's, are all among ``class_names``); a string is a class
    name (a wnid); None is no label."""
    pos = {c: i for i, c in enumerate(class_names)}
    through = list(names) if names and all(n in pos for n in names) else None
    out = []
    for i, v in enumerate(values):
        if isinstance(v, bytes):
            v = v.decode("utf-8", "replace").strip()
            v = int(v) if v.lstrip("-").isdigit() else (v or None)
        if v is None:
            out.append(NO_LABEL)
        elif isinstance(v, str):
            if v not in pos:
                raise DataError(f"{what}: sample {where(i)} has label {v!r}, not one of its classes (named like "
                                f"{list(class_names[:3])}); is this the right dataset?")
            out.append(pos[v])
        elif through is not None and 0 <= v < len(through):
            out.append(pos[through[v]])
        elif 0 <= v < len(class_names):
            out.append(int(v))
        else:
            raise DataError(f"{what}: sample {where(i)} has label {v}, outside its {len(class_names)} classes "
                            f"(0..{len(class_names) - 1}: positions in its class list, e.g. the ImageNet class "
                            "index; or give class names such as wnids)")
    return out


def _hf_names(schema, column: str) -> Optional[List[str]]:
    """A ClassLabel's names from the Hugging Face features kept in an Arrow / Parquet schema."""
    meta = (schema.metadata or {}).get(b"huggingface")
    if not meta:
        return None
    feature = json.loads(meta).get("info", {}).get("features", {}).get(column, {})
    return feature.get("names") if feature.get("_type") == "ClassLabel" else None


def _keyed(names: Sequence[str], labels: Sequence[int], class_names: Sequence[str]) -> List[str]:
    """Keys ``<class>/<file name>`` (a folder tree's relative paths), unique over the whole source."""
    keys, seen = [], {}
    for name, label in zip(names, labels):
        key = f"{class_names[label]}/{name}" if label != NO_LABEL else name
        seen[key] = seen.get(key, 0) + 1
        keys.append(key if seen[key] == 1 else f"{key}#{seen[key]}")
    return keys


def _sorted(keys, labels, places, class_names) -> Tuple[List[Tuple[str, int]], Dict[str, tuple]]:
    """Samples in a folder tree's order (by class folder, then file name) and where each is."""
    order = sorted(range(len(keys)), key=lambda i: (labels[i] == NO_LABEL, class_names[labels[i]]
                                                     if labels[i] != NO_LABEL else "", keys[i]))
    return [(keys[i], labels[i]) for i in order], {keys[i]: places[i] for i in order}


# ----------------------------------------------------------------------------- readers
class _PartsReader:
    """A reader of samples kept in parts (shards, Parquet row groups, an Arrow table): a locator is the
    sample's key; ``places[key]`` says where it is. Parts are opened lazily in each process."""
    kind = ""

    def __init__(self, root: str, parts: Sequence[str], places: Dict[str, tuple]) -> None:
        self.root, self.parts, self.places = root, list(parts), places
        self._open: "OrderedDict[int, object]" = OrderedDict()
        self._pid = os.getpid()

    def __getstate__(self):
        return {**self.__dict__, "_open": OrderedDict()}

    def key(self, locator: str) -> str:
        return locator

    def where(self, locator: str) -> str:
        return f"{locator!r} in {self.parts[self.places[locator][0]]!r}"

    def part(self, index: int):
        if self._pid != os.getpid():
            self._open, self._pid = OrderedDict(), os.getpid()
        if index not in self._open:
            if len(self._open) >= OPEN_PARTS:
                self._close(self._open.popitem(last=False)[1])
            self._open[index] = self._load_part(index)
        self._open.move_to_end(index)
        return self._open[index]

    def _close(self, part) -> None:
        pass

    def _load_part(self, index: int):
        raise NotImplementedError

    def data(self, locator: str) -> bytes:
        raise NotImplementedError

    def load(self, locator: str):
        return decode_rgb(self.data(locator), f"sample {self.where(locator)}")

    def size(self, locator: str) -> Tuple[int, int]:
        return self.load(locator).size


class TarReader(_PartsReader):
    """WebDataset shards through wids (the webdataset project's indexed tar reader): ``places[key] =
    (shard, member index)``."""
    kind = WEBDATASET

    def _load_part(self, index: int):
        from wids.wids import IndexedTarSamples
        return IndexedTarSamples(path=self.parts[index])

    def _close(self, part) -> None:
        part.close()

    def data(self, locator: str) -> bytes:
        shard, member = self.places[locator]
        return bytes(self.part(shard).reader.get_at_index(member)[1])


class ParquetReader(_PartsReader):
    """Parquet files through pyarrow, read a row group at a time (cached): ``places[key] = (file, row
    group, row, column)``."""
    kind = PARQUET

    def _load_part(self, index: tuple):   # (file, row group, column) -> its images' bytes, a list
        import pyarrow as pa
        import pyarrow.compute as pc
        import pyarrow.parquet as pq
        file, group, column = index
        # one thread: a DataLoader worker is one core's decoder (Arrow's pool would start one per core)
        col = pq.ParquetFile(self.parts[file], memory_map=True).read_row_group(
            group, columns=[column], use_threads=False).column(0)
        # the bytes as Python objects once per group: cheaper than an Arrow scalar per image
        return (pc.struct_field(col, "bytes") if pa.types.is_struct(col.type) else col).to_pylist()

    def data(self, locator: str) -> bytes:
        file, group, row, column = self.places[locator]
        return self.part((file, group, column))[row]


class ArrowReader(_PartsReader):
    """A ``save_to_disk`` dataset through ``datasets.load_from_disk`` (memory-mapped Arrow):
    ``places[key] = (0, row, column)``."""
    kind = HF_DISK

    def _load_part(self, index: int):
        return _load_from_disk(self.parts[index]).data.table

    def data(self, locator: str) -> bytes:
        _, row, column = self.places[locator]
        return _image_bytes(self.part(0).column(column)[row].as_py())


def _image_bytes(value) -> Optional[bytes]:
    """An image cell's bytes: a Hugging Face Image struct ``{bytes, path}`` or plain binary."""
    return value.get("bytes") if isinstance(value, dict) else value


def _embedded(value, path: str) -> None:
    """A table whose image cells name files instead of holding their bytes is refused when opened."""
    if isinstance(value, dict) and value.get("bytes") is None and value.get("path"):
        raise DataError(f"{path!r}: the image cells refer to files (e.g. {value['path']!r}) instead of holding "
                        "their bytes; save_to_disk embeds them, to_parquet of a dataset made from file paths does "
                        "not: write the Parquet from the saved copy (docs/data.md)")


def _load_from_disk(path: str):
    try:
        import datasets
    except ImportError:
        raise DataError(f"{path!r} is a Hugging Face save_to_disk dataset; reading it needs the datasets "
                        "library: pip install 'pit_eval[hf]' (or datasets), or give its Parquet files") from None
    return datasets.load_from_disk(path)


# ----------------------------------------------------------------------------- scans
def _columns(schema, path: str) -> Tuple[str, str]:
    names = list(schema.names)
    image = next((c for c in IMAGE_COLUMNS if c in names), None)
    label = next((c for c in LABEL_COLUMNS if c in names), None)
    if image is None or label is None:
        raise DataError(f"{path!r}: no {'image' if image is None else 'label'} column among {names}; expected an "
                        f"image column named one of {list(IMAGE_COLUMNS)} and a label column named one of "
                        f"{list(LABEL_COLUMNS)}")
    return image, label


def _file_names(paths, n: int) -> List[str]:
    """Each row's file name: its stored path's name, else its row number."""
    return [os.path.basename(p) if p else f"{i:08d}" for i, p in enumerate(paths or [None] * n)]


def _has_path(image_type) -> bool:
    """Whether an image column is a Hugging Face Image struct that keeps each file's path."""
    import pyarrow as pa
    return pa.types.is_struct(image_type) and image_type.get_field_index("path") >= 0


def _path_values(table, image: str) -> Optional[list]:
    import pyarrow.compute as pc
    col = table.column(image)
    return pc.struct_field(col, "path").to_pylist() if _has_path(col.type) else None


def _scan_parquet(root: str, parts: List[str], class_names, what):
    import pyarrow.parquet as pq
    names, labels, places = [], [], []
    for f, path in enumerate(parts):
        pf = pq.ParquetFile(path)
        image, label = _columns(pf.schema_arrow, path)
        has_path = _has_path(pf.schema_arrow.field(image).type)
        t = pf.read(columns=[label] + ([f"{image}.path"] if has_path else []))
        if pf.metadata.num_rows:
            _embedded(pf.read_row_group(0, columns=[image]).column(0)[0].as_py(), path)
        rows = [(g, r) for g in range(pf.metadata.num_row_groups) for r in range(pf.metadata.row_group(g).num_rows)]
        names += _file_names(_path_values(t, image) if has_path else None, len(rows))
        labels += _positions(t.column(label).to_pylist(), class_names, _hf_names(pf.schema_arrow, label),
                             lambda i: f"row {i} of {path!r}", what)
        places += [(f, g, r, image) for g, r in rows]
    return names, labels, places, ParquetReader


def _scan_hf_disk(root: str, parts: List[str], class_names, what):
    ds = _load_from_disk(parts[0])
    from datasets import DatasetDict
    if isinstance(ds, DatasetDict):
        raise DataError(f"{root!r} is a DatasetDict (splits {list(ds)}); give one split's folder")
    table = ds.data.table
    image, label = _columns(table.schema, root)
    if table.num_rows:
        _embedded(table.column(image)[0].as_py(), root)
    labels = _positions(table.column(label).to_pylist(), class_names, _hf_names(table.schema, label),
                        lambda i: f"row {i} of {root!r}", what)
    names = _file_names(_path_values(table, image), table.num_rows)
    return names, labels, [(0, r, image) for r in range(table.num_rows)], ArrowReader


def _scan_tars(root: str, parts: List[str], class_names, what):
    from wids.wids import IndexedTarSamples
    all_names, labels, places = [], [], []
    for s, shard in enumerate(parts):
        tar = IndexedTarSamples(path=shard)
        names, values = [], []
        try:
            for members in tar.samples:
                by_ext = {}
                for m in members:
                    name = tar.reader.by_index[m][0]
                    by_ext[name.rsplit(".", 1)[-1].lower()] = (m, name)
                img = next((by_ext[e] for e in IMAGE_MEMBERS if e in by_ext), None)
                lab = next((by_ext[e][0] for e in LABEL_MEMBERS if e in by_ext), None)
                if img is None:
                    raise DataError(f"{what}: sample {_wds_key(tar, members)!r} in {shard!r} has no image member "
                                    f"({', '.join(IMAGE_MEMBERS)}); members: {sorted(by_ext)}")
                names.append(os.path.basename(img[1]))
                values.append(bytes(tar.reader.get_at_index(lab)[1]) if lab is not None else None)
                places.append((s, img[0]))
        finally:
            tar.close()
        labels += _positions(values, class_names, None, lambda i: f"{names[i]!r} in {shard!r}", what)
        all_names += names
    return all_names, labels, places, TarReader


def _wds_key(tar, members) -> str:
    return tar.reader.by_index[members[0]][0].split(".", 1)[0]


SCANS = {PARQUET: _scan_parquet, HF_DISK: _scan_hf_disk, WEBDATASET: _scan_tars}


def scan(root: str, kind: str, parts: List[str], class_names: Sequence[str],
         what: str) -> Tuple[List[Tuple[str, int]], object]:
    """The samples of a table or shard source (``kind`` and ``parts``: :func:`detect`'s) as ``(key,
    label)`` in a folder tree's order, and the reader of their images (keys ``<class>/<file name>``: a
    folder copy's relative paths)."""
    names, labels, where, reader = SCANS[kind](root, parts, class_names, what)
    samples, places = _sorted(_keyed(names, labels, class_names), labels, where, class_names)
    if not samples:
        raise DataError(f"{what} data {root!r} ({kind}) holds no samples")
    logger.info("%s: %s, %d samples in %d part(s) at %s", what, kind, len(samples), len(parts), root)
    return samples, reader(root, parts, places)


def count(path: str) -> int:
    """Samples at ``path`` without reading them (the plan's count): files in a folder tree, rows in
    Parquet metadata or a save_to_disk dataset, samples in shard indices."""
    if not is_pattern(path) and not os.path.exists(path):
        return 0
    kind, parts = detect(path)
    if kind == FOLDERS:
        return sum(sum(1 for f in files if not f.startswith(".")) for _, _, files in os.walk(path))
    if kind == PARQUET:
        import pyarrow.parquet as pq
        return sum(pq.ParquetFile(p).metadata.num_rows for p in parts)
    if kind == HF_DISK:
        return _load_from_disk(parts[0]).num_rows
    from wids.wids import IndexedTarSamples
    n = 0
    for p in parts:
        tar = IndexedTarSamples(path=p)
        n += len(tar)
        tar.close()
    return n


__all__ = ["ACCEPTED", "count", "detect", "scan"]
