"""Datasets: where each lives (flag > environment variable > ``--data-root`` > the embedded sample),
its class-folder layout and labels, and how a dataset is fingerprinted. Layouts: docs/robustness.md.
The datasets themselves (:data:`DATASETS`) are declared by the benchmark modules that read them
(:func:`register_dataset`), so importing :mod:`pit_eval.benchmarks` fills the table."""
from __future__ import annotations

import contextlib
import functools
import hashlib
import logging
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, List, Optional, Sequence, Tuple

from . import sources
from .images import IMG_EXTENSIONS, SAMPLE_ROOT, DataError, FileReader, ImageList

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class DatasetSpec:
    """A dataset, declared by the benchmark module that reads it (:func:`register_dataset`)."""
    name: str                 # the --<name> flag, the key of a run's locations
    subdir: str               # below --data-root
    env: str                  # environment variable naming the folder
    labels: str               # "wnid" | "index" (folders 0..999) | "subset" (wnids of ``classes``) | "own"
    folders_only: bool = False  # read from its released folder tree only (not as a table or shards: docs/data.md)
    #: its files are ImageNet val's, so a named list of val images restricts it (``--subset``)
    image_lists: bool = False
    #: ``labels="subset"``: the ImageNet indices of its classes (the other logits are masked)
    classes: Optional[Callable[[], List[int]]] = None
    #: where a label is a group of ImageNet classes: ``() -> (scored ImageNet indices, their group labels)``
    groups: Optional[Callable[[], Tuple[List[int], List[int]]]] = None


#: every dataset, in declaration order (filled as the benchmark modules are imported)
DATASETS: Dict[str, DatasetSpec] = {}


def register_dataset(spec: DatasetSpec) -> DatasetSpec:
    if spec.name in DATASETS:
        raise ValueError(f"dataset {spec.name!r} is already registered")
    DATASETS[spec.name] = spec
    return spec


ASSETS = SAMPLE_ROOT.parent


# ----------------------------------------------------------------------------- class lists
def _timm_info(name: str) -> List[str]:
    import timm.data
    path = Path(timm.data.__file__).parent / "_info" / name
    return path.read_text().split()


@functools.lru_cache(None)
def imagenet_wnids() -> List[str]:
    """The 1000 ImageNet-1k wnids in class-index order (timm's shipped list)."""
    return _timm_info("imagenet_synsets.txt")


@functools.lru_cache(None)
def subset_indices(subset: str) -> List[int]:
    """Indices into the 1000 classes of a subset timm ships a list of (``a``, ``r``: timm's
    ``imagenet_<subset>_indices.txt``, = Hendrycks' indices_in_1k)."""
    return [int(i) for i in _timm_info(f"imagenet_{subset}_indices.txt")]


def wnid_indices(wnids: Sequence[str]) -> List[int]:
    """The positions of ``wnids`` among the 1000 classes."""
    pos = {w: i for i, w in enumerate(imagenet_wnids())}
    return [pos[w] for w in wnids]


# ----------------------------------------------------------------------------- folders
def _images_in(folder: Path) -> List[Path]:
    return sorted(p for p in folder.iterdir() if p.suffix.lower() in IMG_EXTENSIONS and p.is_file())


#: scans kept while a sweep runs its models in this process (:func:`shared_scans`)
_SCANS: Optional[Dict[tuple, List[Tuple[str, int]]]] = None


@contextlib.contextmanager
def shared_scans(store: Optional[dict] = None):
    """Within this block a folder is scanned once for every run (a sweep's models share their scans).
    ``store``: the scans of an earlier block to go on from (a plan's, for the run that follows it)."""
    global _SCANS
    outer = _SCANS
    _SCANS = store if store is not None else ({} if _SCANS is None else _SCANS)
    try:
        yield
    finally:
        _SCANS = outer


def scan(root: str | os.PathLike, class_names: Sequence[str], what: str,
         flag: str) -> Tuple[List[Tuple[str, int]], object]:
    """``(samples, reader)``: ``(locator, label)`` for each image at ``root`` and the reader of their
    images; ``root`` is a tree of class folders (:func:`scan_class_folders`) or their copy as a table or
    shards (:mod:`pit_eval.sources`), detected from what is there. Label: position in ``class_names``."""
    if _SCANS is None:
        return _scan(str(root), class_names, what, flag)
    key = (os.path.abspath(root), tuple(class_names))
    if key not in _SCANS:
        _SCANS[key] = _scan(str(root), class_names, what, flag)
    samples, reader = _SCANS[key]
    return list(samples), reader       # a copy: a run may thin or select its own


def _scan(root: str, class_names: Sequence[str], what: str, flag: str) -> Tuple[List[Tuple[str, int]], object]:
    if not sources.is_pattern(root):
        _exists(Path(root), what, flag)
    try:
        kind, parts = sources.detect(root)
        if kind != sources.FOLDERS:
            return sources.scan(root, kind, parts, class_names, what)
    except DataError as e:
        raise DataError(f"{what} ({flag}): {e}") from None
    return _scan_folders(Path(root), class_names, what, flag), FileReader(root)


def _exists(root: Path, what: str, flag: str, folder: bool = False) -> None:
    if not (root.is_dir() if folder else root.exists()):
        raise DataError(f"{what} folder {str(root)!r} does not exist; point {flag} at it")


def scan_class_folders(root: str | os.PathLike, class_names: Sequence[str], what: str,
                       flag: str) -> List[Tuple[str, int]]:
    """List ``(path, label)`` for ``root/<class name>/<image>``; label = position in ``class_names``.

    Folders not in ``class_names`` are an error (a wrong dataset or layout); so are a missing root
    and no images at all. A subset of the classes is allowed (and logged)."""
    _exists(Path(root), what, flag, folder=True)
    return _scan_folders(Path(root), class_names, what, flag)


def _scan_folders(root: Path, class_names: Sequence[str], what: str, flag: str) -> List[Tuple[str, int]]:
    pos = {c: i for i, c in enumerate(class_names)}
    dirs = sorted(d for d in root.iterdir() if d.is_dir())
    bad = [d.name for d in dirs if d.name not in pos]
    if bad:
        raise DataError(f"{what} folder {str(root)!r} has {len(bad)} class folder(s) that are not "
                        f"expected classes, e.g. {bad[:5]}; expected folders named like "
                        f"{list(class_names[:3])}. Is {flag} pointing at the right level?")
    samples = [(str(p), pos[d.name]) for d in dirs for p in _images_in(d)]
    if not samples:
        raise DataError(f"{what} folder {str(root)!r} contains no images (expected "
                        f"{str(root)}/<class>/<image>); point {flag} at a populated copy. Accepted: "
                        f"{sources.ACCEPTED}")
    if len(dirs) != len(class_names):
        logger.info("%s: %d of %d classes present in %s", what, len(dirs), len(class_names), root)
    else:
        logger.info("%s: %s, %d images at %s", what, sources.FOLDERS, len(samples), root)
    return samples


def flag(name: str) -> str:
    return "--" + name


@dataclass(frozen=True)
class DataLocation:
    name: str
    path: Optional[str]   # None when not available
    origin: str           # "flag" | "env" | "data-root" | "sample"

    @property
    def is_sample(self) -> bool:
        return self.origin == "sample"


def locate(name: str, data_root: Optional[str], paths: Dict[str, Optional[str]]) -> DataLocation:
    """Resolve one dataset's folder: explicit flag > environment variable > data root > sample."""
    spec = DATASETS[name]
    if paths.get(name):
        return DataLocation(name, str(paths[name]), "flag")
    if os.environ.get(spec.env):
        return DataLocation(name, os.environ[spec.env], "env")
    if data_root:
        p = Path(data_root) / spec.subdir
        return DataLocation(name, str(p) if p.exists() else None, "data-root")
    if any(paths.values()) or any(os.environ.get(s.env) for s in DATASETS.values()):
        return DataLocation(name, None, "flag")  # user gave some data: no silent sample mixing
    p = SAMPLE_ROOT / spec.subdir
    return DataLocation(name, str(p) if p.exists() else None, "sample")


def class_names(spec: DatasetSpec) -> Tuple[List[str], Optional[List[int]]]:
    """Folder names expected and, for 200-class subsets, the logit indices to keep."""
    wnids = imagenet_wnids()
    if spec.labels == "index":
        return [str(i) for i in range(len(wnids))], None
    if spec.labels == "subset":
        idx = spec.classes()
        return [wnids[i] for i in idx], idx
    return wnids, None


def class_subset(spec: DatasetSpec) -> Tuple[List[int], Optional[List[int]]]:
    """The ImageNet classes a dataset's images are of, and their groups where a label is a group of
    classes, for the clean cell's top-1 on the same classes (the x axis of the shift)."""
    if spec.groups is not None:
        return spec.groups()
    return spec.classes(), None


def thin(samples: Sequence, max_images: Optional[int]) -> List:
    """Evenly spaced subset (keeps class coverage) when ``max_images`` is set."""
    samples = list(samples)
    if not max_images or len(samples) <= max_images:
        return samples
    step = len(samples) / max_images
    return [samples[int(i * step)] for i in range(max_images)]


#: named lists of ImageNet val images (``<wnid>/<file>``, relative to a val root or an ImageNet-C cell
#: folder), the datasets they select from, and where each list comes from
IMAGE_SUBSETS = {"robustbench-5k": ASSETS / "robustbench" / "imagenet_test_image_ids.txt"}
IMAGENET_VAL_IMAGES = 50_000
SUBSET_SOURCE = {"robustbench-5k": "RobustBench's 5,000 ImageNet val images (robustbench/helper_files/"
                                   "imagenet_test_image_ids.txt)"}


@functools.lru_cache(None)
def image_subset(name: str) -> Tuple[str, ...]:
    """The files of a named subset, as listed."""
    return tuple(line.strip() for line in IMAGE_SUBSETS[name].read_text().splitlines() if line.strip())


def select(ds: ImageList, subset: str, what: str) -> List[Tuple[str, int]]:
    """The samples of ``ds`` whose key (a path relative to its root) is listed in ``subset``; every
    listed file must be there, else a DataError naming how many are missing."""
    listed = image_subset(subset)
    keys = {ds.key(i): i for i in range(len(ds))}
    missing = [f for f in listed if f not in keys]
    if missing:
        raise DataError(f"--subset {subset}: {len(missing)} of the {len(listed)} listed images are missing from "
                        f"{what} data {ds.root!r} (e.g. {missing[0]}); the list names ImageNet val files as "
                        "<wnid>/ILSVRC2012_val_<n>.JPEG: give the full val set, or drop --subset")
    keep = {keys[f] for f in listed}
    return [s for i, s in enumerate(ds.samples) if i in keep]


def open_folder(loc: DataLocation, root: str, transform, on_bad_image: str,
                max_images: Optional[int], folder_name: Optional[str] = None,
                subset: Optional[str] = None) -> Tuple[ImageList, Optional[List[int]]]:
    """A dataset of class folders, or their copy as a table or shards: scanned, restricted to a named
    ``subset`` (ImageNet val and ImageNet-C only), thinned to ``max_images``."""
    spec = DATASETS[loc.name]
    names, classes = class_names(spec)
    samples, reader = scan(root, names, folder_name or loc.name, flag(loc.name))
    ds = ImageList([], transform, on_bad_image, root=root, reader=reader)
    if subset and spec.image_lists:
        samples = select(ds.view(samples), subset, folder_name or loc.name)
    return ds.view(thin(samples, max_images)), classes


#: the file lists (``<relative path>|<label>`` lines) behind this process's fingerprints, by
#: ``files_sha256`` (kept to say what changed)
_LISTS: Dict[str, List[str]] = {}
FILE_LISTS = "data-files"     # <results dir>/data-files/<files_sha256>.txt.gz: the lists of finished cells


def _lines(ds: ImageList) -> List[str]:
    return [f"{ds.key(i)}|{label}" for i, (_, label) in enumerate(ds.samples)]


def fingerprint(ds: ImageList) -> dict:
    """What a cell was computed on: its samples' keys (files relative to the dataset root, or the same
    from a table's or shards' stored names: :mod:`pit_eval.sources`), with their labels (a hash
    and a count), and where the root was (``root``: provenance only, never compared, so a moved
    dataset resumes; :func:`comparable`)."""
    lines, h = _lines(ds), hashlib.sha256()
    for line in lines:
        h.update(f"{line}\n".encode())
    sha = h.hexdigest()[:16]
    _LISTS[sha] = lines
    # a folder tree's record as ever (journal names hash it); a copy's layout beside its root
    layout = {} if ds.reader.kind == sources.FOLDERS else {"layout": ds.reader.kind}
    return {"root": os.path.abspath(ds.root), **layout, "images": len(ds), "files_sha256": sha}


#: where a fingerprint's data was and in which layout (sources.py): provenance, never compared
PROVENANCE = ("root", "layout")


def comparable(fp):
    """A stored or planned data fingerprint without its roots and layouts (at any depth): what a resume
    compares (a moved dataset, or its copy as a table or shards, resumes)."""
    if isinstance(fp, dict):
        return {k: comparable(v) for k, v in fp.items() if k not in PROVENANCE}
    return fp


def _leaves(fp, where: str = "") -> Dict[str, dict]:
    if not isinstance(fp, dict):
        return {}
    if "files_sha256" in fp:
        return {where: fp}
    return {k2: v2 for k, v in fp.items() for k2, v2 in _leaves(v, f"{where}.{k}" if where else k).items()}


def save_file_lists(run_dir: os.PathLike, fingerprints) -> None:
    """Keep the file list of each fingerprint (once per list), so a later run can say which files changed."""
    import gzip
    out = Path(run_dir) / FILE_LISTS
    for fp in fingerprints:
        for leaf in _leaves(fp).values():
            lines, path = _LISTS.get(leaf["files_sha256"]), out / f"{leaf['files_sha256']}.txt.gz"
            if lines is None or path.exists():
                continue
            out.mkdir(exist_ok=True)
            tmp = path.with_suffix(".tmp")
            with gzip.open(tmp, "wt") as f:
                f.write("\n".join(lines) + "\n")
            os.replace(tmp, path)


def data_change(run_dir: os.PathLike, old, new) -> str:
    """In words, how a cell's data differs from what it was computed on: per dataset, how many files
    (with their labels) are only in the old list and only in the new, where the old list was kept."""
    import gzip
    parts = []
    old_leaves, new_leaves = _leaves(old), _leaves(new)
    for where, n in new_leaves.items():
        o = old_leaves.get(where)
        if o is None or o.get("files_sha256") == n["files_sha256"]:
            continue
        name = f"{where} " if where else ""
        path = Path(run_dir) / FILE_LISTS / f"{o['files_sha256']}.txt.gz"
        lines = _LISTS.get(n["files_sha256"])
        if path.exists() and lines is not None:
            with gzip.open(path, "rt") as f:
                before = set(f.read().split("\n")) - {""}
            now = set(lines)
            parts.append(f"{name}{len(before - now)} of its {len(before)} files (with their labels) are gone or "
                         f"changed and {len(now - before)} are new, under {n.get('root')}")
        else:
            parts.append(f"{name}{o.get('images')} files then, {n.get('images')} now, other files or labels "
                         f"(under {n.get('root')})")
    return "; ".join(parts) or f"other data: {comparable(old)} then, {comparable(new)} now"


def prerendered_c_root(loc: DataLocation, corruption: str, severity: int) -> Optional[str]:
    if loc.path is None:
        return None
    p = Path(loc.path) / corruption / str(severity)
    return str(p) if p.is_dir() else None


def image_counter(paths: Dict[str, str]) -> Callable[[str], int]:
    """Samples per located dataset (0 for one not located; files of a folder tree, rows or shard
    samples of the others: :func:`pit_eval.sources.count`), counted when a benchmark's cost first asks:
    a dataset no planned benchmark reads by count (ImageNet-C's 3.75 M files: its cost is ImageNet
    val's) is never walked."""
    @functools.lru_cache(None)
    def count(name: str) -> int:
        if name not in paths:
            return 0
        return sources.count(paths[name])
    return count


def planned_images(count: Callable[[str], int], max_images: Optional[int],
                   subset: Optional[str]) -> Callable[[str], int]:
    """Images a run will read of each dataset, from ``count`` (files per dataset): under an image
    ``subset`` a val-sized set's share of the list (it names val files), and at most ``max_images``."""
    def images(name: str) -> int:
        n = count(name)
        if subset and DATASETS[name].image_lists:
            n = round(n * len(image_subset(subset)) / IMAGENET_VAL_IMAGES)
        return min(n, max_images or 10**12)
    return images
