"""Results directories: versioned metadata, an append-only record of finished cells, atomic summaries.

  <out>/meta.json      schema version, kind, identity (model, weights, data, protocol), config,
                       package versions, git commit, config hash, and ``runs``: the history of every
                       run that wrote here (command line, engine settings, host, start / end, cells
                       computed), rewritten atomically as each run starts and ends
  <out>/cells.jsonl    one JSON object per finished cell, appended and fsynced; a torn last line
                       (killed mid-write) is ignored and truncated on resume. Each cell carries its
                       ``provenance``: the settings that computed it (precision, device, compile mode,
                       channels-last, batch size, versions, commit, time, run number) and ``affects``,
                       the names of those that can change its predictions
  <out>/summary.json   aggregates + reference comparison;  <out>/summary.csv  one row per cell
Re-running into the same directory resumes (finished cells are skipped); a directory whose identity
differs (another model, weights, dataset or protocol) is refused unless ``force``. A finished cell
whose prediction-affecting settings differ from this run's is a *mismatch* (:meth:`RunDir.mismatches`):
the caller refuses the resume or recomputes exactly those cells. Cells written before provenance
existed resume as "provenance unknown".
"""
from __future__ import annotations

import atexit
import csv
import hashlib
import io
import json
import logging
import os
import platform
import subprocess
import sys
import time
from pathlib import Path
from typing import Dict, Iterable, List, Optional, Sequence

from .corruptions.names import IMAGECORRUPTIONS
from .files import atomic_write

logger = logging.getLogger(__name__)
SCHEMA_VERSION = 1
#: kinds written under an earlier name, read as today's
LEGACY_KINDS = {"benchmark": "speed"}
#: the versions a cell's provenance records (those that can change a prediction)
CELL_VERSIONS = ("pit_eval", "torch", "timm")
#: how messages name each cell setting
SETTING_LABELS = {"precision": "amp", "device_type": "device", "compile": "compile",
                  "channels_last": "channels-last", "batch_size": "batch size", "world_size": "processes"}


class ResultsError(RuntimeError):
    """A results directory cannot be used; the message says which and what to do."""


def stable_hash(obj) -> str:
    return hashlib.sha256(json.dumps(obj, sort_keys=True, default=str).encode()).hexdigest()[:16]


def git_commit() -> Optional[str]:
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True, timeout=5,
                             cwd=Path(__file__).resolve().parent)
        return out.stdout.strip() or None
    except (OSError, subprocess.SubprocessError):
        return None


def now() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def package_versions() -> Dict[str, Optional[str]]:
    from importlib import metadata
    out = {"python": platform.python_version()}
    for name in ("pit_eval", "torch", "torchvision", "timm", "numpy", "mmdet", "mmcv", "mmengine",
                 IMAGECORRUPTIONS, "pycocotools"):   # the protocol's name is its package's
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            out[name] = None
    return out


class RunLock:
    """``<dir>/.lock``: a results directory belongs to one run at a time. The run holds an OS lock
    (``fcntl.flock``) on the file for as long as it lives, so the operating system, not a check of ours,
    decides who has it: two runs that try at the same moment cannot both win, and a killed run's lock
    is free at once (its file, naming the dead owner, is taken over). The file names the owner's host
    and pid for the message a second run stops with. Where the file system has no ``flock`` (some
    network mounts), the lock falls back to create-exclusive plus a check that the owner's pid is alive
    on this host. On NFS, ``flock`` is served by the NFS lock manager (Linux: NFSv4, or v3 with lockd);
    docs/results.md."""

    def __init__(self, directory: Path) -> None:
        self.path = Path(directory) / ".lock"
        self.held = False
        self._fd: Optional[int] = None

    def acquire(self) -> None:
        import fcntl
        me = {"host": platform.node(), "pid": os.getpid(), "started": now()}
        for _ in range(5):
            fd = os.open(self.path, os.O_CREAT | os.O_RDWR, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(fd)
                raise ResultsError(self._in_use(self._holder())) from None
            except OSError as e:          # no flock here: the fallback
                os.close(fd)
                logger.warning("%s: the file system refuses flock (%s); falling back to create-exclusive", self.path, e)
                return self._acquire_exclusive(me)
            if not self._same_file(fd):   # released (unlinked) between our open and our lock: try again
                os.close(fd)
                continue
            owner = self._owner()
            if owner:
                logger.warning("taking over the stale lock %s left by %s", self.path, owner)
            os.ftruncate(fd, 0)
            os.pwrite(fd, json.dumps(me).encode(), 0)
            self._fd, self.held = fd, True
            return
        raise ResultsError(f"could not take the lock {str(self.path)!r}; another run is starting there")

    def _holder(self) -> dict:
        """The owner the file names; a run that has just won the lock writes its name a moment later."""
        owner: dict = {}
        for _ in range(40):
            owner = self._owner() or {}
            if owner and not self._stale(owner):
                break
            time.sleep(0.05)
        return owner

    def _same_file(self, fd: int) -> bool:
        try:
            return os.fstat(fd).st_ino == os.stat(self.path).st_ino
        except FileNotFoundError:
            return False

    def _in_use(self, owner: dict) -> str:
        return (f"results directory {str(self.path.parent)!r} is in use by another run (host "
                f"{owner.get('host')}, pid {owner.get('pid')}, since {owner.get('started')}); wait "
                f"for it, or choose another --out. If that run is dead, delete {str(self.path)!r}")

    def _acquire_exclusive(self, me: dict) -> None:
        for _ in range(3):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
            except FileExistsError:
                owner = self._owner()
                if owner and not self._stale(owner):
                    raise ResultsError(self._in_use(owner)) from None
                logger.warning("taking over the stale lock %s left by %s", self.path, owner)
                self.path.unlink(missing_ok=True)
                continue
            with os.fdopen(fd, "w") as f:
                json.dump(me, f)
            self.held = True
            return
        raise ResultsError(f"could not take the lock {str(self.path)!r}; another run is starting there")

    def _owner(self) -> Optional[dict]:
        try:
            text = self.path.read_text()
        except FileNotFoundError:
            return None
        try:
            return json.loads(text) if text.strip() else None
        except json.JSONDecodeError:
            return {}  # torn by a kill during its write: stale

    @staticmethod
    def _stale(owner: dict) -> bool:
        if owner.get("host") != platform.node():
            return False  # cannot see processes of another host: assume it is alive
        pid = owner.get("pid")
        if not isinstance(pid, int):
            return True
        try:
            os.kill(pid, 0)      # signal 0: only asks whether the process exists
        except ProcessLookupError:
            return True          # gone: a killed run left the lock
        except PermissionError:
            pass                 # exists, owned by another user
        return False

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)    # before unlocking: a waiter that opened it re-checks the inode
            if self._fd is not None:
                os.close(self._fd)
                self._fd = None
            self.held = False


class Journal:
    """An append-only JSON-lines file: each append is flushed and fsynced, so a kill loses at most
    the records being written; a torn last line is ignored on reading (and truncated by the writer).
    Every record must carry a ``key``."""

    def __init__(self, path: str | os.PathLike, writer: bool = True) -> None:
        self.path, self.writer = Path(path), writer

    def read(self) -> List[dict]:
        if not self.path.exists():
            return []
        records, good_bytes = [], 0
        with open(self.path, "rb") as f:
            for line in f:
                try:
                    rec = json.loads(line)
                    rec["key"]
                except (json.JSONDecodeError, KeyError, TypeError):
                    logger.warning("%s: ignoring a torn record at byte %d (interrupted run)", self.path,
                                   good_bytes)
                    break
                records.append(rec)
                good_bytes += len(line)
        if self.writer and good_bytes != self.path.stat().st_size:
            with open(self.path, "r+b") as f:
                f.truncate(good_bytes)
        return records

    def append(self, records: Iterable[dict]) -> None:
        if not self.writer:
            return
        with open(self.path, "a") as f:
            f.write("".join(json.dumps(r, sort_keys=True) + "\n" for r in records))
            f.flush()
            os.fsync(f.fileno())


class RunDir:
    """One results directory. Only the main rank writes (``writer=False`` elsewhere).

    ``settings``: this run's cell-level settings (precision, device, compile, ...), stamped on every
    cell it adds; ``run_info``: what the run history records of this run beside its command line."""

    def __init__(self, path: str | os.PathLike, kind: str, identity: dict, config: dict,
                 extra_meta: Optional[dict] = None, force: bool = False, writer: bool = True,
                 settings: Optional[dict] = None, run_info: Optional[dict] = None) -> None:
        if not kind or not isinstance(kind, str):
            raise ValueError(f"a results directory needs a kind (a name of pit_eval.result_kinds), got {kind!r}")
        self.path = Path(path)
        identity = json.loads(json.dumps(identity, sort_keys=True, default=str))  # as stored
        self.kind, self.identity, self.writer = kind, identity, writer
        self.cells: Dict[str, dict] = {}
        self._check_writable()
        self.lock = RunLock(self.path)
        if writer:
            self.lock.acquire()
            atexit.register(self.lock.release)
        history: List[dict] = []
        try:
            history = self._resume(force)
        except BaseException:
            self.lock.release()
            raise
        versions = package_versions()
        self.settings = {**(settings or {}), "versions": {k: versions.get(k) for k in CELL_VERSIONS},
                         "git_commit": git_commit()}
        self.run_entry = {"run": len(history) + 1, "command": list(sys.argv), "host": platform.node(),
                          "started": now(), "ended": None, "cells_computed": 0, **(run_info or {})}
        self.meta = {"schema_version": SCHEMA_VERSION, "kind": kind, "identity": identity,
                     "config": config, "config_hash": stable_hash(config),
                     "identity_hash": stable_hash(identity), "versions": versions,
                     "git_commit": self.settings["git_commit"], "host": platform.node(),
                     "updated": now(), **(extra_meta or {}), "runs": history + [self.run_entry]}
        self._write_meta()

    def _write_meta(self) -> None:
        if self.writer:
            atomic_write(self.path / "meta.json", json.dumps(self.meta, indent=2, sort_keys=True) + "\n")

    def _resume(self, force: bool) -> List[dict]:
        """Load the finished cells of a directory of this same run and return its run history;
        refuse another run's directory."""
        if not (self.path / "meta.json").exists():
            return []
        old = read_meta(self.path)
        if old["kind"] == self.kind and old["identity"] == self.identity:
            self.cells = self._read_cells()
            if self.cells:
                logger.info("resuming %s: %d finished cell(s) will be skipped", self.path, len(self.cells))
            return list(old.get("runs", []))
        if not force:
            raise ResultsError(self._mismatch_message(old))
        logger.warning("--force: reusing %s although its identity differs; old cells dropped", self.path)
        if self.writer:
            for journal in self.path.glob("*.jsonl"):
                journal.unlink()
        return []

    def _check_writable(self) -> None:
        if not self.writer:
            return
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            probe = self.path / ".write_test"
            probe.write_text("ok")
            probe.unlink()
        except OSError as e:
            raise ResultsError(f"output directory {str(self.path)!r} is not writable ({e.strerror}); "
                               "choose another with --out") from None

    def _mismatch_message(self, old: dict) -> str:
        diffs = [k for k in sorted(set(old["identity"]) | set(self.identity))
                 if old["identity"].get(k) != self.identity.get(k)]
        return (f"results directory {str(self.path)!r} belongs to a different {old['kind']} run "
                f"(differs in: {', '.join(diffs) or 'kind'}); use another --out, or --force to "
                "discard its cells and start over")

    def _read_cells(self) -> Dict[str, dict]:
        return {rec["key"]: rec for rec in Journal(self.path / "cells.jsonl", self.writer).read()}

    def done(self, key: str) -> bool:
        return key in self.cells

    def add(self, record: dict, affects: Sequence[str] = ()) -> None:
        """Append one finished cell (durably) and remember it, stamped with this run's settings;
        ``affects``: the settings that can change its predictions (what a resume compares)."""
        record = {**record, "provenance": {**self.settings, "computed_at": now(),
                                           "run": self.run_entry["run"], "affects": sorted(affects)}}
        self.cells[record["key"]] = record
        Journal(self.path / "cells.jsonl", self.writer).append([record])
        self.run_entry["cells_computed"] += 1

    def mismatches(self, affects: Dict[str, Sequence[str]]) -> Dict[str, Dict[str, tuple]]:
        """For the finished cells named in ``affects`` (key -> the settings that can change its
        predictions now): ``{key: {setting: (cell's value, this run's value)}}`` where they differ.
        Cells without provenance (written before it existed) are never mismatches."""
        out: Dict[str, Dict[str, tuple]] = {}
        for key, names in affects.items():
            prov = self.cells.get(key, {}).get("provenance")
            if prov is None:
                continue
            diff = {n: (prov.get(n), self.settings.get(n)) for n in names
                    if prov.get(n) != self.settings.get(n)}
            if diff:
                out[key] = diff
        return out

    def write_predictions(self, key: str, rows, path_of, name: Optional[str] = None) -> dict:
        """Write a cell's per-image rows to ``predictions/<key>.parquet`` (or ``name``) atomically
        (:mod:`pit_eval.prediction_files`); returns what its record keeps. Other ranks write nothing."""
        from . import prediction_files
        if not self.writer:
            return {"file": name or prediction_files.relative_path(key), "rows": len(rows.get("index", ())),
                    "logits": "logits" in rows, "bytes": None}
        return prediction_files.write(self.path, key, rows, path_of, name)

    def journal(self, name: str) -> "Journal":
        """A further append-only record in this directory (e.g. per-foreground progress)."""
        return Journal(self.path / name, self.writer)

    def release(self) -> None:
        """Give the directory up (the run is over, finished or not): its history entry is closed."""
        if self.lock.held and self.run_entry.get("ended") is None:
            self.run_entry["ended"] = now()
            self.meta["updated"] = self.run_entry["ended"]
            self._write_meta()
        self.lock.release()

    def __enter__(self) -> "RunDir":
        return self

    def __exit__(self, *exc) -> None:
        self.release()

    def write_summary(self, summary: dict, rows: Iterable[dict]) -> None:
        if not self.writer:
            return
        doc = {"schema_version": SCHEMA_VERSION, "kind": self.kind, **summary}
        atomic_write(self.path / "summary.json", json.dumps(doc, indent=2, sort_keys=True) + "\n")
        atomic_write(self.path / "summary.csv", csv_text(rows))


def csv_text(rows: Iterable[dict]) -> str:
    """CSV of dict rows; the header is the union of their keys in first-seen order."""
    rows = list(rows)
    buf = io.StringIO()
    if rows:
        fields: List[str] = []
        for r in rows:
            fields.extend(k for k in r if k not in fields)
        w = csv.DictWriter(buf, fieldnames=fields)
        w.writeheader()
        w.writerows(rows)
    return buf.getvalue()


def read_meta(path: str | os.PathLike) -> dict:
    """Read and validate ``meta.json`` of a results directory."""
    p = Path(path) / "meta.json"
    try:
        meta = json.loads(p.read_text())
    except FileNotFoundError:
        raise ResultsError(f"{str(path)!r} is not a results directory (no meta.json)") from None
    except json.JSONDecodeError as e:
        raise ResultsError(f"{str(p)!r} is corrupt ({e}); re-run to rebuild it") from None
    meta["kind"] = LEGACY_KINDS.get(meta.get("kind"), meta.get("kind"))
    if meta.get("schema_version") != SCHEMA_VERSION or not meta.get("kind"):
        raise ResultsError(f"{str(p)!r} has schema version {meta.get('schema_version')!r} / kind "
                           f"{meta.get('kind')!r}; this pit_eval reads version {SCHEMA_VERSION}, "
                           "and every results directory names its kind")
    return meta


def mismatch_message(path, mismatches: Dict[str, Dict[str, tuple]], labels: Optional[Dict[str, str]] = None) -> str:
    """Name each differing setting (``amp: cells fp32, this run bf16 (2 cells: a, b)``) and the two
    ways out."""
    by: Dict[tuple, List[str]] = {}
    for key, diff in sorted(mismatches.items()):
        for name, (old, new) in sorted(diff.items()):
            by.setdefault((name, json.dumps(old), json.dumps(new)), []).append(key)
    parts = []
    for (name, old, new), keys in by.items():
        shown = ", ".join(keys[:4]) + (f", ... ({len(keys) - 4} more)" if len(keys) > 4 else "")
        parts.append(f"{(labels or {}).get(name, name)}: cells {_plain(old)}, this run {_plain(new)} "
                     f"({len(keys)} cell(s): {shown})")
    return (f"results directory {str(path)!r} holds {len(mismatches)} finished cell(s) computed with "
            f"settings that can change predictions and differ from this run's — " + "; ".join(parts)
            + ". Write this run elsewhere (--out DIR), or recompute exactly those cells "
            "(--recompute-mismatched)")


def _plain(v: str) -> str:
    return "none" if v == "null" else v.strip('"')


def provenance_summary(cells: Iterable[dict], names: Sequence[str] = ("precision", "device_type", "device_name",
                                                                       "compile", "channels_last")) -> dict:
    """Which settings vary across ``cells``: ``{values: {name: [values]}, varying: [names],
    unknown: n cells without provenance, runs: [run numbers]}``; versions compared as one value."""
    cells = list(cells)
    known = [c["provenance"] for c in cells if c.get("provenance")]
    values: Dict[str, list] = {}
    for n in (*names, "versions"):
        vals = sorted({json.dumps(p.get(n), sort_keys=True) for p in known})
        values[n] = [json.loads(v) for v in vals]
    return {"values": values, "varying": [n for n, v in values.items() if len(v) > 1],
            "unknown": len(cells) - len(known), "runs": sorted({p.get("run") for p in known if p.get("run")})}


def provenance_flags(prov: dict) -> List[str]:
    """The summary's words on cells computed under different settings (or of unknown provenance)."""
    out = []
    for name in ("precision", "device_type", "compile"):
        if name in prov["varying"]:
            out.append(f"cells mix {SETTING_LABELS.get(name, name)} settings "
                       f"({', '.join(str(v) for v in prov['values'][name])}): aggregates average them")
    if prov["unknown"]:
        out.append(f"{prov['unknown']} cell(s) with provenance unknown (written before pit_eval recorded "
                   "per-cell settings)")
    return out
