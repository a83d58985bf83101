"""Timing two ways of doing the same work, alternately, so drift in machine load hits both alike."""

from __future__ import annotations

import statistics
from collections.abc import Callable


def alternating_medians(ours: Callable[[], float], reference: Callable[[], float], runs: int) -> tuple[float, float]:
    """Median seconds of `ours` and `reference` (each returns its own elapsed time).

    One untimed call of each first (model load, first-call kernels); then `runs` rounds whose
    order flips every round, so neither side always runs on the warmer or quieter machine.
    """
    ours()
    reference()
    a: list[float] = []
    b: list[float] = []
    for i in range(runs):
        if i % 2:
            b.append(reference())
            a.append(ours())
        else:
            a.append(ours())
            b.append(reference())
    return statistics.median(a), statistics.median(b)
