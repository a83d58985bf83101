"""Runs a sweep on any Executor (in-thread, the worker process, Ray): every cell is an ordinary job.

The run only submits the cells' specs and listens: where they run, how many at once and how a
crashed worker's cell is run again is the executor's business, so the same sweep gives the same
cells everywhere. Cancel stops the cells still to come and keeps the finished ones.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from studio.core.events import TERMINAL, Cancelled, Event, Failed, Finished, Progress
from studio.core.jobspec import JobSpec
from studio.core.sweep import Cell, Sweep
from studio.engine.executor import Executor

Index = tuple[int, int, int]


@dataclass
class SweepState:
    """What a run has so far; read it after `wait()` or from the callbacks."""

    total: int
    finished: dict[Index, Finished] = field(default_factory=dict)
    failed: dict[Index, str] = field(default_factory=dict)
    cancelled: set[Index] = field(default_factory=set)
    steps: dict[Index, float] = field(default_factory=dict)  # running cells: fraction of their steps
    started: float = field(default_factory=time.perf_counter)

    @property
    def done(self) -> int:
        return len(self.finished) + len(self.failed) + len(self.cancelled)

    @property
    def fraction(self) -> float:
        """0..1 over the whole sweep, counting the running cells' steps."""
        return (len(self.finished) + len(self.failed) + sum(self.steps.values())) / max(1, self.total)


class SweepRun:
    """Submit a sweep's cells to `executor` and follow them.

    `on_cell(cell, event)` is called once per cell with its Finished, Failed or Cancelled event;
    `on_progress(state)` after every step. Both run on the executor's events thread.
    """

    def __init__(
        self,
        sweep: Sweep,
        executor: Executor,
        on_cell: Callable[[Cell, Event], None] | None = None,
        on_progress: Callable[[SweepState], None] | None = None,
        spec_for: Callable[[Cell], JobSpec] | None = None,
    ) -> None:
        self.sweep = sweep
        self.executor = executor
        self.cells = sweep.cells()  # RequestError here, before any job is submitted
        self.state = SweepState(len(self.cells))
        self._on_cell = on_cell
        self._on_progress = on_progress
        self._spec_for = spec_for or (lambda cell: JobSpec.from_request(cell.request))
        self._jobs: dict[int, Cell] = {}
        self._lock = threading.Lock()
        self._all_done = threading.Event()
        self._unsubscribe: Callable[[], None] | None = None
        self._cancelling = False

    def start(self) -> list[int]:
        """Submit every cell (RequestError, one line, before any runs if a cell cannot); job ids."""
        specs = [self._spec_for(cell) for cell in self.cells]
        self._unsubscribe = self.executor.subscribe(self._listen)
        ids = []
        with self._lock:  # events of the first jobs wait until every job id is known
            for cell, spec in zip(self.cells, specs, strict=True):
                job_id = self.executor.submit(spec)
                self._jobs[job_id] = cell
                ids.append(job_id)
        if not self.cells:
            self._finish()
        return ids

    def cancel(self) -> None:
        """Stop the cells not finished yet; the finished ones stay."""
        with self._lock:
            self._cancelling = True
            pending = [job_id for job_id, cell in self._jobs.items() if not self._ended(cell)]
        for job_id in pending:
            self.executor.cancel(job_id)

    def wait(self, timeout: float | None = None) -> bool:
        """True once every cell has ended (finished, failed or cancelled)."""
        return self._all_done.wait(timeout)

    @property
    def job_ids(self) -> list[int]:
        with self._lock:
            return list(self._jobs)

    def _ended(self, cell: Cell) -> bool:
        index = cell.index
        return index in self.state.finished or index in self.state.failed or index in self.state.cancelled

    def _listen(self, event: Event) -> None:
        with self._lock:
            cell = self._jobs.get(event.job_id)
            if cell is None or self._ended(cell):
                return
            index = cell.index
            if isinstance(event, Progress):
                self.state.steps[index] = event.step / max(1, event.total)
            elif isinstance(event, TERMINAL):
                self.state.steps.pop(index, None)
                if isinstance(event, Finished):
                    self.state.finished[index] = event
                elif isinstance(event, Failed):
                    self.state.failed[index] = event.message
                elif isinstance(event, Cancelled):
                    self.state.cancelled.add(index)
            else:
                return
            complete = self.state.done == self.state.total
        if isinstance(event, TERMINAL) and self._on_cell is not None:
            self._on_cell(cell, event)
        if self._on_progress is not None:
            self._on_progress(self.state)
        if complete:
            self._finish()

    def _finish(self) -> None:
        if self._unsubscribe is not None:
            self._unsubscribe()
        self._all_done.set()
