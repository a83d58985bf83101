"""Asking the engine a question without the GUI thread waiting for the answer.

Listing models, reading a model's header or config, hashing a file, decoding a picture: each reads
files (a network drive, a cold disk, a 7 GB checkpoint) and would freeze the window while it does.
`EngineQueries.ask(fn, *args, on_answer=…, on_error=…)` runs `fn` on a background thread and
calls `on_answer(result)` (or `on_error(exception)`) later on the GUI thread, through a queued
signal. Asks with the same `topic` supersede each other: only the newest one's answer is
delivered (the artist picked another model meanwhile), so a slow old answer never overwrites a
new one. `lane` picks the worker: quick reads share "engine"; whole-file hashing runs on "files"
so a gigabyte hash never holds up a size lookup.

Lane threads are daemons started on demand that end when idle, so a long read never delays
quitting. One is built by the composition root (studio/ui/composition.py) and handed to the panels.
"""

from __future__ import annotations

import itertools
import logging
import queue
import threading
from collections.abc import Callable, Hashable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QObject, Signal

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class _Ticket:
    number: int
    topic: Hashable | None
    on_answer: Callable[[Any], None]
    on_error: Callable[[Exception], None] | None


class EngineQueries(QObject):
    """Runs engine look-ups off the GUI thread and answers on it; stale answers are dropped."""

    _answered = Signal(object, object, object)  # ticket, answer, exception or None (worker -> GUI)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._lanes: dict[str, _Lane] = {}
        self._latest: dict[Hashable, int] = {}  # topic -> the number of its newest ask
        self._numbers = itertools.count(1)
        self._pending = 0  # asks whose answer has not come back yet (GUI thread only)
        self._answered.connect(self._deliver)

    def ask(
        self,
        fn: Callable[..., Any],
        *args: Any,
        on_answer: Callable[[Any], None],
        on_error: Callable[[Exception], None] | None = None,
        topic: Hashable | None = None,
        lane: str = "engine",
    ) -> int:
        """Run `fn(*args)` on `lane`'s thread; its result goes to `on_answer` on the GUI thread
        (an exception to `on_error`, or the log). Returns at once with the ask's number."""
        ticket = _Ticket(next(self._numbers), topic, on_answer, on_error)
        if topic is not None:
            self._latest[topic] = ticket.number
        self._pending += 1
        lane_worker = self._lanes.get(lane)
        if lane_worker is None:
            lane_worker = self._lanes[lane] = _Lane(f"studio-ask-{lane}")
        lane_worker.submit(lambda: self._work(ticket, fn, args))
        return ticket.number

    def forget(self, topic: Hashable) -> None:
        """Drop the answer still coming for `topic` (what it was asked for no longer matters)."""
        self._latest[topic] = next(self._numbers)

    def pending(self) -> int:
        """How many answers are still to come (stale ones included, until they are dropped)."""
        return self._pending

    def stop(self) -> None:
        """Drop what has not started (closing the window); what runs now ends on its own."""
        for lane_worker in self._lanes.values():
            self._pending -= lane_worker.drop_queued()

    def _stale(self, ticket: _Ticket) -> bool:
        return ticket.topic is not None and self._latest.get(ticket.topic) != ticket.number

    def _work(self, ticket: _Ticket, fn: Callable[..., Any], args: tuple) -> None:  # on a lane's thread
        answer, error = None, None
        if not self._stale(ticket):  # superseded before it started: nothing to read
            try:
                answer = fn(*args)
            except Exception as exc:  # delivered to on_error on the GUI thread
                error = exc
        try:
            self._answered.emit(ticket, answer, error)
        except RuntimeError:  # the window is gone: nobody to answer
            pass

    def _deliver(self, ticket: _Ticket, answer: Any, error: Exception | None) -> None:
        self._pending -= 1
        if self._stale(ticket):
            return
        if error is None:
            ticket.on_answer(answer)
        elif ticket.on_error is not None:
            ticket.on_error(error)
        else:
            log.warning("an engine look-up failed: %s", error, exc_info=error)


class _Lane:
    """One daemon thread running submitted work in order; it ends when it runs out of work."""

    def __init__(self, name: str) -> None:
        self._name = name
        self._work: queue.SimpleQueue[Callable[[], None]] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None

    def submit(self, work: Callable[[], None]) -> None:
        with self._lock:
            self._work.put(work)
            if self._thread is None:
                self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
                self._thread.start()

    def drop_queued(self) -> int:
        """Forget the work not started; returns how much there was."""
        dropped = 0
        with self._lock:
            while not self._work.empty():
                self._work.get_nowait()
                dropped += 1
        return dropped

    def _run(self) -> None:
        while True:
            with self._lock:
                if self._work.empty():
                    self._thread = None
                    return
                work = self._work.get_nowait()
            work()
