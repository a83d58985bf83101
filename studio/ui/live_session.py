"""Live slider renders and the gallery: every frame is kept, only the chosen one is a record.

A panel with a live slider (Blend; the text-diff panel) owns one `LiveSession`:

    session = LiveSession("blend", parent=panel)       # the panel's side:
    job = engine.submit(request); session.submitted(job)   # each live render queued
    session.moved()                      # each slider move (postpones the automatic keep)
    session.auto_keep = checkbox.isChecked()   # "Keep the frame I stop on"
    session.changed -> keep_button.setEnabled; keep_button.clicked -> session.keep
    parts.live_sessions.add(session, gallery_panel, bridge)  # the composition root's side:
        # attach(gallery_panel): frames are stored there (without it nothing is recorded),
        # gallery_panel.leave_out(session.owns): not also recorded as ordinary pictures,
        # bridge.finished -> session.on_finished(job_id, event): the frame goes to the strip

Frames go to a scratch strip (`Gallery.add(..., scratch=<strip id>)`, hidden from the grid); the
frame on the canvas becomes a gallery record (`Gallery.keep`) when the artist keeps it, exports
it, or stops: no move for `idle_ms` (1.5 s) after the last live render finished, when
`auto_keep` is on. After a keep the next move starts a new strip, so each kept record's strip
("Live frames (N)…" in the gallery's detail pane) holds the frames that led to it.

`LiveSessions` holds every panel's session for the window's Keep (Ctrl+K) and for exports: it
keeps the newest unkept frame, the one on the canvas.
"""

from __future__ import annotations

import time
import uuid
from typing import Any, Protocol

from PySide6.QtCore import QObject, QTimer, Signal

from studio.gallery import Record

IDLE_MS = 1500


class Recorder(Protocol):
    """What a session needs of the gallery panel (studio/ui/gallery_actions.GalleryActions)."""

    def record(self, finished: Any, parent_id: int | None = None, scratch: str | None = None,
               on_stored: Any = None) -> None: ...

    def keep_scratch(self, record_id: int, on_kept: Any = None) -> None: ...


class LiveSession(QObject):
    """One panel's live frames: scratch strips, and which frame is kept."""

    kept = Signal(object)  # Record: a frame became a gallery record
    changed = Signal(bool)  # whether there is a frame that Keep would keep

    def __init__(self, name: str, idle_ms: int = IDLE_MS, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.name = name
        self.auto_keep = True
        self._recorder: Recorder | None = None
        self._jobs: set[int] = set()  # live job ids (kept after they end: a few bytes each)
        self._strip = self._new_strip()
        self._latest: Record | None = None  # the newest stored frame of this strip, not kept yet
        self._latest_job: int | None = None  # the newest finished frame (its record may be pending)
        self._keep_job: int | None = None  # kept before its record was stored
        self.last_frame_at = 0.0  # monotonic time of the newest finished frame
        self._idle = QTimer(self, singleShot=True, interval=idle_ms)
        self._idle.timeout.connect(self._on_idle)

    def _new_strip(self) -> str:
        return f"{self.name}-{uuid.uuid4().hex[:12]}"

    # ---- the host's side ---------------------------------------------------------------------
    def attach(self, recorder: Recorder | None) -> None:
        self._recorder = recorder

    @property
    def recording(self) -> bool:
        return self._recorder is not None

    @property
    def strip(self) -> str:
        """The id of the scratch strip new frames go to."""
        return self._strip

    def submitted(self, job_id: int) -> None:
        self._jobs.add(job_id)

    def owns(self, job_id: int) -> bool:
        """Whether a job is one of this session's live renders (the gallery leaves those out)."""
        return job_id in self._jobs

    def moved(self) -> None:
        """A slider moved: the artist has not stopped yet."""
        self._idle.stop()

    def has_frame(self) -> bool:
        """Whether Keep would keep something now."""
        return self._latest_job is not None

    def on_finished(self, job_id: int, event: Any) -> None:
        """A job finished: record one of ours into the scratch strip, and wait for the pause."""
        if job_id not in self._jobs or self._recorder is None:
            return
        self._latest_job = job_id
        self._latest = None
        self.last_frame_at = time.monotonic()
        self._recorder.record(event, scratch=self._strip,
                              on_stored=lambda record, job=job_id: self._on_stored(job, record))
        if self.auto_keep:
            self._idle.start()
        self.changed.emit(True)

    def keep(self) -> bool:
        """Keep the newest frame (Keep, Ctrl+K, an export). False when there is none."""
        self._idle.stop()
        if self._recorder is None or self._latest_job is None:
            return False
        if self._latest is None:  # still being written: keep it as soon as it is stored
            self._keep_job = self._latest_job
        else:
            self._recorder.keep_scratch(self._latest.id, on_kept=self._on_kept)
        self._latest_job = None
        self._strip = self._new_strip()
        self.changed.emit(False)
        return True

    # ---- internals ---------------------------------------------------------------------------
    def _on_stored(self, job_id: int, record: Record) -> None:
        if job_id == self._keep_job:
            self._keep_job = None
            if self._recorder is not None:
                self._recorder.keep_scratch(record.id, on_kept=self._on_kept)
            return
        if job_id == self._latest_job:
            self._latest = record

    def _on_idle(self) -> None:
        if self.auto_keep:
            self.keep()

    def _on_kept(self, record: Record) -> None:
        self.kept.emit(record)


class LiveSessions(QObject):
    """Every live session in the window; Keep (Ctrl+K) and exports act on the newest frame."""

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.sessions: list[LiveSession] = []

    def add(self, session: LiveSession, gallery: Any = None, bridge: Any = None) -> LiveSession:
        """Take part in Keep; with `gallery` (the GalleryPanel) its frames are stored there and
        left out of ordinary recording; with `bridge` its finished jobs reach it."""
        self.sessions.append(session)
        if gallery is not None:
            session.attach(gallery)
            gallery.leave_out(session.owns)
        if bridge is not None:
            bridge.finished.connect(lambda job, _image, event: session.on_finished(job, event))
        return session

    def keep_latest(self) -> bool:
        """Keep the newest unkept frame of any session (the one the canvas shows)."""
        waiting = [s for s in self.sessions if s.has_frame()]
        if not waiting:
            return False
        return max(waiting, key=lambda s: s.last_frame_at).keep()
