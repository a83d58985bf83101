"""Jobs that outlive the window: every job the bridge queues is stored (studio.gallery.pending,
queue.db beside the gallery) until it finishes, is cancelled or fails; at the next launch a bar
above the canvas offers what was still waiting ("2 pictures were waiting when Studio closed —
Resume / Discard").

`PendingKeeper` does the storing, on its own worker thread (an inpaint's pictures make a write
take milliseconds); `ResumeOffer` is the bar. Closing the window does not end the jobs in the
store: the bridge stops listening before it cancels them, so what was waiting stays stored.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QObject, Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QWidget

from studio.core.jobspec import JobSpec
from studio.gallery.pending import PendingJobs
from studio.ui.bridge import EngineBridge
from studio.ui.serial_worker import SerialWorker

log = logging.getLogger(__name__)

PROMPT_CHARS = 60  # of the first prompt, in the bar


class PendingKeeper(QObject):
    """Keeps the store in step with the bridge: a job is added as it is queued and removed when
    it ends. Every store call runs in order on one worker thread."""

    loaded = Signal(object)  # list[JobSpec] stored by an earlier session, on the GUI thread
    _saved = Signal(str)  # the gallery's writer -> here: a finished job's picture is on disk

    def __init__(self, store: PendingJobs, parent: QObject | None = None,
                 after_saved: Callable[[Callable[[], None]], None] | None = None) -> None:
        """`after_saved(work)`: runs `work` once the pictures queued for the gallery are stored,
        so a finished job leaves the store only then (a kill between the two keeps it, to be
        offered again, rather than losing the picture)."""
        super().__init__(parent)
        self.store = store
        self._after_saved = after_saved
        self._saved.connect(lambda spec_id: self._run(self.store.remove, spec_id))
        self._worker = SerialWorker("queue-store")
        self._specs: dict[int, str] = {}  # job id -> spec_id, for the jobs of this session
        self._ours: set[str] = set()  # spec_ids queued in this session (never offered back)
        self._closed = False

    def attach(self, bridge: EngineBridge) -> None:
        bridge.specSubmitted.connect(self._submitted)
        # Connected after the gallery's recorder, so a finished picture's save is queued first.
        bridge.finished.connect(lambda job, _image, _event: self._finished(job))
        bridge.cancelled.connect(lambda job, _image: self._ended(job))
        bridge.failed.connect(lambda job, _message, _detail: self._ended(job))

    def load(self) -> None:
        """Read what an earlier session left (off the GUI thread); `loaded` brings it."""

        def read() -> None:
            specs = [s for s in self.store.pending() if s.spec_id not in self._ours]
            self.loaded.emit(specs)

        self._run(read)

    def discard(self, specs: list[JobSpec]) -> None:
        ids = [s.spec_id for s in specs]  # only these: jobs queued since then stay
        self._run(self.store.remove, *ids)

    def wait(self) -> None:
        """Block until every store call so far has run (tests, closing)."""
        self._worker.wait()

    def close(self) -> None:
        if not self._closed:
            self._closed = True
            self._worker.wait()
            self.store.close()

    def _submitted(self, job_id: int, spec: JobSpec) -> None:
        self._specs[job_id] = spec.spec_id
        self._ours.add(spec.spec_id)
        self._run(self.store.add, spec)

    def _finished(self, job_id: int) -> None:
        if self._after_saved is None:
            self._ended(job_id)
            return
        spec_id = self._specs.pop(job_id, None)
        if spec_id is not None:
            self._after_saved(lambda: self._saved.emit(spec_id))

    def _ended(self, job_id: int) -> None:
        spec_id = self._specs.pop(job_id, None)
        if spec_id is not None:
            self._run(self.store.remove, spec_id)

    def _run(self, work: Callable[..., Any], *args: Any) -> None:
        if self._closed:
            return

        def guarded() -> None:
            try:
                work(*args)
            except Exception:  # a job that cannot be kept must never stop the window
                log.exception("the waiting-jobs store failed")

        self._worker.submit(guarded)


class ResumeOffer(QFrame):
    """Hidden until show_offer(); Resume emits `resumeRequested`, Discard `discardRequested`,
    each with the offered specs in the order they were queued."""

    resumeRequested = Signal(object)  # list[JobSpec]
    discardRequested = Signal(object)  # list[JobSpec]

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("resumeOffer")
        self.setStyleSheet("QFrame#resumeOffer { background: #2a3142; border: 1px solid #3d6fd6;"
                           " border-radius: 4px; }")
        self._specs: list[JobSpec] = []
        self.label = QLabel(wordWrap=True)
        self.resume_button = QPushButton("Resume")
        self.resume_button.setToolTip("Queue them again, in the order they were waiting")
        self.discard_button = QPushButton("Discard")
        self.discard_button.setToolTip("Forget them")
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.resume_button)
        layout.addWidget(self.discard_button)
        self.resume_button.clicked.connect(lambda: self._answer(self.resumeRequested))
        self.discard_button.clicked.connect(lambda: self._answer(self.discardRequested))
        self.hide()

    def show_offer(self, specs: list[JobSpec]) -> None:
        self._specs = list(specs)
        if not specs:
            self.hide()
            return
        self.label.setText(offer_text(specs))
        self.show()

    def offered(self) -> list[JobSpec]:
        return list(self._specs) if not self.isHidden() else []

    def _answer(self, signal: Signal) -> None:
        specs, self._specs = self._specs, []
        self.hide()
        if specs:
            signal.emit(specs)


def offer_text(specs: list[JobSpec]) -> str:
    """'2 pictures were waiting when Studio closed (first: “a red cube”).'"""
    prompt = " ".join(specs[0].request.prompt.split())
    if len(prompt) > PROMPT_CHARS:
        prompt = prompt[: PROMPT_CHARS - 1].rstrip() + "…"
    many = len(specs) != 1
    first = "first: " if many else ""
    return (f"{len(specs)} picture{'s' if many else ''} {'were' if many else 'was'} waiting when "
            f"Studio closed ({first}“{prompt}”).")


def resume(bridge: EngineBridge, keeper: PendingKeeper, specs: list[JobSpec],
           message: Callable[[str, bool], None]) -> None:
    """Queue the offered jobs again in order, each on the pictures stored with it. One that can no
    longer run is dropped with a one-line message; if the engine cannot start, all stay stored."""
    from studio.core.paths import subdir
    from studio.core.request import RequestError

    folder = subdir("inputs")
    refused: list[tuple[JobSpec, str]] = []
    for spec in specs:
        try:
            bridge.submit_spec(spec, folder)
        except RequestError as exc:
            refused.append((spec, str(exc)))
        except Exception as exc:  # the engine failed to start: keep them for the next launch
            log.exception("could not resume the waiting jobs")
            message(f"The engine could not start: {exc}", True)
            return
    if refused:
        keeper.discard([spec for spec, _ in refused])
        spec, why = refused[0]
        more = f" (and {len(refused) - 1} more)" if len(refused) > 1 else ""
        message(f"Could not resume “{spec.request.prompt[:40]}”{more}: {why}", True)
