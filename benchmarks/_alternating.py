"""Timing ways of doing the same work in rotation, so drift in machine load hits all of them alike."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Medians:
    wall: float  # seconds, as each variant timed itself
    cpu: float  # seconds of CPU this process used over the call, all threads: steadier on a busy machine


def rotating_medians(variants: dict[str, Callable[[], float]], runs: int) -> dict[str, Medians]:
    """Median wall and CPU seconds of each variant (each returns its own elapsed wall time), by name.

    One untimed call of each first; then `runs` rounds, each starting one place further along the
    list, so no variant always runs first (on the warmest caches) or last.
    """
    names = list(variants)
    for name in names:
        variants[name]()
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for i in range(runs):
        for name in names[i % len(names):] + names[:i % len(names)]:
            start = time.process_time()
            wall[name].append(variants[name]())
            cpu[name].append(time.process_time() - start)
    return {name: Medians(statistics.median(wall[name]), statistics.median(cpu[name])) for name in names}
