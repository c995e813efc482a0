"""What a result kind is (:class:`ResultKind`), a results directory as the reports read it (:class:`Run`),
and the lookup of a number by its name (:func:`metric`)."""
from __future__ import annotations

import json
from pathlib import Path
from typing import Any, Dict, List, Optional, Tuple

from ..benchmarks import Metric
from ..registry import Registry, UnknownNameError, unknown_name_message
from ..results import ResultsError, read_meta

#: every kind a results directory can be, by ``meta.json``'s ``kind``
RESULT_KINDS: Registry["ResultKind"] = Registry("results kind")


class ResultKind:
    """A kind of results directory: declare ``name`` and ``order`` (its place in reports), implement
    :meth:`group` and :meth:`rows`; :meth:`metrics` and :meth:`entry` make its numbers nameable
    (paper.json), :meth:`plots` draws its figures."""
    name: str = ""
    order: int = 100

    def metrics(self) -> Dict[str, Metric]:
        """Its numbers by id (``<part>.<metric>``): a metric's ``benchmark`` is the part of the summary
        it reads (:meth:`entry`)."""
        return {}

    def entry(self, metric: Metric, summary: dict, model: str) -> Optional[dict]:
        """The part of ``summary`` that ``metric`` reads for ``model`` (default: its summary entry
        ``summary["benchmarks"][metric.benchmark]``)."""
        return (summary.get("benchmarks") or {}).get(metric.benchmark)

    def result_reference(self, metric: Metric, entry: Optional[dict]) -> Optional[dict]:
        """A reference value that the result itself carries for ``metric`` (default None)."""
        return None

    def qualifier(self, metric: Metric, entry: Optional[dict]) -> Optional[str]:
        """Words that qualify a number of it where it is shown (default None)."""
        return None

    def missing(self, metric: Metric, entry: Optional[dict]) -> str:
        """Why ``metric`` has no value in a finished result (``entry``: what :meth:`entry` found)."""
        return "not defined on this run: it needs the complete grid and this run has a subset"

    def group(self, run: "Run") -> str:
        """The comparability group of a run: runs in different groups never share a column."""
        raise NotImplementedError

    def rows(self, runs: List["Run"]) -> List[dict]:
        """The report table of one group's runs."""
        raise NotImplementedError

    def plots(self, runs: List["Run"], every: List["Run"]) -> Dict[str, Any]:
        """Report figures (matplotlib) of its runs; ``every``: the report's runs of all kinds."""
        return {}

    def reference_rows(self, runs: List["Run"]) -> List[dict]:
        """Ours / reference / difference rows of its runs (the report's "Against the paper and timm")."""
        return []


def register(kind: ResultKind) -> ResultKind:
    return RESULT_KINDS.register(kind.name, kind)


def ordered() -> List[ResultKind]:
    return sorted((k for _, k in RESULT_KINDS.items()), key=lambda k: k.order)


def metric(metric_id: str) -> Tuple[ResultKind, Metric]:
    """The kind that offers the number ``metric_id``, and its metric."""
    known = {i: (k, m) for k in ordered() for i, m in k.metrics().items()}
    if metric_id not in known:
        raise UnknownNameError(unknown_name_message("metric", metric_id, known))
    return known[metric_id]


class Run:
    """A finished results directory: its ``meta.json``, its ``summary.json`` and its kind."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.meta = read_meta(path)
        sp = path / "summary.json"
        try:
            self.summary = json.loads(sp.read_text())
        except FileNotFoundError:
            raise ResultsError(f"{str(path)!r} has no summary.json (run not finished?); re-run it") from None
        except json.JSONDecodeError as e:
            raise ResultsError(f"{str(sp)!r} is corrupt ({e}); re-run to rebuild it") from None
        self.kind = self.meta["kind"]
        if self.kind not in RESULT_KINDS:
            raise ResultsError(f"{str(path)!r} is a {self.kind!r} result; this pit_eval reads kinds "
                               f"{[k.name for k in ordered()]}")

    @property
    def model(self) -> str:
        return self.summary.get("model") or self.meta.get("model") or self.path.name

    @property
    def group(self) -> str:
        """Comparability group: runs in different groups are never put in one column."""
        return RESULT_KINDS.get(self.kind).group(self)

    @property
    def label(self) -> str:
        """The run in a plot's legend."""
        return f"{self.model} [{self.path.name}]"


def find_runs(inputs: List[str]) -> List[Run]:
    runs, seen = [], set()
    for inp in inputs:
        if not Path(inp).exists():
            raise ResultsError(f"{inp!r} does not exist; pass results directories (e.g. results/)")
        for meta in sorted(Path(inp).rglob("meta.json")):
            if meta.parent.resolve() not in seen:
                seen.add(meta.parent.resolve())
                runs.append(Run(meta.parent))
    if not runs:
        raise ResultsError(f"no results found under {', '.join(inputs)} (no meta.json); run "
                           "run_eval.py robustness / detection / speed first")
    return runs
