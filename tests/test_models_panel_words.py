"""The Models panel speaks plainly and has room (issue 20): model types in words an artist knows,
no empty Hash column, columns that are never cut, and a details area that says the rest in full:
why a model can't be used, where it is, and its short hash once worked out off the GUI thread."""

from __future__ import annotations

import hashlib

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from test_models import fake_checkpoint, fake_folder, fake_lora

from studio.core.paths import bundled_model_present
from studio.core.settings import EngineSettings
from studio.ui.model_library import ModelLibraryPanel
from studio.ui.model_words import SUMMARY_ROLE


def make_panel(qtbot, studio_home, width: int = 340):
    models = studio_home / "models"
    models.mkdir(exist_ok=True)
    fake_checkpoint(models / "dreamshaper_8_pruned_with_a_long_name.safetensors")
    fake_checkpoint(models / "fill.safetensors", in_channels=9)
    fake_checkpoint(models / "sdxl_turbo.safetensors", "sdxl")
    fake_folder(models / "my-diffusers")
    (models / "broken.safetensors").write_bytes(b"\x08\x00\x00\x00\x00\x00\x00\x00{not json")
    fake_lora(models / "ink.safetensors")
    panel = ModelLibraryPanel(EngineSettings())
    qtbot.addWidget(panel)
    settle(qtbot, panel)  # the library is listed off the GUI thread
    panel.resize(width, 700)  # as wide as the dock column it shares with the Gallery
    panel.show()
    qtbot.waitExposed(panel)
    return panel, models


def settle(qtbot, panel) -> None:
    qtbot.waitUntil(lambda: panel.queries.pending() == 0, timeout=10_000)


def row(panel, name) -> int:
    return next(r for r in range(panel.models.rowCount()) if panel.models.item(r, 0).text() == name)


def summary(panel, name) -> str:
    """The grey line under a model's name."""
    return panel.models.item(row(panel, name), 0).data(SUMMARY_ROLE)


def test_model_types_are_in_plain_words_and_nothing_is_left_empty(qtbot, studio_home):
    panel, _ = make_panel(qtbot, studio_home)
    assert summary(panel, "dreamshaper_8_pruned_with_a_long_name.safetensors").startswith("Stable Diffusion 1.x · ")
    assert summary(panel, "fill.safetensors").startswith("Stable Diffusion 1.x, inpainting · ")
    assert summary(panel, "sdxl_turbo.safetensors").startswith("Stable Diffusion XL, Turbo · ")
    assert summary(panel, "my-diffusers").startswith("Stable Diffusion 1.x · ")
    assert summary(panel, "broken.safetensors") == "can't be used: select it to see why"
    size = (studio_home / "models" / "fill.safetensors").stat().st_size
    assert summary(panel, "fill.safetensors").endswith(f" · {size} B")  # its size on disk
    if bundled_model_present():
        bundled = next(panel.models.item(r, 0) for r in range(panel.models.rowCount())
                       if panel.models.item(r, 0).text().endswith("(bundled)"))
        assert bundled.data(SUMMARY_ROLE).startswith("Custom · ")  # not "own, SD 1.x layout (v)"
    lora = panel.loras.item(0, 0)
    assert (lora.text(), lora.data(SUMMARY_ROLE)) == ("ink.safetensors", "for Stable Diffusion 1.x models")


def test_a_narrow_dock_shows_every_type_and_size_whole(qtbot, studio_home):
    panel, _ = make_panel(qtbot, studio_home)
    table = panel.models
    assert table.horizontalScrollBar().maximum() == 0  # no sideways scrolling
    room = table.viewport().width() - 12  # the row's text margins
    metrics = table.fontMetrics()
    for r in range(table.rowCount()):
        line = table.item(r, 0).data(SUMMARY_ROLE)
        assert metrics.horizontalAdvance(line) <= room, f"{line!r} is cut"
        assert table.rowHeight(r) >= 2 * metrics.height()  # a name and its summary, one under the other
    # Both lines are drawn: taking the summary away changes the lower half of the row only.
    item = table.item(0, 0)
    rect = table.visualRect(table.model().index(0, 0))
    upper, lower = rect.adjusted(0, 0, 0, -rect.height() // 2), rect.adjusted(0, rect.height() // 2, 0, 0)
    before = table.viewport().grab().toImage()
    item.setData(SUMMARY_ROLE, "")
    after = table.viewport().grab().toImage()
    assert before.copy(upper) == after.copy(upper) and before.copy(lower) != after.copy(lower)


def test_details_say_what_a_model_is_and_where_it_lives(qtbot, studio_home):
    panel, models = make_panel(qtbot, studio_home)
    panel.models.setCurrentCell(row(panel, "sdxl_turbo.safetensors"), 0)
    text = panel.details_text()
    assert "Type: Stable Diffusion XL" in text and "few steps" in text
    assert "Stored as: one file" in text and "From: your models folder" in text
    assert str(models / "sdxl_turbo.safetensors") in text and "Size on disk:" in text
    panel.models.setCurrentCell(row(panel, "my-diffusers"), 0)
    assert "Short hash: none (a folder has no single-file hash)" in panel.details_text()
    panel.loras.setCurrentCell(0, 0)
    assert "Made for: Stable Diffusion 1.x" in panel.details_text()


def test_why_a_model_cannot_be_used_is_said_in_full(qtbot, studio_home):
    panel, _ = make_panel(qtbot, studio_home)
    broken = row(panel, "broken.safetensors")
    reason = panel.entry(panel.models.item(broken, 0).data(Qt.ItemDataRole.UserRole)).error
    assert len(reason) > 40
    messages = []
    panel.message.connect(messages.append)
    panel.models.setCurrentCell(broken, 0)
    panel.choose_row(broken)
    assert messages == [reason]
    assert f"Can't be used: {reason}" in panel.details_text()


def test_a_file_that_cannot_be_added_is_explained_in_the_details(qtbot, studio_home, tmp_path):
    panel, _ = make_panel(qtbot, studio_home)
    junk = tmp_path / "downloaded-model.safetensors"
    junk.write_bytes(b"junk")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(junk))])
    panel.dropEvent(QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                               Qt.KeyboardModifier.NoModifier))
    settle(qtbot, panel)
    assert "Could not add downloaded-model.safetensors:" in panel.details_text()


def test_the_short_hash_fills_in_for_the_selected_file_without_blocking(qtbot, studio_home):
    panel, models = make_panel(qtbot, studio_home)
    path = models / "fill.safetensors"
    with qtbot.waitSignal(panel.hashKnown, timeout=10_000):
        panel.models.setCurrentCell(row(panel, "fill.safetensors"), 0)
        assert "Short hash: working it out…" in panel.details_text()  # the GUI thread did not hash
    expected = hashlib.sha256(path.read_bytes()).hexdigest()[:10]
    assert f"Short hash: {expected}" in panel.details_text()
