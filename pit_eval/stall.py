"""The stall meter: where an evaluation loop's wall time goes, and whether the device waited for data.

Per loop (a cell, or a block of an ImageNet-C pass) it records

  wall_s        first batch asked for -> last batch's work finished on the device
  data_wait_s   host time spent obtaining the next model batch (DataLoader wait; for in-loop rendering
                with the torch corruption backend, the rendering and the JPEG round trip too)
  device_s      time the device spent on the model's batches (forward, attack, counting): CUDA events
                around each batch on a GPU, read once at the end of the loop; on a CPU the host time
                of that work, which is synchronous
  stall_s       time the device sat idle *because* the loop waited for data: per batch, the smaller of
                the host's wait for that batch and the device's idle gap before it
  stall_share   stall_s / wall_s;   device_busy = device_s / wall_s

On a CPU the model and the data path share the cores, so a stall there means the loop waited for its
workers, not that an accelerator idled."""
from __future__ import annotations

import time
from typing import Dict, Iterable, Iterator, List, Optional, Sequence

import torch

#: a run whose stall share exceeds this says so at the end, with the remedies
STALL_WARN = 0.10
#: what any run can do; each benchmark adds its own (Benchmark.stall_remedies)
REMEDIES = ("more DataLoader workers (--workers N, up to the cores per GPU)",)
SUMMED = ("wall_s", "data_wait_s", "device_s", "stall_s", "images", "image_cells", "batches")


class StallMeter:
    """Times one loop. Use: ``for batch in meter.timed(batches): meter.begin(); work; meter.end()``,
    then :meth:`result`. ``images``: distinct images evaluated; ``image_cells``: images x cells."""

    def __init__(self, device: torch.device) -> None:
        self.cuda = device.type == "cuda"
        self.device = device
        self.waits: List[float] = []
        self.spans: List[tuple] = []      # (start, end): CUDA events or perf_counter seconds
        self._done_ms, self._pending = 0.0, 0
        if self.cuda:
            torch.cuda.synchronize(device)
            self.origin = torch.cuda.Event(enable_timing=True)
            self.origin.record()
        self.t0 = time.perf_counter()

    def timed(self, batches: Iterable) -> Iterator:
        """``batches``, with the time spent waiting for each recorded."""
        it = iter(batches)
        while True:
            t = time.perf_counter()
            try:
                item = next(it)
            except StopIteration:
                return
            self.waits.append(time.perf_counter() - t)
            yield item

    def waited(self, seconds: float) -> None:
        """Record a wait for data that happened outside :meth:`timed` (a loop that loads its own inputs)."""
        self.waits.append(seconds)

    def _mark(self):
        if not self.cuda:
            return time.perf_counter()
        e = torch.cuda.Event(enable_timing=True)
        e.record()
        return e

    def begin(self) -> None:
        self.spans.append((self._mark(), None))

    def end(self) -> None:
        self.spans[-1] = (self.spans[-1][0], self._mark())

    def busy_so_far(self) -> Optional[float]:
        """Device-busy share up to now without waiting on the device (finished batches only)."""
        elapsed = time.perf_counter() - self.t0
        if elapsed <= 0 or not self.spans:
            return None
        if not self.cuda:
            return sum(e - s for s, e in self.spans if e is not None) / elapsed
        while self._pending < len(self.spans) and self.spans[self._pending][1] is not None \
                and self.spans[self._pending][1].query():
            s, e = self.spans[self._pending]
            self._done_ms += s.elapsed_time(e)
            self._pending += 1
        return min(1.0, self._done_ms / 1000.0 / elapsed)

    def result(self, images: int, image_cells: Optional[int] = None) -> Dict[str, float]:
        """The loop's figures (one device synchronisation on a GPU)."""
        if self.cuda:
            torch.cuda.synchronize(self.device)
            times = [(self.origin.elapsed_time(s) / 1e3, self.origin.elapsed_time(e) / 1e3)
                     for s, e in self.spans]
        else:
            times = [(s - self.t0, e - self.t0) for s, e in self.spans]
        wall = time.perf_counter() - self.t0
        device = sum(e - s for s, e in times)
        stall, prev_end = 0.0, 0.0
        for (s, e), wait in zip(times, self.waits):
            stall += max(0.0, min(wait, s - prev_end))
            prev_end = e
        return finish({"wall_s": wall, "data_wait_s": sum(self.waits), "device_s": device, "stall_s": stall,
                       "images": images, "image_cells": image_cells if image_cells is not None else images,
                       "batches": len(times), "device_timer": "cuda-events" if self.cuda else "host"})


def finish(t: dict) -> dict:
    """Add the shares and rates to summed figures; round for storage."""
    wall = t["wall_s"]
    out = {k: (round(v, 4) if isinstance(v, float) else v) for k, v in t.items()}
    out.update(stall_share=round(t["stall_s"] / wall, 4) if wall > 0 else None,
               device_busy=round(min(1.0, t["device_s"] / wall), 4) if wall > 0 else None,
               images_per_s=round(t["images"] / wall, 2) if wall > 0 else None,
               image_cells_per_s=round(t["image_cells"] / wall, 2) if wall > 0 else None)
    return out


def merge(parts: Sequence[dict]) -> Optional[dict]:
    """Figures of consecutive loops added up (e.g. the blocks of a pass); None if there are none."""
    parts = [p for p in parts if p and "stall_s" in p]
    if not parts:
        return None
    total = {k: sum(p[k] for p in parts) for k in SUMMED}
    timers = sorted({p.get("device_timer", "host") for p in parts})
    return finish({**total, "device_timer": "+".join(timers)})


def stall_warning(totals: Optional[dict], remedies: Sequence[str] = ()) -> Optional[str]:
    """The end-of-run message when the device waited for data more than :data:`STALL_WARN`, with the
    remedies: :data:`REMEDIES`, then those of the run's benchmarks."""
    if not totals or totals.get("stall_share") is None or totals["stall_share"] <= STALL_WARN:
        return None
    where = "the accelerator" if "cuda" in totals.get("device_timer", "") else "the model (CPU run)"
    return (f"{where} waited for data {100 * totals['stall_share']:.0f} % of the measured wall time "
            f"(above {100 * STALL_WARN:.0f} %); remedies, in order: " + "; ".join(
                f"{i + 1}) {r}" for i, r in enumerate(dict.fromkeys((*REMEDIES, *remedies)))))
