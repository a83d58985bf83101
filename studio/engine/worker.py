"""The engine worker process: builds a backend from its dotted name and runs the jobs the window's
process sends, one at a time, on a JobQueue of its own; every event goes back over the pipe.

Started by studio.engine.process with multiprocessing's spawn context. This module stays torch-free
at import (the parent imports it to name the target); the backend brings torch into the child only.

Frames, parent -> worker: b"J" + job id (8 bytes) + JobSpec bytes; b"C" + job id (cancel);
b"W" (warm up); b"Q" (quit). Worker -> parent: b"R" + JSON (ready); b"B" + message (the backend
could not be built); b"E" + blob count (1 byte) + event header, then the blobs (studio.core.wire).
"""

from __future__ import annotations

import dataclasses
import importlib
import json
import logging
import os
import signal
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from studio.core import wire
from studio.core.events import TERMINAL, Event, Failed, Queued
from studio.core.jobspec import JobSpec
from studio.core.request import RequestError
from studio.engine.jobs import JobQueue

log = logging.getLogger(__name__)
ID_BYTES = 8


def job_frame(job_id: int, spec: JobSpec) -> bytes:
    return b"J" + job_id.to_bytes(ID_BYTES, "big") + spec.to_bytes()


def cancel_frame(job_id: int) -> bytes:
    return b"C" + job_id.to_bytes(ID_BYTES, "big")


def send_event(conn: Any, event: Event) -> None:
    header, blobs = wire.encode(event)
    conn.send_bytes(b"E" + bytes([len(blobs)]) + header)
    for blob in blobs:
        conn.send_bytes(blob)


def load_backend(dotted: str, kwargs: dict[str, Any]) -> Any:
    """`package.module:Name` called with kwargs; ValueError (one line) for a name that is not one."""
    module_name, _, attr = dotted.partition(":")
    if not module_name or not attr:
        raise ValueError(f"the engine backend must be named as module:Name (got {dotted!r})")
    factory = getattr(importlib.import_module(module_name), attr)
    return factory(**kwargs)


def main(conn: Any, backend: str, kwargs: dict[str, Any], env: dict[str, str] | None = None) -> None:
    """The worker's entry: serve jobs until told to quit or the parent goes away. `env`: variables
    set before the backend (and torch) load, e.g. how many cores to leave to the window."""
    os.environ.update(env or {})
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl+C in a terminal is for the parent to handle
    _die_with_parent()
    started = time.perf_counter()
    try:
        instance = load_backend(backend, kwargs)
    except Exception as exc:
        conn.send_bytes(b"B" + f"the engine could not start: {type(exc).__name__}: {exc}".encode())
        return
    with tempfile.TemporaryDirectory(prefix="studio-worker-") as folder:
        _Worker(conn, instance, Path(folder)).serve(started)


def _die_with_parent() -> None:
    """Linux: the kernel kills this process when its parent dies (even by SIGKILL or os._exit),
    so a worker never lives on holding memory, a GPU, or the parent's terminal."""
    if not sys.platform.startswith("linux"):
        return
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGKILL)  # PR_SET_PDEATHSIG
        if os.getppid() == 1:  # the parent died before the line above
            os._exit(0)
    except (OSError, AttributeError):
        pass  # the pipe's EOF still ends the worker, a moment later


class _Worker:
    def __init__(self, conn: Any, backend: Any, folder: Path) -> None:
        self._conn = conn
        self._folder = folder
        self._send_lock = threading.Lock()
        self._ids: dict[int, tuple[int, JobSpec]] = {}  # local job id -> (parent's id, spec)
        self._local: dict[int, int] = {}  # parent's id -> local id
        self._queue = JobQueue(backend, name="studio-worker-inference")
        self._queue.subscribe(self._forward)

    def serve(self, started: float) -> None:
        ready = {"pid": os.getpid(), "start_s": time.perf_counter() - started}
        self._send(lambda: self._conn.send_bytes(b"R" + json.dumps(ready).encode()))
        while True:
            try:
                frame = self._conn.recv_bytes()
            except (EOFError, OSError):  # the parent went away: stop, whatever runs
                break
            tag, body = frame[:1], frame[1:]
            if tag == b"J":
                self._start(int.from_bytes(body[:ID_BYTES], "big"), body[ID_BYTES:])
            elif tag == b"C":
                local = self._local.get(int.from_bytes(body[:ID_BYTES], "big"))
                if local is not None:
                    self._queue.cancel(local)
            elif tag == b"W":
                self._queue.warm_up()
            elif tag == b"Q":
                break
        self._queue.shutdown(timeout=5.0)

    def _start(self, job_id: int, blob: bytes) -> None:
        try:
            spec = JobSpec.from_bytes(blob)
            local = self._queue.submit(spec.request_in(self._folder))
        except (RequestError, OSError) as exc:
            failed = Failed(job_id, str(exc))
            self._send(lambda: send_event(self._conn, failed))
            return
        self._ids[local] = (job_id, spec)
        self._local[job_id] = local

    def _forward(self, event: Event) -> None:
        if isinstance(event, Queued) or event.job_id not in self._ids:
            return  # the parent tells Queued itself
        job_id, spec = self._ids[event.job_id]
        changes: dict[str, Any] = {"job_id": job_id}
        if getattr(event, "request", None) is not None:
            changes["request"] = spec.restore_paths(event.request)  # type: ignore[attr-defined]
        if isinstance(event, TERMINAL):
            del self._ids[event.job_id]
            self._local.pop(job_id, None)
        self._send(lambda: send_event(self._conn, dataclasses.replace(event, **changes)))

    def _send(self, action: Any) -> None:
        with self._send_lock:
            try:
                action()
            except (OSError, ValueError):  # the parent is gone; serve() sees EOF next
                log.debug("the parent went away while sending")
