"""The gallery panel against a real gallery of 2,000 entries (offscreen Qt)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("PySide6")

from PySide6.QtCore import QMimeData, QPointF, Qt, QTimer, QUrl  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402

from studio.core.events import Finished  # noqa: E402
from studio.core.request import GenerationRequest  # noqa: E402
from studio.gallery import Gallery, GalleryError  # noqa: E402
from studio.gallery.export import save_with_parameters  # noqa: E402
from studio.gallery.files import thumbnail_bytes  # noqa: E402
from studio.ui.gallery_model import RecordRole  # noqa: E402
from studio.ui.gallery_panel import GalleryPanel  # noqa: E402

N = 2000


def _bulk_fill(gallery: Gallery, n: int) -> None:
    """n rows in one transaction, sharing one real image file (fast; add() is tested elsewhere)."""
    first = gallery.add(GenerationRequest("seed image", seed=0), Image.new("RGB", (64, 64), "gray"),
                        {}, {"model_name": "tiny"})
    thumb = thumbnail_bytes(Image.new("RGB", (64, 64), "teal"))
    rel = first.path.relative_to(gallery.root).as_posix()
    now = time.time()
    rows = []
    for i in range(1, n):
        animal = ("fox", "owl", "whale")[i % 3]
        request = GenerationRequest(f"a {animal} number {i}", seed=i, steps=2, width=64, height=64)
        model = "tiny" if i % 2 else "other"
        rows.append((now + i, request.to_json(), request.prompt, "", i, 2, 5.0, 64, 64, "Euler a",
                     model, "", request.mode, rel, first.sha256, thumb))
    with gallery.transaction() as cur:
        cur.executemany(
            "INSERT INTO images (created, request_json, prompt, negative, seed, steps, guidance, width, "
            "height, scheduler, model_name, model_hash, mode, path, sha256, thumbnail) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)


@pytest.fixture
def gallery():
    g = Gallery.open()
    _bulk_fill(g, N)
    yield g
    g.close()


@pytest.fixture
def panel(qtbot, gallery):
    p = GalleryPanel(gallery)
    qtbot.addWidget(p)
    p.resize(700, 900)
    p.show()
    qtbot.waitExposed(p)
    yield p
    p.wait_recorded()


def _total(panel, qtbot) -> int:
    """The total once the background count is in (the first page shows before it)."""
    qtbot.waitUntil(lambda: not panel.model.counting(), timeout=10_000)
    return panel.model.total()


def _select(panel, row):
    index = panel.model.index(row)
    panel.view.setCurrentIndex(index)
    return index.data(RecordRole)


def test_shows_newest_first_and_fetches_lazily(panel, qtbot):
    model = panel.model
    assert _total(panel, qtbot) == N
    assert model.rowCount() == N and 0 < model.loaded_rows() < N  # only the first page is read
    assert model.index(0).data(RecordRole).prompt == f"a {('fox', 'owl', 'whale')[(N - 1) % 3]} number {N - 1}"
    qtbot.waitUntil(lambda: model.cached_thumbnails() > 0)  # painting decoded some thumbnails
    assert model.cached_thumbnails() < 200
    panel.view.scrollToBottom()
    assert model.index(N - 1).data(RecordRole).prompt == "seed image"  # the oldest, read on demand
    assert model.loaded_rows() < N
    assert panel.count_label.text() == f"{N} images"


def test_search_and_filters(panel, qtbot):
    panel.search.setText("whale")
    qtbot.waitUntil(lambda: panel.model.total() == len([i for i in range(1, N) if i % 3 == 2]))
    assert all("whale" in panel.model.index(r).data(RecordRole).prompt for r in range(panel.model.rowCount()))
    panel.search.setText("whale number 17")
    panel.apply_filters()
    assert _total(panel, qtbot) >= 1
    assert panel.model.index(0).data(RecordRole).prompt.startswith("a whale number 17")
    panel.search.clear()
    panel.mode_filter.setCurrentIndex(panel.mode_filter.findData("img2img"))
    assert panel.model.total() == 0
    panel.mode_filter.setCurrentIndex(0)
    qtbot.waitUntil(lambda: panel.model_filter.findData("other") >= 0, timeout=10_000)  # read off the GUI thread
    panel.model_filter.setCurrentIndex(panel.model_filter.findData("other"))
    assert _total(panel, qtbot) == (N - 1) // 2


def test_favourite_toggle_and_filter(panel, qtbot):
    record = _select(panel, 3)
    assert panel.current_record().id == record.id
    panel.favourite_button.click()
    assert panel.gallery.get(record.id).favourite
    assert panel.model.index(3).data().startswith("★")
    panel.favourites.setChecked(True)
    assert panel.model.total() == 1
    _select(panel, 0)
    panel.favourite_button.click()  # un-favourite while filtering: it leaves the grid
    assert panel.model.rowCount() == 0 and not panel.gallery.get(record.id).favourite


def test_delete_and_undo(panel, qtbot):
    assert _total(panel, qtbot) == N
    record = _select(panel, 5)
    panel.delete_selected()
    assert panel.model.total() == N - 1
    assert panel.model.index(5).data(RecordRole).id != record.id
    assert panel.gallery.get(record.id).deleted
    assert panel.undo_button.isVisible()
    panel.undo_button.click()
    assert not panel.gallery.get(record.id).deleted
    assert panel.model.index(5).data(RecordRole).id == record.id
    assert panel.model.total() == N


def test_actions_emit_signals(panel, qtbot):
    record = _select(panel, 1)
    with qtbot.waitSignal(panel.reuseParameters) as reuse:
        panel.reuse_button.click()
    assert reuse.args[0] == record.request
    with qtbot.waitSignal(panel.openOnCanvas) as opened:
        panel.open_button.click()
    assert opened.args[0].id == record.id
    with qtbot.waitSignal(panel.useAsSource) as source:
        panel.source_button.click()
    assert source.args[0].path == record.path
    assert f"Seed: {record.request.seed}" in panel.details.toPlainText()


def test_tags_edit_and_search(panel):
    record = _select(panel, 2)
    panel.tags.setText("keeper, blue hour")
    panel.tags.editingFinished.emit()
    assert panel.gallery.get(record.id).tags == ("blue hour", "keeper")
    panel.search.setText("keeper")
    panel.apply_filters()
    assert panel.model.total() == 1


def test_drag_out_gives_file_urls(panel):
    indexes = [panel.model.index(0), panel.model.index(1)]
    mime = panel.model.mimeData(indexes)
    urls = [u.toLocalFile() for u in mime.urls()]
    assert urls == [str(i.data(RecordRole).path) for i in indexes]
    assert all(u.endswith(".png") for u in urls)
    assert panel.view.dragEnabled()


def test_record_finished_job_with_lineage(panel, qtbot):
    parent = _select(panel, 0)
    event = Finished(1, GenerationRequest("a new heron", seed=9, init_image=str(parent.path)),
                     Image.new("RGB", (64, 64), "white"), {"total": 0.1}, {"model_name": "tiny"})
    with qtbot.waitSignal(panel.recorded, timeout=10_000) as done:
        panel.record(event)
    assert done.args[0].parent_id == parent.id
    head = panel.model.index(0).data(RecordRole)  # an edit joins its source's stack: one tile
    assert head.id == parent.id and head.stack_size == 2 and _total(panel, qtbot) == N
    event = Finished(2, GenerationRequest("a new crane", seed=9), Image.new("RGB", (64, 64), "white"),
                     {"total": 0.1}, {"model_name": "tiny"})
    with qtbot.waitSignal(panel.recorded, timeout=10_000):
        panel.record(event)
    assert panel.model.index(0).data(RecordRole).prompt == "a new crane"
    assert _total(panel, qtbot) == N + 1


def _drop(paths) -> QDropEvent:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    event.keep_mime = mime  # the event does not own its mime data: keep it alive with the event
    return event


def test_drop_import_reads_parameters(panel, qtbot, tmp_path):
    request = GenerationRequest("imported castle", seed=77, steps=4)
    path = save_with_parameters(Image.new("RGB", (64, 64)), request, {}, tmp_path / "castle.jpg")
    with qtbot.waitSignal(panel.parametersImported, timeout=10_000) as got:
        panel.import_file(path)
    assert (got.args[0].request.prompt, got.args[0].request.seed) == ("imported castle", 77)
    assert got.args[0].path == path and "castle.jpg" in panel.status.text()
    junk = tmp_path / "junk.png"
    Image.new("RGB", (8, 8)).save(junk)
    with qtbot.waitSignal(panel.message, timeout=10_000) as msg:
        panel.import_file(junk)
    assert msg.args[0].startswith("junk.png: ") and "no generation parameters" in msg.args[0]
    with qtbot.waitSignal(panel.parametersImported, timeout=10_000) as dropped:
        panel.dropEvent(_drop([path]))
    assert dropped.args[0].request.seed == 77


def test_a_slow_import_leaves_the_event_loop_running(panel, qtbot, tmp_path, monkeypatch):
    from studio.gallery import export

    real, parsing = export.parameters_from_file, []

    def slow(path):
        parsing.append(time.monotonic())
        time.sleep(2.0)
        parsing.append(time.monotonic())
        return real(path)

    monkeypatch.setattr(export, "parameters_from_file", slow)
    path = save_with_parameters(Image.new("RGB", (64, 64)), GenerationRequest("slow owl", seed=5), {},
                                tmp_path / "owl.png")
    ticks: list[float] = []
    timer = QTimer(interval=20)
    timer.timeout.connect(lambda: ticks.append(time.monotonic()))
    timer.start()
    with qtbot.waitSignal(panel.parametersImported, timeout=10_000) as got:
        started = time.monotonic()
        panel.dropEvent(_drop([path]))
        assert time.monotonic() - started < 0.5  # the drop handler returns at once
    timer.stop()
    assert got.args[0].request.prompt == "slow owl"
    during = [t for t in ticks if parsing[0] < t < parsing[1]]
    assert len(during) >= 10  # ~100 at 20 ms; a parse on the GUI thread would allow none


def test_each_dropped_file_is_read_and_failures_do_not_stop_the_rest(panel, qtbot, tmp_path, monkeypatch):
    from studio.gallery import export

    real = export.parameters_from_file

    def flaky(path):
        if Path(path).name == "boom.png":  # a malformed file that trips something unexpected
            raise ValueError("bad chunk\nat offset 12")
        return real(path)

    monkeypatch.setattr(export, "parameters_from_file", flaky)
    first = save_with_parameters(Image.new("RGB", (64, 64)), GenerationRequest("one", seed=1), {},
                                 tmp_path / "one.png")
    second = save_with_parameters(Image.new("RGB", (64, 64)), GenerationRequest("two", seed=2), {},
                                  tmp_path / "two.png")
    junk, boom = tmp_path / "junk.png", tmp_path / "boom.png"
    Image.new("RGB", (8, 8)).save(junk)
    Image.new("RGB", (8, 8)).save(boom)
    not_an_image = tmp_path / "notes.txt"
    not_an_image.write_text("hello")
    imported, messages = [], []
    panel.parametersImported.connect(imported.append)
    panel.message.connect(messages.append)
    panel.dropEvent(_drop([first, junk, boom, not_an_image, second]))
    qtbot.waitUntil(lambda: len(imported) + len(messages) == 5, timeout=10_000)
    assert [d.request.seed for d in imported] == [1, 2]
    assert [m.split(":")[0] for m in messages] == ["junk.png", "boom.png", "notes.txt"]
    assert all("\n" not in m for m in messages)
    assert "bad chunk at offset 12" in messages[1]


def test_window_records_jobs_and_reuses_parameters(qtbot):
    from studio.engine.fake import fake_engine
    from studio.ui.main_window import MainWindow

    window = MainWindow(engine_factory=lambda: fake_engine(step_delay=0.001))
    qtbot.addWidget(window)
    window.show()
    gallery_panel = window.gallery_panel
    window.prompt_panel.prompt_edit.setPlainText("a lantern in fog")
    window.prompt_panel.steps_spin.setValue(2)
    window.prompt_panel.set_size(64, 64)
    with qtbot.waitSignal(gallery_panel.recorded, timeout=20_000) as done:
        window.generate()
    record = done.args[0]
    assert record.prompt == "a lantern in fog" and record.path.is_file()
    assert gallery_panel.model.index(0).data(RecordRole).id == record.id
    window.prompt_panel.prompt_edit.setPlainText("something else")
    _select(gallery_panel, 0)
    gallery_panel.reuse_button.click()
    assert window.prompt_panel.build_request().prompt == "a lantern in fog"
    window.close()


def test_leftover_files_are_cleaned_on_the_worker_thread(panel):
    folder = panel.gallery.images_dir / "2020" / "01"
    folder.mkdir(parents=True)
    leftover = folder / ".x.png.123.tmp"
    leftover.write_bytes(b"half")
    panel.clean_in_background(min_age=0)
    panel.wait_recorded()
    assert not leftover.exists()
    assert panel.gallery.verify_files() == []


def test_old_deletions_are_purged_and_recent_ones_kept(panel, tmp_path):
    records = []
    for name in ("old", "recent"):
        record = panel.gallery.add(GenerationRequest(prompt=name), Image.new("RGB", (8, 8), "red"))
        panel.gallery.delete(record.id)
        records.append(record)
    old, recent = records
    with panel.gallery.transaction() as cur:  # deleted 31 days ago
        cur.execute("UPDATE images SET deleted_at = deleted_at - ? WHERE id = ?", (31 * 86400, old.id))
    panel.clean_in_background(min_age=0)
    panel.wait_recorded()
    assert not old.path.exists() and recent.path.exists()
    with pytest.raises(GalleryError):
        panel.gallery.get(old.id)
    assert panel.gallery.get(recent.id).deleted
