"""The Ray actor behind studio.engine.ray_executor: one per GPU (or per share of CPUs), holding a
backend whose model stays loaded across jobs.

The driver hands it one job at a time (`run`, a streaming generator: each event goes back as
soon as it happens, as studio.core.wire's header and blobs) and may `cancel` it meanwhile: the
actor is threaded, so the cancel runs beside the job and the job's JobContext sees it within a
denoising step. The model arrives as a ModelRef and is found on this node by content hash, never
through Ray's object store.
"""

from __future__ import annotations

import os
import queue
import shutil
import tempfile
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import ray

from studio.core import wire
from studio.core.events import TERMINAL, Event, Failed, Preview, Queued
from studio.core.jobspec import JobSpec, ModelRef
from studio.core.request import RequestError
from studio.core.settings import EngineSettings
from studio.engine import worker
from studio.engine.jobs import JobQueue, UserError

Frame = tuple[bytes, list[bytes]]


class StudioActor:
    """Runs the driver's jobs on a JobQueue of its own (one inference thread, as in the window)."""

    def __init__(self, backend: str, settings: EngineSettings, threads: int) -> None:
        # Set before torch loads: the share of cores this actor was given, whatever the node says.
        os.environ["STUDIO_THREADS"] = str(threads)
        os.environ.setdefault("HF_HUB_OFFLINE", "1")  # weights are found here, never downloaded
        self._settings = settings
        self._folder = Path(tempfile.mkdtemp(prefix="studio-ray-"))
        self._queue = JobQueue(worker.load_backend(backend, {"settings": settings}),
                               name="studio-ray-inference")
        self._lock = threading.Lock()
        self._inboxes: dict[int, queue.SimpleQueue[Event]] = {}  # local job id -> its events
        self._local: dict[int, int] = {}  # driver's job id -> local id
        self._early_cancels: set[int] = set()  # cancels that overtook their job
        self._resolved: dict[tuple[str, str], str] = {}
        self._queue.subscribe(self._route)

    def identity(self) -> dict[str, Any]:
        return {"pid": os.getpid(), "node": _node()}

    def warm_up(self) -> None:
        self._queue.warm_up()

    def run(self, job_id: int, blob: bytes, previews: bool) -> Iterator[Frame]:
        """The job's events, Queued left out (the driver tells it), Preview only if asked for."""
        try:
            spec = JobSpec.from_bytes(blob)
            model = self._resolve(spec.model)
            request = spec.request_in(self._folder).replace(model=model)
            request.validate()
        except (RequestError, UserError, OSError) as exc:
            yield wire.encode(Failed(job_id, str(exc).splitlines()[0] if str(exc) else type(exc).__name__))
            return
        inbox: queue.SimpleQueue[Event] = queue.SimpleQueue()
        with self._lock:  # registered before _route can see the job's first event
            local = self._queue.submit(request)
            self._inboxes[local] = inbox
            self._local[job_id] = local
            early = job_id in self._early_cancels
            self._early_cancels.discard(job_id)
        if early:
            self._queue.cancel(local)
        try:
            while True:
                event = inbox.get()
                if isinstance(event, Queued) or (isinstance(event, Preview) and not previews):
                    continue
                yield wire.encode(_with_id(event, job_id))
                if isinstance(event, TERMINAL):
                    return
        finally:  # also when the driver drops the stream: never leave the job running
            with self._lock:
                self._inboxes.pop(local, None)
                self._local.pop(job_id, None)
            self._queue.cancel(local)

    def cancel(self, job_id: int) -> bool:
        with self._lock:
            local = self._local.get(job_id)
            if local is None:
                self._early_cancels.add(job_id)
                return False
        return self._queue.cancel(local)

    def close(self) -> None:
        self._queue.shutdown(timeout=10.0)
        shutil.rmtree(self._folder, ignore_errors=True)

    # ---- inside ---------------------------------------------------------------------------------
    def _route(self, event: Event) -> None:
        with self._lock:
            inbox = self._inboxes.get(event.job_id)
        if inbox is not None:
            inbox.put(event)

    def _resolve(self, ref: ModelRef) -> str:
        """The model on this node: its location if that holds the same weights, else any model in
        this node's folders or Hugging Face cache with the same content hash; UserError if none."""
        from studio.engine.models import list_models
        from studio.engine.sources import content_hash, find_by_hash

        if not ref.content_hash:
            return ref.location  # nothing to check against: run what the artist named
        key = (ref.location, ref.content_hash)
        if key in self._resolved:
            return self._resolved[key]
        found: str | None = None
        try:
            if content_hash(ref.location) == ref.content_hash:
                found = ref.location
        except UserError:  # not on this node (or not readable here): search by hash
            pass
        if found is None:
            candidates = [e.path for e in list_models(self._settings)
                          if e.kind in ("diffusers", "checkpoint") and not e.error]
            path = find_by_hash(ref.content_hash, candidates)
            if path is None:
                name = Path(ref.location).name if ref.location else "the bundled model"
                raise UserError(
                    f"model {name} (sha256 {ref.content_hash[:10]}) is not on Ray node {_node()}: "
                    "copy it into that machine's Studio models folder or Hugging Face cache")
            found = str(path)
        self._resolved[key] = found
        return found


def _with_id(event: Event, job_id: int) -> Event:
    import dataclasses

    return dataclasses.replace(event, job_id=job_id)


def _node() -> str:
    try:
        return ray.util.get_node_ip_address()
    except Exception:  # outside Ray (a test calling the class directly)
        return "this machine"


# Threaded, so cancel() runs while run() streams; Ray never restarts it on its own: the driver
# decides what a death means for the job it was running.
RemoteStudioActor = ray.remote(max_concurrency=4, max_restarts=0)(StudioActor)
