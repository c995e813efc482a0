"""A tiny name -> object registry with close-match suggestions (one per extensible concept)."""
from __future__ import annotations

import difflib
from typing import Dict, Generic, Iterable, List, TypeVar

T = TypeVar("T")


class UnknownNameError(KeyError):
    """An unknown registry name; the message lists the closest known names."""

    def __str__(self) -> str:  # KeyError quotes its message; keep it readable
        return str(self.args[0])


class Registry(Generic[T]):
    """Maps names to objects. ``kind`` is used in error messages ("model", "corruption", ...)."""

    def __init__(self, kind: str) -> None:
        self.kind = kind
        self._items: Dict[str, T] = {}

    def register(self, name: str, obj: T | None = None):
        """Register ``obj`` under ``name``; usable as a decorator when ``obj`` is omitted."""
        def _add(o: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} {name!r} is already registered")
            self._items[name] = o
            return o
        return _add(obj) if obj is not None else _add

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            raise UnknownNameError(unknown_name_message(self.kind, name, self._items)) from None

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def names(self) -> List[str]:
        return list(self._items)

    def items(self):
        return self._items.items()


def unknown_name_message(kind: str, name: str, known: Iterable[str]) -> str:
    known = list(known)
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.5)
    hint = f" Did you mean {', '.join(repr(c) for c in close)}?" if close else ""
    shown = ", ".join(known[:40]) + (" ..." if len(known) > 40 else "")
    return f"unknown {kind} {name!r}.{hint} Known: {shown}"


def check_choice(kind: str, value: str, allowed: Iterable[str]) -> str:
    """Return ``value`` if it is one of ``allowed``, else raise a helpful ValueError."""
    allowed = list(allowed)
    if value not in allowed:
        raise ValueError(unknown_name_message(kind, value, allowed))
    return value

