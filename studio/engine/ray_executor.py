"""RayExecutor: the Executor whose jobs run on Ray actors, on this machine or a cluster (issue 23).

The queue stays here, with the process that submitted the jobs (and writes the gallery): waiting
jobs, ids, cancels. Each actor (studio.engine._ray_actor) holds a loaded model and gets one job at
a time, so an actor that dies loses at most the job it was running, which then runs again on
another (or a restarted) actor. Events stream back as they happen and reach listeners from one
supervisor thread here, in order, as with LocalProcess. Models travel by content hash: an actor
finds the same weights on its own node; no weights go through Ray's object store.

Torch- and Ray-free at import: `ray` is imported when an executor is made, so Studio runs without
the extra installed (pip install -e ".[ray]"). Errors for the artist are UserError, one line.
"""

from __future__ import annotations

import dataclasses
import itertools
import logging
import queue
import threading
import time
from collections import deque
from dataclasses import dataclass
from typing import Any

from studio.core import wire
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
from studio.core.settings import EngineSettings, load_settings
from studio.engine.front import ExecutorFront
from studio.engine.jobs import UserError
from studio.engine.process import DEFAULT_BACKEND, QUIT_GRACE_S
from studio.engine.ray_cluster import (
    ENV,
    INSTALL_HINT,
    connect,
    import_ray,
    one_line,
    plan_actors,
    ray_address,
)

log = logging.getLogger(__name__)
NO_PREVIEWS = 1 << 30  # preview_every for actors whose previews nobody wants (one at the last step)


@dataclass
class _Job:
    job_id: int
    spec: JobSpec
    crashes: int = 0  # times an actor died under it
    lost: int = 0  # times it went to an actor already dead (it said nothing): not its fault
    cancel_at: float | None = None  # monotonic time the cancel was asked for
    last_preview: Any = None


@dataclass
class _Slot:
    index: int
    handle: Any = None  # the actor, None until made (or after it died)
    identity: Any = None  # ObjectRef of {"pid", "node"}
    job: _Job | None = None
    token: int = 0  # which dispatch the slot's reader thread reports for
    heard: bool = False  # the actor sent something for this dispatch


class RayExecutor(ExecutorFront):
    """An Executor (studio.engine.executor) whose jobs run on Ray actors."""

    def __init__(self, address: str | None = "local", actors: int | None = None,
                 settings: EngineSettings | None = None, previews: bool = False,
                 backend: str = DEFAULT_BACKEND, hard_cancel_s: float = 5.0) -> None:
        self._ray = import_ray()
        self.address = ray_address(address) or "local"
        self._owns_ray = connect(self._ray, self.address)
        settings = (settings or load_settings()).validated()
        if not previews:
            settings = dataclasses.replace(settings, preview_every=NO_PREVIEWS)
        self._settings, self._previews, self._backend = settings, previews, backend
        self.hard_cancel_s = hard_cancel_s
        self._actor_options, self._threads, count = plan_actors(self._ray, actors)
        super().__init__()
        self._slots = [_Slot(i) for i in range(count)]
        self._tokens = itertools.count(1)
        self._cancels: deque[_Job] = deque()
        self._inbox: queue.SimpleQueue[tuple] = queue.SimpleQueue()
        self._hashes: dict[str, tuple[str, str]] = {}  # location -> (quick identity, content hash)
        self._thread = threading.Thread(target=self._supervise, name="studio-ray", daemon=True)
        self._thread.start()

    @property
    def actor_count(self) -> int:
        return len(self._slots)

    # ---- what ExecutorFront asks -------------------------------------------------------------
    def _new_job(self, job_id: int, spec: JobSpec) -> _Job:
        return _Job(job_id, spec)

    def _running_jobs(self) -> list[_Job]:  # under self._lock
        return [s.job for s in self._slots if s.job is not None]

    def _cancel_running(self, job: _Job) -> None:  # under self._lock
        self._cancels.append(job)

    # ---- observing ---------------------------------------------------------------------------
    def running_pids(self, timeout: float = 30.0) -> dict[int, int]:
        """Job id -> the process id of the actor running it (diagnostics, tests, benchmarks)."""
        with self._lock:
            pairs = [(s.job.job_id, s.identity) for s in self._slots if s.job is not None and s.identity]
        return {job_id: self._ray.get(ref, timeout=timeout)["pid"] for job_id, ref in pairs}

    # ---- commands ----------------------------------------------------------------------------
    def shutdown(self, timeout: float = 30.0) -> bool:
        """Cancel everything, stop the actors (and the local Ray instance this started)."""
        stopped = self._stop_supervisor(timeout)
        self._kill_actors()
        if self._owns_ray:
            self._ray.shutdown()
        return stopped

    def _idle(self) -> bool:  # under self._lock
        return not self._pending and not self._notices and all(s.job is None for s in self._slots)

    def _wake(self) -> None:  # under self._lock
        self._inbox.put(("wake",))
        self._lock.notify_all()

    # ---- supervisor thread -------------------------------------------------------------------
    def _after_supervising(self) -> None:
        self._tell()

    def _step(self) -> bool:
        """One round: tell notices, hand out jobs, send cancels, then wait for a message."""
        with self._lock:
            warm, self._warm_up_requested = self._warm_up_requested, False
            starts = []  # taken with the notices, so a job's Queued is told before its start
            for slot in self._slots:
                if slot.job is None and self._pending:
                    slot.job, slot.token = self._pending.popleft(), next(self._tokens)
                    slot.heard = False
                    starts.append(slot)
            notices = list(self._notices)
            done = self._closing and self._idle()
        self._tell(notices)
        if done:
            return False
        if warm:
            for slot in self._slots:
                self._ensure_actor(slot).warm_up.remote()
        for slot in starts:
            self._start(slot)
        with self._lock:
            cancels = list(self._cancels)
            self._cancels.clear()
        for job in cancels:  # after the starts: the actor takes a cancel that overtakes its job
            slot = self._slot_of(job)
            if slot is not None and slot.handle is not None:
                slot.handle.cancel.remote(job.job_id)
        try:
            message = self._inbox.get(timeout=self._hard_cancel_wait())
        except queue.Empty:
            message = ("wake",)
        while True:  # everything that is there, in order
            self._handle(message)
            try:
                message = self._inbox.get_nowait()
            except queue.Empty:
                break
        self._check_hard_cancel()
        return True

    def _tell(self, notices: list[Event] | None = None) -> None:
        if notices is None:
            with self._lock:
                notices = list(self._notices)
        for event in notices:
            self._listeners.tell(event)
        if notices:
            with self._lock:
                for _ in notices:
                    self._notices.popleft()
                self._lock.notify_all()

    def _emit(self, event: Event) -> None:
        self._listeners.tell(event)

    def _start(self, slot: _Slot) -> None:
        job, token = slot.job, slot.token
        assert job is not None
        try:
            spec = self._with_hash(job)
            handle = self._ensure_actor(slot, job)
            stream = handle.run.remote(job.job_id, spec.to_bytes(), self._previews)
        except UserError as exc:
            self._end(slot, Failed(job.job_id, str(exc)))
            return
        except Exception as exc:  # Ray refused (the cluster went away...): say it in one line
            log.exception("cannot hand job %d to Ray", job.job_id)
            self._end(slot, Failed(job.job_id, f"Ray could not run this picture: {one_line(exc)}"))
            return
        threading.Thread(target=self._read, args=(token, stream), daemon=True,
                         name=f"studio-ray-reader-{slot.index}").start()

    def _with_hash(self, job: _Job) -> JobSpec:
        """The spec with its model's content hash, so a node finds the same weights by it."""
        from studio.engine.sources import content_hash, model_dir_for, quick_identity

        spec = job.spec
        if spec.model.content_hash:
            return spec
        location = spec.model.location
        path = model_dir_for(location)
        identity = quick_identity(path)
        known = self._hashes.get(location)
        if known is None or known[0] != identity:
            told = [-1.0]

            def progress(fraction: float) -> None:  # a few events, not one per 8 MB read
                if fraction - told[0] >= 0.05 or fraction >= 1.0 > told[0]:
                    told[0] = fraction
                    self._emit(Loading(job.job_id, "hashing the model", fraction))

            value = content_hash(location, progress)
            known = self._hashes[location] = (identity, value)
        return spec.with_model_hash(known[1])

    def _ensure_actor(self, slot: _Slot, job: _Job | None = None) -> Any:
        if slot.handle is None:
            from studio.engine._ray_actor import RemoteStudioActor

            if job is not None:
                self._emit(Loading(job.job_id, "starting a Ray actor"))
            slot.handle = RemoteStudioActor.options(**self._actor_options).remote(
                self._backend, self._settings, self._threads)
            slot.identity = slot.handle.identity.remote()
        return slot.handle

    def _read(self, token: int, stream: Any) -> None:
        """A reader thread: the dispatch's frames into the inbox, then how the stream ended."""
        ray = self._ray
        try:
            for ref in stream:
                self._inbox.put(("frame", token, ray.get(ref)))
        except ray.exceptions.RayActorError as exc:
            self._inbox.put(("died", token, exc))
        except Exception as exc:  # the actor raised: a bug there, not a death
            self._inbox.put(("error", token, exc))
        else:
            self._inbox.put(("end", token))

    def _handle(self, message: tuple) -> None:
        kind = message[0]
        if kind == "wake":
            return
        slot = next((s for s in self._slots if s.job is not None and s.token == message[1]), None)
        if slot is None or slot.job is None:
            return  # from a dispatch already ended (a killed actor's last words)
        job = slot.job
        if kind == "frame":
            slot.heard = True
            header, blobs = message[2]
            self._on_event(slot, job, wire.decode(header, blobs))
        elif kind == "died":
            self._actor_died(slot, job)
        elif kind == "error":
            self._end(slot, Failed(job.job_id, f"the Ray actor failed: {one_line(message[2])}"))
        elif kind == "end":  # the stream ended with no terminal event: should not happen
            self._end(slot, Failed(job.job_id, "the Ray actor stopped answering for this picture"))

    def _on_event(self, slot: _Slot, job: _Job, event: Event) -> None:
        request = getattr(event, "request", None)
        if request is not None:  # the artist's own paths and model name, as the gallery records
            restored = job.spec.restore_paths(request).replace(model=job.spec.request.model)
            event = dataclasses.replace(event, request=restored)  # type: ignore[call-arg]
        if isinstance(event, Preview):
            job.last_preview = event.image
        if isinstance(event, TERMINAL):
            self._end(slot, event)
        else:
            self._emit(event)

    def _end(self, slot: _Slot, event: Event) -> None:
        self._emit(event)
        with self._lock:
            slot.job = None
            slot.token = 0
            self._lock.notify_all()

    def _actor_died(self, slot: _Slot, job: _Job) -> None:
        pid = self._pid_of(slot)
        self._forget_actor(slot)
        what = f"a Ray actor (process {pid})" if pid else "a Ray actor"
        if job.cancel_at is not None:
            self._end(slot, Cancelled(job.job_id, job.last_preview))
            return
        if slot.heard:
            job.crashes += 1
        else:  # the actor was dead before it took the job (killed while idle)
            job.lost += 1
        if job.crashes >= 2:
            self._end(slot, Failed(job.job_id, f"this picture stopped {what} twice; it was not run again"))
            return
        if job.lost >= 3:
            self._end(slot, Failed(job.job_id, "Ray actors keep stopping before they take this "
                                               "picture: check the cluster's memory and logs"))
            return
        self._emit(EngineNotice(job.job_id, f"{what} stopped; running this picture again"))
        with self._lock:
            job.last_preview = None
            self._pending.appendleft(job)  # first in line, on whichever actor is free next
            slot.job = None
            slot.token = 0

    def _hard_cancel_wait(self) -> float | None:
        limit = self._cancel_limit()
        times = [s.job.cancel_at for s in self._slots if s.job is not None and s.job.cancel_at is not None]
        return max(0.0, min(times) + limit - time.monotonic()) if times else None

    def _check_hard_cancel(self) -> None:
        now, limit = time.monotonic(), self._cancel_limit()
        for slot in self._slots:
            job = slot.job
            if job is not None and job.cancel_at is not None and now >= job.cancel_at + limit:
                log.warning("job %d ignored cancel for %.1f s; killing its Ray actor", job.job_id, limit)
                self._forget_actor(slot)
                self._end(slot, Cancelled(job.job_id, job.last_preview))

    def _cancel_limit(self) -> float:
        return min(self.hard_cancel_s, QUIT_GRACE_S) if self._closing else self.hard_cancel_s

    def _slot_of(self, job: _Job) -> _Slot | None:
        return next((s for s in self._slots if s.job is job), None)

    def _pid_of(self, slot: _Slot) -> int | None:
        try:
            return self._ray.get(slot.identity, timeout=0.5)["pid"] if slot.identity else None
        except Exception:  # it died before it could say
            return None

    def _forget_actor(self, slot: _Slot) -> None:
        if slot.handle is not None:
            try:
                self._ray.kill(slot.handle, no_restart=True)
            except Exception:  # already gone
                pass
        slot.handle = slot.identity = None

    def _kill_actors(self) -> None:
        for slot in self._slots:
            self._forget_actor(slot)


__all__ = ["ENV", "INSTALL_HINT", "RayExecutor", "ray_address"]
