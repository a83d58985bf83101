"""The one bridge from the engine's event stream (inference thread) to Qt signals (GUI thread).

The engine's executor calls our listener on its own events thread. The listener converts PIL images to QImage
there (with a copied buffer, so nothing points into PIL memory) and emits a signal; because the
bridge lives on the GUI thread, Qt delivers each signal as a queued call on the GUI thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QObject, Qt, Signal
from PySide6.QtGui import QImage

from studio.core.events import (
    Cancelled,
    EngineNotice,
    Event,
    Failed,
    Finished,
    JobWarning,
    Loading,
    Preview,
    Progress,
    Queued,
    Started,
)
from studio.core.jobspec import JobSpec
from studio.core.request import GenerationRequest

if TYPE_CHECKING:
    from PIL.Image import Image

    from studio.core.settings import EngineSettings
    from studio.engine.executor import Executor
    from studio.engine.jobs import JobInfo

log = logging.getLogger(__name__)

EngineFactory = Callable[[], "Executor"]


def pil_to_qimage(image: Image) -> QImage:
    """A QImage that owns its pixels (safe to hand across threads after PIL frees its buffer)."""
    if image.mode != "RGBA":
        image = image.convert("RGBA")
    data = image.tobytes("raw", "RGBA")
    width, height = image.size
    return QImage(data, width, height, width * 4, QImage.Format.Format_RGBA8888).copy()


class EngineBridge(QObject):
    """Owns the engine (created lazily by `factory`) and re-emits its events as Qt signals.

    Signals (all delivered on the GUI thread):
      jobQueued(job_id, request, position) · loading(job_id, message, fraction; -1 = unknown)
      started(job_id, request, total_steps) · progress(job_id, step, total, elapsed_s, eta_s)
      preview(job_id, step, QImage scaled to the request size) · finished(job_id, QImage, Finished)
      cancelled(job_id, QImage | None) · failed(job_id, message, detail) · warning(job_id, message)
      jobsChanged() after any event that changes the list from `jobs()`.
      specSubmitted(job_id, JobSpec) as a job is queued (the window stores it until it ends).
      notice(job_id, message): the engine's own news, e.g. its worker stopped and is restarting
      (job_id: the job it will run again first, 0 if none).
    """

    jobQueued = Signal(int, object, int)
    loading = Signal(int, str, float)
    started = Signal(int, object, int)
    progress = Signal(int, int, int, float, float)
    preview = Signal(int, int, QImage)
    finished = Signal(int, QImage, object)
    cancelled = Signal(int, object)
    failed = Signal(int, str, str)
    warning = Signal(int, str)
    jobsChanged = Signal()
    specSubmitted = Signal(int, object)  # on the GUI thread, before the job can end
    notice = Signal(int, str)

    def __init__(self, factory: EngineFactory, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self._factory = factory
        self._engine: Executor | None = None
        self._unsubscribe: Callable[[], None] | None = None
        # Request sizes by job id, read on the worker thread to scale previews to the final size.
        self._sizes: dict[int, tuple[int, int]] = {}
        self._sizes_lock = threading.Lock()
        self._closed = False

    # ---- engine lifetime -------------------------------------------------------------------
    @property
    def engine_started(self) -> bool:
        return self._engine is not None

    def ensure_engine(self) -> Executor:
        """Create the engine on first use (never before the window has painted)."""
        if self._closed:
            raise RuntimeError("the engine has been shut down")
        if self._engine is None:
            engine = self._factory()
            self._unsubscribe = engine.subscribe(self._on_event)
            self._engine = engine
        return self._engine

    def warm_up(self) -> None:
        """Start the engine and let it do its slow imports now, before the first job."""
        if not self._closed:
            self.ensure_engine().warm_up()

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Stop listening, cancel every job and join the inference thread. True if it ended."""
        self._closed = True
        if self._engine is None:
            return True
        if self._unsubscribe is not None:
            self._unsubscribe()
            self._unsubscribe = None
        ended = self._engine.shutdown(timeout)
        if not ended:
            log.warning("the inference thread did not stop within %.0f s", timeout)
        self._engine = None
        return ended

    # ---- commands ----------------------------------------------------------------------------
    def submit(self, request: GenerationRequest) -> int:
        """Queue a request; raises RequestError with a one-line message if it cannot run."""
        # validated before the engine is created, so a typo never costs a model load
        return self.submit_spec(JobSpec.of(request))

    def submit_spec(self, spec: JobSpec, inputs: Path | None = None) -> int:
        """Queue a job. `inputs`: a folder to write its pictures into, so that a job resumed after
        a restart runs on the bytes stored with it (the artist's files may have changed since)."""
        from studio.engine.jobs import JobQueue

        engine = self.ensure_engine()
        job: GenerationRequest | JobSpec = spec  # a worker process writes the bytes where it runs
        if inputs is not None and spec.inputs and isinstance(engine, JobQueue):  # in-thread: files
            job = spec.request_in(inputs)
        job_id = engine.submit(job)
        self.specSubmitted.emit(job_id, spec)
        return job_id

    def apply_settings(self, settings: EngineSettings) -> None:
        """New engine settings: jobs not started yet run with them (a worker is replaced when idle;
        an engine not started yet reads them when it starts)."""
        apply = getattr(self._engine, "apply_settings", None)
        if apply is not None:
            apply(settings)

    def cancel(self, job_id: int) -> bool:
        return self._engine.cancel(job_id) if self._engine is not None else False

    def cancel_running(self) -> bool:
        """Cancel the job that is sampling now (the queue then moves on). False if none runs."""
        running = [j for j in self.jobs() if j.state == "running"]
        return bool(running) and self.cancel(running[0].job_id)

    def jobs(self) -> list[JobInfo]:
        return self._engine.jobs() if self._engine is not None else []

    # ---- worker thread -----------------------------------------------------------------------
    def _on_event(self, event: Event) -> None:
        """Runs on the inference thread: do the image work here, then hand over via signals."""
        if self._closed:
            return
        job = event.job_id
        if isinstance(event, Queued):
            size = (event.request.width, event.request.height)
            if event.request.init_image:  # variations/inpaints come back at the source's size
                size = _picture_size(event.request.init_image) or size
            with self._sizes_lock:
                self._sizes[job] = size
            self.jobQueued.emit(job, event.request, event.position)
            self.jobsChanged.emit()
        elif isinstance(event, Loading):
            fraction = -1.0 if event.fraction is None else float(event.fraction)
            self.loading.emit(job, event.message, fraction)
        elif isinstance(event, Started):
            self.started.emit(job, event.request, event.total_steps)
            self.jobsChanged.emit()
        elif isinstance(event, Progress):
            self.progress.emit(job, event.step, event.total, event.elapsed, event.eta)
        elif isinstance(event, Preview):
            self.preview.emit(job, event.step, self._scaled(job, pil_to_qimage(event.image)))
        elif isinstance(event, Finished):
            self._forget(job)
            self.finished.emit(job, pil_to_qimage(event.image), event)
            self.jobsChanged.emit()
        elif isinstance(event, Cancelled):
            size = self._forget(job)
            image = None
            if event.last_preview is not None:
                image = self._fit(pil_to_qimage(event.last_preview), size)
            self.cancelled.emit(job, image)
            self.jobsChanged.emit()
        elif isinstance(event, Failed):
            self._forget(job)
            self.failed.emit(job, event.message, event.detail)
            self.jobsChanged.emit()
        elif isinstance(event, JobWarning):
            self.warning.emit(job, event.message)
        elif isinstance(event, EngineNotice):
            self.notice.emit(job, event.message)

    def _forget(self, job: int) -> tuple[int, int] | None:
        with self._sizes_lock:
            return self._sizes.pop(job, None)

    def _scaled(self, job: int, image: QImage) -> QImage:
        with self._sizes_lock:
            size = self._sizes.get(job)
        return self._fit(image, size)

    @staticmethod
    def _fit(image: QImage, size: tuple[int, int] | None) -> QImage:
        # Previews come at latent resolution; scale them here so the canvas keeps one geometry.
        if size is None or (image.width(), image.height()) == size:
            return image
        return image.scaled(
            size[0],
            size[1],
            Qt.AspectRatioMode.IgnoreAspectRatio,
            Qt.TransformationMode.SmoothTransformation,
        )


def _picture_size(path: str) -> tuple[int, int] | None:
    """Width and height from the file's header (no decode); None if unreadable (the job will say)."""
    from PIL import Image, UnidentifiedImageError

    try:
        with Image.open(path) as image:
            width, height = image.size
            rotated = image.getexif().get(0x0112, 1) in (5, 6, 7, 8)  # EXIF orientation: quarter turn
    except (OSError, ValueError, UnidentifiedImageError):
        return None
    return (height, width) if rotated else (width, height)
