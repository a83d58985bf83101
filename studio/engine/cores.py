"""How many CPU threads a job gets, decided without torch (the window shows it; the worker applies
it through _threads).

torch's intra-op pool, the window's GUI thread and anything else running fight over the same
cores; more threads than cores only adds contention. By default the pool gets the machine's
physical cores (hyper-threads share a core's arithmetic units); `threads` in settings.json or
STUDIO_THREADS overrides it (STUDIO_THREADS wins, for a one-off run), and OMP_NUM_THREADS, when
set, is the default instead of the core count.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

from studio.core.settings import EngineSettings

log = logging.getLogger(__name__)
ENV = "STUDIO_THREADS"
LEAVE_ENV = "STUDIO_LEAVE_CORES"


def physical_cores() -> int:
    """Physical cores this process may run on (Linux: from /proc/cpuinfo within its affinity)."""
    try:
        usable = len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        usable = os.cpu_count() or 1
    try:
        cores, current = set(), {}
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            key, _, value = line.partition(":")
            key = key.strip()
            if key in ("physical id", "core id"):
                current[key] = value.strip()
            elif not line.strip() and current:
                cores.add((current.get("physical id"), current.get("core id")))
                current = {}
        if current:
            cores.add((current.get("physical id"), current.get("core id")))
        logical = os.cpu_count() or usable
        if cores and logical:  # scale to the CPUs this process may use
            return max(1, round(usable * len(cores) / logical))
    except (OSError, ValueError):
        pass
    return max(1, usable)


def wanted_threads(settings: EngineSettings, leave: int | None = None) -> int:
    """Threads for the next job; `leave`: cores kept for the window (None: STUDIO_LEAVE_CORES)."""
    text = os.environ.get(ENV, "").strip()
    if text:
        if text.isdigit() and int(text) > 0:
            return int(text)
        log.warning("ignoring %s=%r: give a whole number of threads, e.g. 2", ENV, text)
    if settings.threads > 0:
        return settings.threads
    omp = os.environ.get("OMP_NUM_THREADS", "").strip()
    if omp.isdigit() and int(omp) > 0:  # the user (or a job scheduler) already said
        return int(omp)
    return auto_threads(leave)


def auto_threads(leave: int | None = None) -> int:
    """The physical cores, less those left to the window (STUDIO_LEAVE_CORES, which the window
    sets for its worker): the window draws previews and encodes PNGs while torch runs, and an
    intra-op pool that fills every core waits at each barrier for the thread the window bumped.
    Measured on 2 cores, bundled model, Ctrl+Enter to stored: 2 threads 1.25 s alone and 1.85x /
    12.5x with the window busy / another torch job running; 1 thread 0.89 s, 1.04x and 1.52x."""
    if leave is None:
        text = os.environ.get(LEAVE_ENV, "").strip()
        leave = int(text) if text.isdigit() else 0
    return max(1, physical_cores() - leave)
