"""Gallery thumbnails: decoded off the GUI thread, cached on disk, rebuilt when the cache goes."""

from __future__ import annotations

import threading

import pytest
from PIL import Image

pytest.importorskip("PySide6")

from PySide6.QtGui import QImage  # noqa: E402

from studio.core.request import GenerationRequest  # noqa: E402
from studio.gallery import Gallery  # noqa: E402
from studio.ui.gallery_model import GalleryModel  # noqa: E402
from studio.ui.thumb_loader import ThumbLoader, thumb_cache_dir  # noqa: E402


@pytest.fixture
def gallery():
    g = Gallery.open()
    for i, colour in enumerate(("red", "blue", "green")):
        g.add(GenerationRequest(f"a {colour} square", seed=i), Image.new("RGB", (64, 64), colour), {}, {})
    yield g
    g.close()


def _colour(image: QImage) -> tuple[int, int, int]:
    pixel = image.pixelColor(image.width() // 2, image.height() // 2)
    return pixel.red(), pixel.green(), pixel.blue()


def test_thumbnails_decode_off_the_gui_thread_into_a_disk_cache(qtbot, gallery, monkeypatch):
    threads: list[str] = []
    real = ThumbLoader.load

    def spy(self, record_id, sha256):
        threads.append(threading.current_thread().name)
        return real(self, record_id, sha256)

    monkeypatch.setattr(ThumbLoader, "load", spy)
    model = GalleryModel(gallery)
    red = next(r for r in (model.record_at(i) for i in range(3)) if "red" in r.prompt)
    first = model.thumbnail(red)  # grey now, the real one later
    assert _colour(first.toImage()) == (60, 60, 60)
    qtbot.waitUntil(lambda: model.cached_thumbnails() == 1, timeout=5000)
    shown = model.thumbnail(red).toImage()
    r, g, b = _colour(shown)
    assert r > 200 and g < 50 and b < 50
    assert threads and threading.main_thread().name not in threads
    cached = thumb_cache_dir(gallery) / red.sha256[:2] / f"{red.sha256}.webp"
    assert cached.is_file() and not list(cached.parent.glob(".tmp-*"))


def test_the_cache_survives_a_restart_and_is_rebuilt_when_removed(qtbot, gallery):
    loader = ThumbLoader(gallery)
    record = gallery.list(0, 1)[0]
    image = loader.load(record.id, record.sha256)
    assert not image.isNull()
    path = loader.cache_path(record.sha256)
    # A new loader (a restart) reads the file, not the database: prove it with an empty database cell.
    with gallery.transaction() as cur:
        cur.execute("UPDATE images SET thumbnail = NULL WHERE id = ?", (record.id,))
    again = ThumbLoader(gallery).load(record.id, record.sha256)
    assert _colour(again) == _colour(image)
    loader.clear()
    assert not path.exists()
    # Rebuilt from the image file itself when neither the cache nor the row has one.
    rebuilt = ThumbLoader(gallery).load(record.id, record.sha256)
    assert not rebuilt.isNull() and path.is_file()


def test_a_damaged_cache_file_is_made_again(gallery):
    loader = ThumbLoader(gallery)
    record = gallery.list(0, 1)[0]
    path = loader.cache_path(record.sha256)
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(b"not a picture")
    assert not loader.load(record.id, record.sha256).isNull()
    assert path.read_bytes()[:4] == b"RIFF"  # WebP again


def test_asks_made_while_painting_start_after_it_newest_first_and_forgotten_ones_are_skipped(qtbot, gallery):
    """A paint only notes what it wants: starting a thread job per tile inside the paint cost the
    GUI thread ~0.3 ms a tile and woke threads to fight it. The asks go out once the paint is over,
    the tiles asked last (the ones being looked at) first; a new filter drops what was not loaded."""
    loader = ThumbLoader(gallery, threads=1)
    order: list[int] = []
    loader.loaded.connect(lambda record_id, _image: order.append(record_id))
    records = gallery.list(0, 3)
    for record in records:
        loader.request(record.id, record.sha256)
    assert loader.pending() == 3 and loader._pool.activeThreadCount() == 0  # nothing started yet
    qtbot.waitUntil(lambda: len(order) == 3, timeout=5000)
    assert order == [r.id for r in reversed(records)]

    order.clear()
    fresh = ThumbLoader(gallery, threads=1)
    fresh.loaded.connect(lambda record_id, _image: order.append(record_id))
    for record in records:
        fresh.request(record.id, record.sha256)
    fresh.forget_pending()  # before the event loop ran: none of them is loaded...
    fresh.request(records[1].id, records[1].sha256)  # ...only what is asked after it
    qtbot.waitUntil(lambda: len(order) >= 1, timeout=5000)
    assert fresh.wait(5000)
    assert order == [records[1].id]
