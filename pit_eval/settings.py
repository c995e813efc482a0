"""How a setting is declared, once: a field of a settings dataclass with :func:`option` metadata (its
help, how a CLI string or a Python value is parsed, its choices, the form of its flag). The CLI flags
(:func:`pit_eval.cli.common.add_options`), the API's keywords (``pit_eval.api.OPTIONS``) and the config
fields are generated from these fields: the run settings (:class:`pit_eval.robustness.RunSettings`), the
engine's (:class:`pit_eval.engine.EngineConfig`) and every benchmark's protocol options."""
from __future__ import annotations

import dataclasses
from dataclasses import field
from typing import Any, Callable, Iterable, Optional, Sequence, Tuple


def option(default: Any, help: str, *, parse: Optional[Callable] = None, choices: Sequence[str] = (),
           flag: Optional[str] = None, metavar: Optional[str] = None, const: Any = None) -> Any:
    """A setting: a dataclass field. Its name is the API keyword and (``_`` -> ``-``) the CLI flag;
    ``parse`` turns a CLI string or a Python value into the stored value; ``flag``: a ``--no-...`` flag
    that turns a True default off (a False default is a plain switch); ``const``: the value of the flag
    given without one (``--amp`` = bf16)."""
    return field(default=default, metadata={"help": help, "parse": parse, "choices": tuple(choices),
                                            "flag": flag, "metavar": metavar, "const": const})


def declared(cls) -> Tuple[dataclasses.Field, ...]:
    """The fields of a settings dataclass declared with :func:`option`."""
    return tuple(f for f in dataclasses.fields(cls) if "help" in f.metadata)


def sequence(value, cast: Callable = lambda x: x) -> tuple:
    """``"a,b"`` (a CLI string) / any iterable / one value -> a tuple, each item ``cast``."""
    if isinstance(value, str):
        return tuple(cast(x.strip()) for x in value.split(",") if x.strip())
    if isinstance(value, Iterable):
        return tuple(cast(x) for x in value)
    return (cast(value),)


def floats(value) -> Tuple[float, ...]:
    try:
        return sequence(value, float)
    except (TypeError, ValueError):
        raise ValueError(f"expected comma-separated numbers, got {value!r}") from None


def optional(cast: Callable) -> Callable:
    """None stays None; anything else is ``cast``."""
    def parse(value):
        return None if value is None else cast(value)
    return parse


def at_least(bound: int, cast: Callable) -> Callable:
    """``cast``, then refused below ``bound`` (None passes: wrap in :func:`optional` first)."""
    def parse(value):
        v = cast(value)
        if v is not None and v < bound:
            raise ValueError(f"must be >= {bound}, got {v}")
        return v
    return parse


def positive(cast: Callable) -> Callable:
    return at_least(1, cast)


class OptionError(ValueError):
    """A bad option value: ``--flag: reason`` (``reason`` alone for argparse, which names the flag)."""

    def __init__(self, name: str, reason: str) -> None:
        super().__init__(f"--{name.replace('_', '-')}: {reason}")
        self.reason = reason


def parse_option(f: dataclasses.Field, value):
    """``value`` as the option stores it; a bad value raises :class:`OptionError`."""
    meta = f.metadata
    try:
        if meta.get("parse") is not None:
            value = meta["parse"](value)
        if meta.get("choices") and value not in meta["choices"] and not (value is None and f.default is None):
            raise ValueError(f"choose one of {', '.join(str(c) for c in meta['choices'])}, got {value!r}")
    except ValueError as e:
        raise OptionError(f.name, str(e)) from None
    return value


def parse_fields(obj) -> None:
    """In a frozen settings dataclass's ``__post_init__``: each declared field stored as parsed (numbers
    stay numbers whichever way they were given); a bad value raises :class:`OptionError`."""
    for f in declared(type(obj)):
        object.__setattr__(obj, f.name, parse_option(f, getattr(obj, f.name)))
