"""Gallery thumbnails decoded off the GUI thread, with a disk cache that survives restarts.

The view asks for a tile's thumbnail while painting; `ThumbLoader.request()` notes the ask and
returns at once. Once the paint is over (the next turn of the event loop) the asks go to a small
QThreadPool in one batch per thread, newest first: a runnable per tile cost about 0.3 ms each to
start on the GUI thread, inside the paint, and woke as many threads to fight it for the two cores
and the GIL. `loaded(record_id, QImage)` arrives on the GUI thread when each is ready (QImage, not
QPixmap: only QImage may be made off the GUI thread).

The disk cache lives in the gallery folder (`cache/thumbs/<aa>/<sha256>.webp`, keyed by the
image's sha256, so copies share one file). It is derived data: a missing, stale or unreadable
file is made again from the database's thumbnail (or the image file itself), written to a
temporary file and renamed into place, so a crash never leaves half a thumbnail behind.
`clear()` empties it; the next paint rebuilds what is looked at.
"""

from __future__ import annotations

import logging
import os
import shutil
import tempfile
import threading
from pathlib import Path

from PySide6.QtCore import QObject, QRunnable, QThreadPool, QTimer, Signal
from PySide6.QtGui import QImage

from studio.gallery import Gallery, GalleryError

log = logging.getLogger(__name__)

CACHE_VERSION = "v1"  # bump when the cached format or size changes: old files are ignored


class ThumbLoader(QObject):
    """Load thumbnails by record id; at most one pending load per id."""

    loaded = Signal(int, QImage)  # record id, image (null when there is none): worker -> GUI

    def __init__(self, gallery: Gallery, cache_dir: Path | None = None, threads: int = 2,
                 parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.gallery = gallery
        self.cache_dir = cache_dir if cache_dir is not None else thumb_cache_dir(gallery)
        self._pool = QThreadPool(self)
        self._pool.setMaxThreadCount(max(1, threads))
        self._threads = max(1, threads)
        self._pending: set[int] = set()
        self._asked: list[tuple[int, str]] = []  # asks not handed to the pool yet
        self._lock = threading.Lock()
        self._flush_timer = QTimer(self)
        self._flush_timer.setSingleShot(True)
        self._flush_timer.setInterval(0)  # after the paint that asked
        self._flush_timer.timeout.connect(self.flush)

    def request(self, record_id: int, sha256: str) -> None:
        """Note a load unless one for this id is pending; handed to the pool after the paint."""
        with self._lock:
            if record_id in self._pending:
                return
            self._pending.add(record_id)
            self._asked.append((record_id, sha256))
        if not self._flush_timer.isActive():
            self._flush_timer.start()

    def flush(self) -> None:
        """Hand the noted asks to the pool: one batch per thread, the newest asks first."""
        with self._lock:
            asked, self._asked = self._asked[::-1], []
        for part in range(self._threads):
            batch = asked[part::self._threads]
            if batch:
                self._pool.start(_Load(self, batch))

    def pending(self) -> int:
        with self._lock:
            return len(self._pending)

    def forget_pending(self) -> None:
        """Drop loads not started yet (a new filter: those tiles are no longer in view)."""
        self._pool.clear()
        with self._lock:
            self._asked.clear()
            self._pending.clear()

    def wait(self, msecs: int = 10_000) -> bool:
        self.flush()
        return self._pool.waitForDone(msecs)

    def clear(self) -> None:
        """Remove the disk cache (it is rebuilt as tiles are painted)."""
        self.forget_pending()
        self.wait()
        shutil.rmtree(self.cache_dir, ignore_errors=True)

    # ---- worker side -------------------------------------------------------------------------
    def load(self, record_id: int, sha256: str) -> QImage:
        """The thumbnail as an image (null if there is none): from the cache, else made and cached."""
        if not sha256:  # a stack's cover, known by id only
            try:
                sha256 = self.gallery.get(record_id).sha256
            except GalleryError:
                return QImage()
        path = self.cache_path(sha256)
        image = QImage()
        try:
            data = path.read_bytes()
        except OSError:
            data = b""
        if data and image.loadFromData(data):
            return image
        data = self._make(record_id)
        if data and image.loadFromData(data):
            _write_atomically(path, data)
        return image

    def cache_path(self, sha256: str) -> Path:
        name = sha256 if sha256 and all(c in "0123456789abcdef" for c in sha256) else "unknown"
        return self.cache_dir / name[:2] / f"{name}.webp"

    def _make(self, record_id: int) -> bytes | None:
        try:
            data = self.gallery.thumbnail(record_id)
            if data:
                return data
            record = self.gallery.get(record_id)
        except GalleryError:
            return None
        from PIL import Image, UnidentifiedImageError

        from studio.gallery.files import thumbnail_bytes

        try:  # no thumbnail in the row (an adopted or rebuilt entry): make one from the file
            with Image.open(record.path) as picture:
                return thumbnail_bytes(picture)
        except (OSError, ValueError, UnidentifiedImageError):
            return None

    def _done(self, record_id: int, image: QImage) -> None:
        with self._lock:
            self._pending.discard(record_id)
        self.loaded.emit(record_id, image)


class _Load(QRunnable):
    """A batch of thumbnails, one after another (a forgotten one is skipped)."""

    def __init__(self, loader: ThumbLoader, batch: list[tuple[int, str]]) -> None:
        super().__init__()
        self.loader, self.batch = loader, batch

    def run(self) -> None:
        for record_id, sha256 in self.batch:
            with self.loader._lock:
                if record_id not in self.loader._pending:
                    continue  # forgotten: a new filter took its tile out of view
            try:
                image = self.loader.load(record_id, sha256)
            except Exception:  # a thumbnail is never worth a crash: the tile stays grey
                log.exception("thumbnail %s failed", record_id)
                image = QImage()
            self.loader._done(record_id, image)


def thumb_cache_dir(gallery: Gallery) -> Path:
    return gallery.root / "cache" / "thumbs" / CACHE_VERSION


def _write_atomically(path: Path, data: bytes) -> None:
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=".webp")
        try:
            with os.fdopen(fd, "wb") as handle:
                handle.write(data)
            os.replace(tmp, path)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
    except OSError as exc:  # a read-only or full disk: thumbnails still show, just uncached
        log.info("thumbnail cache not written (%s)", exc)
