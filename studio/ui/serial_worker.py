"""One background thread that runs submitted work in order: the gallery's writes, imports read
from dropped files, exports. Started on first use; `wait()` drains it (tests, closing the window),
`stop()` drops what has not started."""

from __future__ import annotations

from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any


class SerialWorker:
    def __init__(self, name: str) -> None:
        self._name = name
        self._pool: ThreadPoolExecutor | None = None

    def submit(self, work: Callable[..., Any], *args: Any) -> None:
        if self._pool is None:
            self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix=self._name)
        self._pool.submit(work, *args)

    def wait(self) -> None:
        """Block until everything submitted has run."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None

    def stop(self) -> None:
        """Drop work not started yet; what runs now finishes on its own."""
        if self._pool is not None:
            self._pool.shutdown(wait=False, cancel_futures=True)
            self._pool = None
