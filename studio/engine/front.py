"""The half of an executor that stays with the caller when jobs run elsewhere (a worker process,
Ray actors): job ids, the waiting queue, and notices that callers' threads leave for the
supervisor thread to tell, so every event of a job reaches listeners from that one thread, in order.

LocalProcess and RayExecutor build on it; each brings its supervisor thread and says which jobs
are running and how a running job hears a cancel.
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
from collections import deque
from collections.abc import Callable
from typing import Any

from studio.core.events import Cancelled, Event, Queued
from studio.core.jobspec import JobSpec
from studio.core.request import GenerationRequest
from studio.engine.jobs import JobInfo, Listener, Listeners

log = logging.getLogger(__name__)


class ExecutorFront:
    """Submit, cancel, list and wait, under one lock; the subclass's supervisor does the rest."""

    _thread: threading.Thread  # the subclass's supervisor, started in its __init__

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self._lock = threading.Condition()
        self._pending: deque[Any] = deque()  # the subclass's job records, in the order they run
        self._notices: deque[Event] = deque()  # told on a caller's thread, emitted by the supervisor
        self._listeners = Listeners()
        self._closing = False
        self._warm_up_requested = False

    # ---- what a subclass says ----------------------------------------------------------------
    def _new_job(self, job_id: int, spec: JobSpec) -> Any:
        """The record the subclass keeps for a job (it has job_id, spec and cancel_at)."""
        raise NotImplementedError

    def _running_jobs(self) -> list[Any]:  # under self._lock
        raise NotImplementedError

    def _cancel_running(self, job: Any) -> None:  # under self._lock: hand it to the supervisor
        raise NotImplementedError

    def _wake(self) -> None:  # under self._lock: rouse the supervisor
        raise NotImplementedError

    def _step(self) -> bool:  # on the supervisor thread: one round; False = stop
        raise NotImplementedError

    def _after_supervising(self) -> None:  # on the supervisor thread, last: let go of everything
        raise NotImplementedError

    def _supervise(self) -> None:
        """The supervisor thread's body (the subclass starts a thread on it)."""
        try:
            while self._step():
                pass
        except Exception:  # never leave callers waiting on a dead thread without a word
            log.exception("the %s supervisor failed", type(self).__name__)
        finally:
            self._after_supervising()

    # ---- observing ---------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every event (on the supervisor thread). Returns an unsubscribe."""
        return self._listeners.subscribe(listener)

    def jobs(self) -> list[JobInfo]:
        with self._lock:
            running = [JobInfo(j.job_id, j.spec.request, "running") for j in self._running_jobs()]
            return running + [JobInfo(j.job_id, j.spec.request, "queued") for j in self._pending]

    # ---- commands ----------------------------------------------------------------------------
    def submit(self, job: GenerationRequest | JobSpec) -> int:
        """Validate and enqueue; RequestError (one line) at once. A request's input pictures are
        read now, so the job runs on them as they are at submit."""
        spec = JobSpec.of(job)
        with self._lock:
            if self._closing:
                raise RuntimeError("the engine is shutting down")
            entry = self._new_job(next(self._ids), spec)
            position = len(self._pending) + len(self._running_jobs())
            self._notices.append(Queued(entry.job_id, spec.request, position))
            self._pending.append(entry)
            self._wake()
        return entry.job_id

    def warm_up(self) -> None:
        """Start the engine now and let it import torch while the artist is still typing."""
        with self._lock:
            self._warm_up_requested = True
            self._wake()

    def cancel(self, job_id: int) -> bool:
        """A waiting job at once; a running one within a step (the subclass enforces a limit after
        which it stops the engine under it). False if the job is unknown or over."""
        with self._lock:
            for running in self._running_jobs():
                if running.job_id == job_id:
                    if running.cancel_at is None:
                        running.cancel_at = time.monotonic()
                        self._cancel_running(running)
                        self._wake()
                    return True
            for entry in self._pending:
                if entry.job_id == job_id:
                    self._pending.remove(entry)
                    self._notices.append(Cancelled(job_id))
                    self._wake()
                    return True
            return False

    def cancel_all(self) -> None:
        for info in self.jobs():
            self.cancel(info.job_id)

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing runs or waits and every notice was told; False on timeout."""
        with self._lock:
            return self._lock.wait_for(
                lambda: not self._running_jobs() and not self._pending and not self._notices,
                timeout=timeout,
            )

    def _stop_supervisor(self, timeout: float) -> bool:
        """Cancel everything and let the supervisor finish; True if it did within `timeout`."""
        with self._lock:
            self._closing = True
        self.cancel_all()
        with self._lock:
            self._wake()
        self._thread.join(timeout)
        return not self._thread.is_alive()
