"""The job queue: one inference thread, FIFO jobs, cancel, and an event stream.

Diffusers pipelines are not thread-safe, so every job runs on the single worker thread owned here.
A Backend does the actual work (the diffusers one, or a fake for UI tests); this module owns the
ordering guarantees: Queued first, exactly one terminal event last, nothing escapes the thread.
Every event, Queued and a waiting job's Cancelled included, reaches listeners from one events
thread owned here, in the order it happened (never on the caller of submit or cancel).
"""

from __future__ import annotations

import itertools
import logging
import threading
import time
import traceback
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Protocol

from studio.core.events import Cancelled, Event, Failed, Finished, JobWarning, Queued
from studio.core.request import GenerationRequest, RequestError

if TYPE_CHECKING:
    from studio.core.jobspec import JobSpec

log = logging.getLogger(__name__)

Listener = Callable[[Event], None]


class Listeners:
    """Who hears an executor's events: subscribe from any thread, then `tell` each event (on the
    executor's events thread). A listener that raises is logged and the others still hear it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._listeners: list[Listener] = []

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Add `listener`; returns the function that removes it."""
        with self._lock:
            self._listeners.append(listener)

        def unsubscribe() -> None:
            with self._lock:
                if listener in self._listeners:
                    self._listeners.remove(listener)

        return unsubscribe

    def tell(self, event: Event) -> None:
        with self._lock:
            listeners = list(self._listeners)
        for listener in listeners:
            try:
                listener(event)
            except Exception:  # a broken listener must not stop the events
                log.exception("event listener failed on %r", type(event).__name__)


class JobCancelled(Exception):
    """Raised inside a backend to stop a job early; the queue turns it into a Cancelled event."""


class UserError(Exception):
    """A failure whose message is already one line an artist can act on (bad file, out of memory...)."""


@dataclass
class JobContext:
    """What a backend sees of a job: its request, a way to emit events, and the cancel flag."""

    job_id: int
    request: GenerationRequest
    _emit: Callable[[Event], None]
    _cancel: threading.Event = field(default_factory=threading.Event)
    last_preview: object | None = None  # PIL image of the latest preview, for Cancelled
    # Settings the backend resolved for this run (e.g. the model's own guidance rescale), which
    # the Finished event's info records beside the request.
    applied: dict[str, object] = field(default_factory=dict)

    @property
    def cancelled(self) -> bool:
        return self._cancel.is_set()

    def check_cancelled(self) -> None:
        if self._cancel.is_set():
            raise JobCancelled()

    def emit(self, event: Event) -> None:
        self._emit(event)

    def warn(self, message: str) -> None:
        self._emit(JobWarning(self.job_id, message))


class Backend(Protocol):
    def run(self, job: JobContext) -> Finished:
        """Run one job on the worker thread; return its Finished event or raise JobCancelled."""
        ...

    def close(self) -> None:
        """Free models and memory; called on the worker thread when the queue shuts down."""
        ...

    # Optional: `warm_up(self) -> None`, called on the worker thread by JobQueue.warm_up().


@dataclass(frozen=True)
class JobInfo:
    job_id: int
    request: GenerationRequest
    state: str  # "queued" or "running"


class JobQueue:
    """Runs jobs one at a time on a single worker thread that shutdown() joins; the in-thread
    Executor (studio.engine.executor.InThread is this class)."""

    def __init__(self, backend: Backend, name: str = "studio-inference") -> None:
        self._backend = backend
        self._ids = itertools.count(1)
        self._lock = threading.Condition()
        self._pending: deque[JobContext] = deque()
        self._running: JobContext | None = None
        self._listeners = Listeners()
        self._closing = False
        self._warm_up_requested = False
        self._outbox: deque[Event | None] = deque()  # None tells the events thread to stop
        self._undelivered = 0  # events put in the outbox and not yet handed to every listener
        self._thread = threading.Thread(target=self._loop, name=name, daemon=True)
        self._events = threading.Thread(target=self._deliver, name=f"{name}-events", daemon=True)
        self._events.start()
        self._thread.start()

    # ---- observing ---------------------------------------------------------------------------
    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every event (on the events thread). Returns an unsubscribe function."""
        return self._listeners.subscribe(listener)

    def jobs(self) -> list[JobInfo]:
        """The running job (if any) then the waiting ones, in the order they will run."""
        with self._lock:
            out = []
            if self._running is not None:
                out.append(JobInfo(self._running.job_id, self._running.request, "running"))
            out.extend(JobInfo(j.job_id, j.request, "queued") for j in self._pending)
            return out

    # ---- commands ----------------------------------------------------------------------------
    def submit(self, job: GenerationRequest | JobSpec) -> int:
        """Validate and enqueue; raises RequestError at once for a request that cannot run.

        A JobSpec runs its request as is: this thread shares the artist's files."""
        request = job if isinstance(job, GenerationRequest) else job.request
        request.validate()
        with self._lock:
            if self._closing:
                raise RuntimeError("the engine is shutting down")
            context = JobContext(next(self._ids), request, self._emit)
            position = len(self._pending) + (self._running is not None)
            # Queued goes out before the worker can see the job, so it always comes first.
            self._emit(Queued(context.job_id, request, position))
            self._pending.append(context)
            self._lock.notify_all()
        return context.job_id

    def warm_up(self) -> None:
        """Let the worker prepare the backend (heavy imports) while the artist is still typing.

        Runs on the worker thread before the next job; a job submitted meanwhile simply waits
        for it, as it would have had to do the same work. Failures are logged, never raised.
        """
        if not hasattr(self._backend, "warm_up"):
            return
        with self._lock:
            self._warm_up_requested = True
            self._lock.notify_all()

    def cancel(self, job_id: int) -> bool:
        """Cancel a waiting job at once, or the running one within a denoising step."""
        with self._lock:
            if self._running is not None and self._running.job_id == job_id:
                self._running._cancel.set()
                return True
            for job in self._pending:
                if job.job_id == job_id:
                    self._pending.remove(job)
                    self._emit(Cancelled(job_id))
                    self._lock.notify_all()
                    return True
            return False

    def cancel_all(self) -> None:
        with self._lock:
            ids = [j.job_id for j in self._pending]
            if self._running is not None:
                ids.insert(0, self._running.job_id)
        for job_id in ids:
            self.cancel(job_id)

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Cancel everything, stop the thread and free the backend. True if the thread ended."""
        with self._lock:
            self._closing = True
        self.cancel_all()
        with self._lock:
            self._lock.notify_all()
        deadline = time.monotonic() + timeout
        self._thread.join(timeout)
        self._events.join(max(0.0, deadline - time.monotonic()))  # it stops after the last event
        return not self._thread.is_alive()

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until no job is running or waiting and every event has reached the listeners."""
        with self._lock:
            return self._lock.wait_for(
                lambda: self._running is None and not self._pending and not self._undelivered,
                timeout=timeout,
            )

    # ---- events ------------------------------------------------------------------------------
    def _emit(self, event: Event | None) -> None:
        with self._lock:
            self._outbox.append(event)
            self._undelivered += 1
            self._lock.notify_all()

    def _deliver(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._outbox)
                event = self._outbox.popleft()
            if event is None:
                with self._lock:
                    self._undelivered -= 1
                    self._lock.notify_all()
                return
            self._listeners.tell(event)
            with self._lock:
                self._undelivered -= 1
                self._lock.notify_all()

    # ---- worker ------------------------------------------------------------------------------

    def _loop(self) -> None:
        while True:
            with self._lock:
                self._lock.wait_for(lambda: self._pending or self._closing or self._warm_up_requested)
                if self._warm_up_requested and not self._closing:
                    self._warm_up_requested = False
                    job = None
                elif not self._pending:  # closing, and nothing left
                    break
                else:
                    job = self._pending.popleft()
                    self._running = job
            if job is None:
                self._warm_up()
                continue
            self._run_one(job)
            with self._lock:
                self._running = None
                self._lock.notify_all()
        try:
            self._backend.close()
        except Exception:
            log.exception("backend close failed")
        self._emit(None)

    def _warm_up(self) -> None:
        try:
            self._backend.warm_up()  # type: ignore[attr-defined]
        except Exception:  # only a head start: the first job will meet (and report) the problem
            log.exception("engine warm-up failed")

    def _run_one(self, job: JobContext) -> None:
        try:
            if job.cancelled:
                raise JobCancelled()
            finished = self._backend.run(job)
        except JobCancelled:
            self._emit(Cancelled(job.job_id, job.last_preview))  # type: ignore[arg-type]
        except (RequestError, UserError) as exc:
            self._emit(Failed(job.job_id, str(exc)))
        except MemoryError:
            self._emit(Failed(job.job_id, "out of memory: try a smaller size or fewer jobs at once"))
        except Exception as exc:  # never let the worker die; report in words, keep the detail
            log.exception("job %d failed", job.job_id)
            self._emit(Failed(job.job_id, _one_line(exc), traceback.format_exc()))
        else:
            if job.cancelled:  # cancel arrived after the last step: still honour it
                self._emit(Cancelled(job.job_id, finished.image))
            else:
                self._emit(finished)


def _one_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    first = text[0] if text else ""
    name = type(exc).__name__
    return f"{name}: {first}" if first else name
