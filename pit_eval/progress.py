"""Progress for people: tqdm bars on a terminal; when the output is a file or a pipe, no bars (no escape
sequences) and one plain log line per finished cell or block, with its result, throughput and ETA."""
from __future__ import annotations

import logging
import sys
import time
from datetime import timedelta
from typing import Optional

from tqdm import tqdm

logger = logging.getLogger("pit_eval.progress")


def interactive() -> bool:
    """True when progress is shown on a terminal (tqdm writes to stderr)."""
    return bool(getattr(sys.stderr, "isatty", lambda: False)())


def bar(iterable=None, *, disable: bool = False, **kwargs) -> tqdm:
    """A tqdm bar on a terminal; disabled when the output is not one."""
    return tqdm(iterable, disable=disable or not interactive(), **kwargs)


def eta_text(seconds: Optional[float]) -> str:
    return "?" if seconds is None else str(timedelta(seconds=round(seconds)))


class LineLog:
    """Plain lines for a run of ``total`` units when the output is not a terminal: ``done`` logs what
    finished, how fast, and the time left at the rate so far."""

    def __init__(self, total: int, *, enabled: bool = True) -> None:
        self.total, self.finished, self.t0 = total, 0, time.time()
        self.enabled = enabled and not interactive()

    def done(self, what: str, result: str, images_per_s: Optional[float], units: int = 1) -> None:
        self.finished += units
        if not self.enabled:
            return
        elapsed = time.time() - self.t0
        left = elapsed / self.finished * (self.total - self.finished) if self.finished else None
        speed = f"{images_per_s:.1f} img/s" if images_per_s else "img/s n/a"
        logger.info("%d/%d %s: %s · %s · ETA %s", self.finished, self.total, what, result, speed, eta_text(left))
