"""Argument helpers shared by the sub-commands."""
from __future__ import annotations

import argparse
import dataclasses
import json
from typing import Iterable

from ..datasets import DATASETS
from ..settings import declared


def _parser(f):
    """argparse ``type`` of one setting: its own parse, bad values reported as usage errors."""
    from ..settings import OptionError, parse_option

    def parse(text: str):
        try:
            return parse_option(f, text)
        except OptionError as e:
            raise argparse.ArgumentTypeError(e.reason) from None
    return parse


def _default_text(value) -> str:
    return ",".join(str(v) for v in value) if isinstance(value, tuple) else str(value)


def add_options(g, fields: Iterable[dataclasses.Field]) -> None:
    """The flags of settings declared with :func:`pit_eval.settings.option` (dest: the field's name):
    ``--name VALUE`` parsed as the field parses; a False default is a switch; ``flag`` a ``--no-...``
    switch; ``const`` the value of the flag given alone."""
    for f in fields:
        meta, name = f.metadata, "--" + f.name.replace("_", "-")
        if meta["flag"]:
            g.add_argument(meta["flag"], dest=f.name, action="store_false", default=f.default, help=meta["help"])
        elif f.default is False and meta["parse"] is None:
            g.add_argument(name, dest=f.name, action="store_true", help=meta["help"])
        else:
            metavar = meta["metavar"] or ("{" + ",".join(meta["choices"]) + "}" if meta["choices"] else None)
            extra = {"nargs": "?", "const": meta["const"]} if meta["const"] is not None else {}
            g.add_argument(name, dest=f.name, type=_parser(f), default=f.default, metavar=metavar, **extra,
                           help=meta["help"] + ("" if f.default is None else f" (default: {_default_text(f.default)})"))


def engine_args(p: argparse.ArgumentParser) -> None:
    from ..engine import EngineConfig
    add_options(p.add_argument_group("device"), declared(EngineConfig))


def engine_cfg(a):
    from ..engine import EngineConfig
    return EngineConfig(**{f.name: getattr(a, f.name) for f in declared(EngineConfig)})


def dataset_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("--data-root", default=None,
                   help="folder holding " + ", ".join(s.subdir for s in DATASETS.values()))
    for name in DATASETS:
        spec = DATASETS[name]
        p.add_argument(f"--{name}", dest=f"path_{name}", default=None, metavar="DIR" if spec.folders_only else "PATH",
                       help=f"{name} folder (env {spec.env})" if spec.folders_only else
                       f"{name} data: class folders, a save_to_disk dataset, Parquet files or WebDataset shards "
                       f"(a .tar, a brace pattern, a folder; docs/data.md) (env {spec.env})")


def dataset_paths(a) -> tuple:
    return tuple((n, getattr(a, f"path_{n}")) for n in DATASETS if getattr(a, f"path_{n}"))


def key_value(s: str):
    if "=" not in s:
        raise argparse.ArgumentTypeError(f"--cfg-options expects key=value, got {s!r}")
    k, v = s.split("=", 1)
    try:
        v = json.loads(v)
    except json.JSONDecodeError:
        pass
    return k, v
