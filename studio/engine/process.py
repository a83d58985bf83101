"""LocalProcess: the engine in a worker process of its own, so the window's process never imports
torch, a stuck kernel can be killed, and a crashed driver costs a restart, not the app.

This process owns the queue (ids, waiting jobs, the running one) and sends the worker one job at a
time as JobSpec bytes; the worker (studio.engine.worker) answers with events, pictures as raw
pixels. One supervisor thread here talks to the worker and calls every listener, in order.
"""

from __future__ import annotations

import logging
import multiprocessing
import threading
import time
from collections import deque
from dataclasses import dataclass
from multiprocessing.connection import Connection, wait
from pathlib import Path
from typing import Any

from studio.core import wire as wire_frames
from studio.core.events import (
    TERMINAL,
    Cancelled,
    EngineNotice,
    Event,
    Failed,
    Loading,
    Preview,
)
from studio.core.jobspec import JobSpec
from studio.core.settings import EngineSettings
from studio.engine import worker
from studio.engine.front import ExecutorFront
from studio.engine.sources import cached_sha256

log = logging.getLogger(__name__)
DEFAULT_BACKEND = "studio.engine.backend:DiffusersBackend"
QUIT_GRACE_S = 0.5


@dataclass
class _Job:
    job_id: int
    spec: JobSpec
    crashes: int = 0  # times this job's worker died under it
    cancel_at: float | None = None  # monotonic time the cancel was asked for
    last_preview: Any = None


@dataclass
class _Worker:
    process: Any  # multiprocessing's SpawnProcess
    conn: Connection
    spawned_at: float
    ready_s: float | None = None  # spawn to ready, measured here


class LocalProcess(ExecutorFront):
    """An Executor whose jobs run in a spawned worker process (see studio.engine.executor)."""

    def __init__(self, backend: str = DEFAULT_BACKEND, backend_kwargs: dict[str, Any] | None = None,
                 settings: EngineSettings | None = None, hard_cancel_s: float = 3.0,
                 name: str = "studio-engine", worker_env: dict[str, str] | None = None) -> None:
        self._backend = backend
        self._kwargs = dict(backend_kwargs or {})
        if settings is not None:
            self._kwargs["settings"] = settings
        self.hard_cancel_s = hard_cancel_s
        self._worker_env = dict(worker_env or {})  # set in the worker before torch loads
        self._context = multiprocessing.get_context("spawn")
        self._name = name
        super().__init__()
        self._running: _Job | None = None
        self._cancels: deque[int] = deque()  # cancels for the worker, sent by the supervisor
        self._restart_requested = False  # new settings: replace the worker once it is idle
        self._worker: _Worker | None = None
        self.last_start_s: float | None = None  # the latest worker's spawn-to-ready time
        self._wake_r, self._wake_w = multiprocessing.Pipe(duplex=False)
        self._thread = threading.Thread(target=self._supervise, name=name, daemon=True)
        self._thread.start()

    # ---- what ExecutorFront asks -------------------------------------------------------------
    def _new_job(self, job_id: int, spec: JobSpec) -> _Job:
        return _Job(job_id, spec)

    def _running_jobs(self) -> list[_Job]:  # under self._lock
        return [self._running] if self._running is not None else []

    def _cancel_running(self, job: _Job) -> None:  # under self._lock
        self._cancels.append(job.job_id)

    @property
    def worker_pid(self) -> int | None:
        """The worker process's id while one runs (for diagnostics and tests)."""
        worker_ = self._worker
        return worker_.process.pid if worker_ is not None else None

    # ---- commands ----------------------------------------------------------------------------
    def apply_settings(self, settings: EngineSettings) -> None:
        """Run the jobs that have not started yet with `settings` (threads, device, precision...):
        the worker is replaced as soon as it is idle, the job running now finishes as it began."""
        with self._lock:
            old = self._kwargs.get("settings")
            self._kwargs["settings"] = settings
            if isinstance(old, EngineSettings) and old.engine_part() == settings.engine_part():
                return  # only where grids run changed: keep the loaded model
            self._restart_requested = True
            self._wake()

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Cancel everything, ask the worker to quit (kill it if it will not), stop the thread."""
        stopped = self._stop_supervisor(timeout)
        worker_ = self._worker
        if not stopped and worker_ is not None:  # out of time: never leave it running
            worker_.process.kill()
        return stopped

    def _wake(self) -> None:  # under self._lock
        try:
            self._wake_w.send_bytes(b"!")
        except OSError:  # closed at shutdown
            pass
        self._lock.notify_all()

    # ---- supervisor thread -------------------------------------------------------------------
    def _after_supervising(self) -> None:
        self._stop_worker()
        self._flush()
        with self._lock:
            self._wake_w.close()  # _wake() ignores the closed end from now on
        self._wake_r.close()

    def _step(self) -> bool:
        """One round: tell notices, start a job, wait for the worker or a command. False = stop."""
        with self._lock:
            notices = list(self._notices)
            restart = self._restart_requested and self._running is None
            if restart:
                self._restart_requested = False
            start = None
            if self._running is None and self._pending:
                start = self._running = self._pending.popleft()
            warm, self._warm_up_requested = self._warm_up_requested, False
            cancels = list(self._cancels)
            self._cancels.clear()
            done = self._closing and self._running is None and not self._pending
        self._tell(notices)
        if done:
            return False
        if restart:
            self._stop_worker()  # the next job or warm-up spawns one with the new settings
        if start is not None:
            self._send_job(start)
        elif warm:
            self._send(b"W")
        for job_id in cancels:
            self._send(worker.cancel_frame(job_id))
        self._wait_and_read()
        self._check_hard_cancel()
        return True

    def _tell(self, notices: list[Event]) -> None:
        for event in notices:
            self._emit(event)
        if notices:
            with self._lock:
                for _ in notices:
                    self._notices.popleft()
                self._lock.notify_all()

    def _flush(self) -> None:
        with self._lock:
            notices = list(self._notices)
        self._tell(notices)

    def _emit(self, event: Event) -> None:
        self._listeners.tell(event)

    def _ensure_worker(self, job: _Job | None) -> _Worker:
        if self._worker is None:
            if job is not None:
                self._emit(Loading(job.job_id, "starting the engine"))
            spawned_at = time.perf_counter()
            parent, child = self._context.Pipe()
            process = self._context.Process(
                target=worker.main, args=(child, self._backend, self._kwargs, self._worker_env),
                name=f"{self._name}-worker", daemon=True,  # never outlives this process
            )
            process.start()
            child.close()  # so the worker's death reads as EOF here
            self._worker = _Worker(process, parent, spawned_at)
        return self._worker

    def _send(self, frame: bytes, job: _Job | None = None) -> None:
        worker_ = self._ensure_worker(job)
        try:
            worker_.conn.send_bytes(frame)
        except OSError:  # it died; the next wait sees its sentinel
            log.debug("the engine worker went away while sending")

    def _send_job(self, job: _Job) -> None:
        spec = job.spec
        location = spec.model.location
        if not spec.model.content_hash and location and Path(location).is_file():
            spec = spec.with_model_hash(cached_sha256(location))  # cached only: never reads weights
        try:
            self._ensure_worker(job)
        except Exception as exc:  # e.g. no way to start a process here
            log.exception("cannot start the engine worker")
            self._end_running(Failed(job.job_id, f"the engine could not start: {exc}".splitlines()[0]))
            return
        self._send(worker.job_frame(job.job_id, spec), job)

    def _wait_and_read(self) -> None:
        worker_ = self._worker
        waitables: list[Any] = [self._wake_r]
        if worker_ is not None:
            waitables += [worker_.conn, worker_.process.sentinel]
        timeout = None
        running = self._running
        if running is not None and running.cancel_at is not None:
            timeout = max(0.0, running.cancel_at + self._cancel_limit() - time.monotonic())
        ready = wait(waitables, timeout)
        if self._wake_r in ready:
            while self._wake_r.poll():
                self._wake_r.recv_bytes()
        if worker_ is None:
            return
        for _ in range(64):  # read what is there; the process's end is looked at once it is read
            if not worker_.conn.poll():
                break
            if not self._read(worker_):
                return
        if worker_.process.sentinel in ready and not worker_.conn.poll():
            self._worker_died(worker_)

    def _read(self, worker_: _Worker) -> bool:
        try:
            frame = worker_.conn.recv_bytes()
            tag = frame[:1]
            if tag == b"E":
                blobs = [worker_.conn.recv_bytes() for _ in range(frame[1])]
                self._on_event(wire_frames.decode(frame[2:], blobs))
            elif tag == b"R":
                worker_.ready_s = self.last_start_s = time.perf_counter() - worker_.spawned_at
            elif tag == b"B":
                self._on_broken(worker_, frame[1:].decode("utf-8", "replace"))
                return False
        except (EOFError, OSError):
            self._worker_died(worker_)
            return False
        return True

    def _on_event(self, event: Event) -> None:
        running = self._running
        is_running = running is not None and event.job_id == running.job_id
        if is_running and isinstance(event, Preview):
            running.last_preview = event.image  # type: ignore[union-attr]
        self._emit(event)
        if is_running and isinstance(event, TERMINAL):
            with self._lock:
                self._running = None
                self._lock.notify_all()

    def _end_running(self, event: Event | None) -> None:
        if event is not None:
            self._emit(event)
        with self._lock:
            self._running = None
            self._lock.notify_all()

    def _on_broken(self, worker_: _Worker, message: str) -> None:
        self._discard(worker_, kill=True)
        running = self._running
        if running is not None:
            self._end_running(Failed(running.job_id, message))
        else:
            self._emit(EngineNotice(0, message))

    def _worker_died(self, worker_: _Worker) -> None:
        code = self._discard(worker_, kill=True)
        how = f"signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        running = self._running
        if running is None:
            self._emit(EngineNotice(0, f"the engine stopped ({how}); it restarts with the next job"))
            return
        if running.cancel_at is not None:
            self._end_running(Cancelled(running.job_id, running.last_preview))
            return
        running.crashes += 1
        if running.crashes >= 2:
            self._end_running(Failed(running.job_id, f"this job stopped the engine twice ({how}); "
                                                     "it was not run again"))
            return
        self._emit(EngineNotice(running.job_id, f"the engine stopped ({how}); restarting"))
        with self._lock:
            self._pending.appendleft(running)  # it runs again first, on a new worker
            self._running = None
            running.last_preview = None

    def _check_hard_cancel(self) -> None:
        running = self._running
        if running is None or running.cancel_at is None or self._worker is None:
            return
        if time.monotonic() < running.cancel_at + self._cancel_limit():
            return
        log.warning("job %d ignored cancel for %.1f s; killing the engine worker",
                    running.job_id, self._cancel_limit())
        self._discard(self._worker, kill=True)
        self._end_running(Cancelled(running.job_id, running.last_preview))

    def _cancel_limit(self) -> float:
        # Closing the window waits for nobody: a worker busy importing torch is killed sooner.
        return min(self.hard_cancel_s, QUIT_GRACE_S) if self._closing else self.hard_cancel_s

    def _discard(self, worker_: _Worker, kill: bool) -> int | None:
        """Forget the worker (killing it if asked and still alive); its exit code."""
        if kill and worker_.process.is_alive():
            worker_.process.kill()
        worker_.process.join(5.0)
        worker_.conn.close()
        if self._worker is worker_:
            self._worker = None
        return worker_.process.exitcode

    def _stop_worker(self) -> None:
        worker_ = self._worker
        if worker_ is None:
            return
        try:
            worker_.conn.send_bytes(b"Q")
        except OSError:
            pass
        # A worker holds nothing to save (results are here already); one busy importing torch or
        # inside a kernel may not read "Q" for seconds, and the window must close at once.
        worker_.process.join(QUIT_GRACE_S)
        self._discard(worker_, kill=True)
