"""Per-image prediction files: ``<run dir>/predictions/<cell key>.parquet`` (the key's ``/`` as folders,
e.g. ``predictions/imagenet-c/fog/3.parquet``), one row per evaluated image, written atomically with
pyarrow when the cell finishes. Columns (docs/results.md):

  index      int32     the sample's position in the dataset scan
  path       string    the image, relative to the dataset root
  label      int16     the label (an index into the scored classes; IN-9 / cue-conflict: their own labels)
  top5       int16[5]  the top-5 classes, best first
  top5_prob  float32[5] their softmax probabilities
  p_label    float64   the probability of the label (NaN for mapped labels)
  sum_p2     float32   the softmax's sum of squares (Brier = sum_p2 - 2 p_label + 1)
  logits     float16[C] every logit (only with --save-logits)
  msp*       float32   a max softmax score (``msp``: over the scored classes; ``msp_imagenet-o``: over
                       ImageNet-O's 200 classes, in the clean cell), where the cell records one

:func:`read` returns a pandas DataFrame; :func:`check` says whether a file is whole (a truncated or
unreadable file is named, never used)."""
from __future__ import annotations

import os
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np

from .files import atomic_file

DIR = "predictions"


def relative_path(key: str) -> str:
    return f"{DIR}/{key}.parquet"


def _table(rows: Dict[str, np.ndarray], path_of: Callable[[int], str]):
    import pyarrow as pa
    n = len(rows.get("index", ()))
    index = np.asarray(rows.get("index", np.zeros(0)), dtype=np.int32)

    def fixed(name: str, dtype, width: Optional[int] = None):
        a = np.asarray(rows.get(name, np.zeros((0, width or 5))), dtype=dtype)
        width = a.shape[1] if a.ndim == 2 else (width or 5)
        return pa.FixedSizeListArray.from_arrays(pa.array(a.reshape(-1)), width)

    cols = {"index": pa.array(index),
            "path": pa.array([path_of(int(i)) for i in index], pa.string()),
            "label": pa.array(np.asarray(rows.get("label", np.zeros(0)), dtype=np.int16)),
            "top5": fixed("top5", np.int16), "top5_prob": fixed("top5_prob", np.float32),
            "p_label": pa.array(np.asarray(rows.get("p_label", np.zeros(0)), dtype=np.float64)),
            "sum_p2": pa.array(np.asarray(rows.get("sum_p2", np.zeros(0)), dtype=np.float32))}
    for name in sorted(k for k in rows if k.startswith("msp")):
        cols[name] = pa.array(np.asarray(rows[name], dtype=np.float32))
    if "logits" in rows:
        cols["logits"] = fixed("logits", np.float16, rows["logits"].shape[1] if n else 1)
    return pa.table(cols)


def write(run_dir: os.PathLike, key: str, rows: Dict[str, np.ndarray], path_of: Callable[[int], str],
          name: Optional[str] = None) -> dict:
    """Write one cell's rows (``name``: another file name than the cell's, e.g. a block of a pass);
    returns what the cell record keeps of it (``file``, ``rows``, ``logits``, ``bytes``)."""
    import pyarrow.parquet as pq
    rel = name or relative_path(key)
    path = Path(run_dir) / rel
    path.parent.mkdir(parents=True, exist_ok=True)
    table = _table(rows, path_of)
    with atomic_file(path) as tmp:
        pq.write_table(table, tmp, compression="zstd", use_dictionary=["path"],
                       use_byte_stream_split=["top5_prob", "p_label", "sum_p2",
                                              *(c for c in table.column_names if c.startswith("msp"))])
    return {"file": rel, "rows": table.num_rows, "logits": "logits" in table.column_names,
            "bytes": path.stat().st_size}


def check(run_dir: os.PathLike, info: Optional[dict]) -> Optional[str]:
    """None if the file a cell record names is whole (readable, its row count); else why not."""
    if not info:
        return "no predictions file recorded"
    path = Path(run_dir) / info["file"]
    if not path.is_file():
        return f"{path} is missing"
    try:
        import pyarrow.parquet as pq
        rows = pq.ParquetFile(path).metadata.num_rows
    except Exception as e:    # pyarrow raises several types for a torn file
        return f"{path} cannot be read ({type(e).__name__}: {e})"
    if rows != info["rows"]:
        return f"{path} holds {rows} rows, its cell {info['rows']}"
    return None


def read_rows(path: os.PathLike) -> Dict[str, np.ndarray]:
    """A predictions file (or a block of one) back as numpy columns (without ``path``)."""
    import pyarrow.parquet as pq
    t = pq.read_table(path)
    out = {}
    for name in t.column_names:
        if name == "path":
            continue
        col = t.column(name).combine_chunks()
        if hasattr(col, "flatten") and name in ("top5", "top5_prob", "logits"):
            width = col.type.list_size
            out[name] = col.flatten().to_numpy(zero_copy_only=False).reshape(-1, width)
        else:
            out[name] = col.to_numpy(zero_copy_only=False)
    return out


def read(run_dir: os.PathLike, key: str):
    """The predictions of one cell as a pandas DataFrame (``top5`` / ``top5_prob`` / ``logits`` hold
    arrays per row). Raises FileNotFoundError naming the file and the cells that have one."""
    import pandas as pd
    import pyarrow.parquet as pq
    path = Path(run_dir) / relative_path(key)
    if not path.is_file():
        base = Path(run_dir) / DIR
        have = sorted(str(p.relative_to(base))[:-len(".parquet")] for p in base.rglob("*.parquet")
                      if not any(part.startswith(".") for part in p.relative_to(base).parts))
        raise FileNotFoundError(f"no predictions for cell {key!r} in {run_dir} ({path} does not exist); "
                                f"cells with predictions: {', '.join(have[:20]) or 'none'}")
    df = pq.read_table(path).to_pandas()
    return df if isinstance(df, pd.DataFrame) else pd.DataFrame(df)
