"""The model library panel: rows, choosing, LoRA weights, adding by drop, hashes off the GUI thread."""

from __future__ import annotations

import hashlib

from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from test_models import fake_checkpoint, fake_lora

from studio.core.settings import EngineSettings
from studio.ui.model_library import ModelLibraryPanel
from studio.ui.model_words import SUMMARY_ROLE


def make_panel(qtbot, studio_home):
    models = studio_home / "models"
    models.mkdir(exist_ok=True)
    fake_checkpoint(models / "a-sd15.safetensors")
    fake_checkpoint(models / "b-xl.safetensors", "sdxl")
    (models / "bad.ckpt").write_bytes(b"x")
    fake_lora(models / "ink.safetensors")
    panel = ModelLibraryPanel(EngineSettings())
    qtbot.addWidget(panel)
    settle(qtbot, panel)  # the library is listed off the GUI thread
    return panel, models


def names(panel):
    """The listed models, less the bundled one (present once it has been trained)."""
    listed = [panel.models.item(r, 0).text() for r in range(panel.models.rowCount())]
    return [name for name in listed if not name.endswith("(bundled)")]


def settle(qtbot, panel) -> None:
    qtbot.waitUntil(lambda: panel.queries.pending() == 0, timeout=10_000)


def row(panel, name):
    return next(r for r in range(panel.models.rowCount()) if panel.models.item(r, 0).text() == name)


def test_lists_models_and_loras_and_chooses(qtbot, studio_home):
    panel, models = make_panel(qtbot, studio_home)
    assert names(panel) == ["a-sd15.safetensors", "b-xl.safetensors", "bad.ckpt"]
    assert panel.models.item(row(panel, "b-xl.safetensors"), 0).data(SUMMARY_ROLE).startswith("Stable Diffusion XL")
    assert panel.loras.rowCount() == 1
    with qtbot.waitSignal(panel.modelChosen) as chosen:
        panel.choose_row(row(panel, "b-xl.safetensors"))
    assert chosen.args == [str(models / "b-xl.safetensors")]
    with qtbot.waitSignal(panel.message) as said:
        panel.choose_row(row(panel, "bad.ckpt"))  # the refused pickle: a reason, not a model
    assert "can run code" in said.args[0]


def test_lora_check_and_weight_emit_the_list(qtbot, studio_home):
    panel, models = make_panel(qtbot, studio_home)
    with qtbot.waitSignal(panel.lorasChanged) as changed:
        panel.loras.item(0, 0).setCheckState(Qt.CheckState.Checked)
    assert changed.args == [[(str(models / "ink.safetensors"), 1.0)]]
    with qtbot.waitSignal(panel.lorasChanged) as changed:
        panel.loras.cellWidget(0, 1).setValue(0.6)
    assert changed.args == [[(str(models / "ink.safetensors"), 0.6)]]
    panel.refresh()  # ticks and weights survive a refresh
    settle(qtbot, panel)
    assert panel.checked_loras() == [(str(models / "ink.safetensors"), 0.6)]


def test_drop_adds_files_and_reports_bad_ones(qtbot, studio_home, tmp_path):
    panel, _ = make_panel(qtbot, studio_home)
    good = fake_checkpoint(tmp_path / "dropped.safetensors")
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"junk")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(good)), QUrl.fromLocalFile(str(junk))])
    event = QDropEvent(QPointF(5, 5), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    messages = []
    panel.message.connect(messages.append)
    panel.dropEvent(event)
    settle(qtbot, panel)
    assert "dropped.safetensors" in names(panel)
    assert any("junk.safetensors" in m for m in messages) and any(m.startswith("added") for m in messages)


def test_the_short_hash_of_the_selected_model_is_worked_out_off_the_gui_thread(qtbot, studio_home, monkeypatch):
    import threading

    from studio.ui import model_library

    threads = []

    def spy(path, progress=None):
        threads.append(threading.current_thread())
        return real(path, progress)

    real = model_library.file_sha256
    monkeypatch.setattr(model_library, "file_sha256", spy)
    panel, models = make_panel(qtbot, studio_home)
    assert threads == []  # listing hashes nothing
    with qtbot.waitSignal(panel.hashKnown, timeout=10_000) as known:
        panel.models.setCurrentCell(row(panel, "a-sd15.safetensors"), 0)
    expected = hashlib.sha256((models / "a-sd15.safetensors").read_bytes()).hexdigest()
    assert known.args == [str(models / "a-sd15.safetensors"), expected]
    assert threads and threading.main_thread() not in threads
    assert f"Short hash: {expected[:10]}" in panel.details_text()
    panel.refresh()  # from the cache now: shown at once, nothing hashed again
    settle(qtbot, panel)
    panel.models.setCurrentCell(row(panel, "b-xl.safetensors"), 0)
    panel.models.setCurrentCell(row(panel, "a-sd15.safetensors"), 0)
    assert f"Short hash: {expected[:10]}" in panel.details_text()
    assert len(threads) <= 2  # a-sd15 once, and b-xl asked for on the way
