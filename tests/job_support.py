"""Running one request on an engine queue in a test and collecting what it said; and recording
every event an executor tells, for the executor tests."""

from __future__ import annotations

import threading
import time

from studio.core.events import TERMINAL
from studio.core.request import GenerationRequest
from studio.engine.jobs import JobQueue


def job_events(queue: JobQueue, request: GenerationRequest, timeout: float = 300) -> list:
    """Submit `request`, wait until the queue is idle, and return the events of that job."""
    events: list = []
    unsubscribe = queue.subscribe(events.append)
    try:
        job = queue.submit(request)
        assert queue.wait_idle(timeout=timeout), f"the job did not end within {timeout} s"
    finally:
        unsubscribe()
    return [e for e in events if e.job_id == job]


class Recorder:
    """Every event an executor tells, when it arrived and on which thread; `hooks` are called with
    each event after it is recorded (on the executor's events thread)."""

    def __init__(self, executor) -> None:  # noqa: ANN001 - any Executor
        self.events: list = []
        self.arrival: dict[int, float] = {}  # id(event) -> monotonic time it arrived
        self.threads: set[str] = set()
        self.hooks: list = []
        self._lock = threading.Lock()
        executor.subscribe(self)

    def __call__(self, event) -> None:  # noqa: ANN001 - an Event
        with self._lock:
            self.events.append(event)
            self.arrival[id(event)] = time.monotonic()
            self.threads.add(threading.current_thread().name)
        for hook in list(self.hooks):
            hook(event)

    def of(self, job_id: int) -> list:
        with self._lock:
            return [e for e in self.events if e.job_id == job_id]

    def kinds(self, job_id: int) -> list[str]:
        return [type(e).__name__ for e in self.of(job_id)]

    def terminals(self, job_id: int) -> list:
        return [e for e in self.of(job_id) if isinstance(e, TERMINAL)]
