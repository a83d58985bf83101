"""The File menu and the gallery's context menu in the real window (fake engine), driven by the
keyboard: focus starts in the prompt, Ctrl+Shift+E / Ctrl+E export the picture with its request,
Ctrl+O opens a file as an editable source with its parameters, the gallery exports a selection."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QApplication, QFileDialog

from studio.engine.fake import fake_engine
from studio.gallery.export import request_from_file
from studio.ui.main_window import MainWindow

pytestmark = pytest.mark.usefixtures("qapp")


@pytest.fixture
def window(qtbot):
    win = MainWindow(engine_factory=lambda: fake_engine(step_delay=0.002))
    qtbot.addWidget(win)
    with qtbot.waitActive(win):
        win.show()
        win.activateWindow()
    yield win
    win.file_actions.wait_written()
    win.close()


def _generate(qtbot, window, prompt: str) -> None:
    panel = window.prompt_panel
    panel.prompt_edit.setPlainText(prompt)
    panel.steps_spin.setValue(3)
    panel.prompt_edit.setFocus()
    with qtbot.waitSignal(window.bridge.finished, timeout=10_000):
        qtbot.keyClick(panel.prompt_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)


def _key(qtbot, window, keys: str) -> None:
    """A shortcut pressed wherever the focus is, as a person would."""
    from PySide6.QtGui import QKeySequence

    sequence = QKeySequence(keys)[0]
    target = QApplication.focusWidget() or window
    qtbot.keyClick(target, sequence.key(), sequence.keyboardModifiers())


def test_focus_starts_in_the_prompt_box(qtbot, window):
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.prompt_panel.prompt_edit, timeout=3_000)


def test_export_as_then_export_again_then_open(qtbot, window, tmp_path, monkeypatch):
    _generate(qtbot, window, "a red circle on the left")
    target = tmp_path / "exports" / "circle.png"
    target.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(target), ""))
    with qtbot.waitSignal(window.file_actions.exported, timeout=10_000):
        _key(qtbot, window, "Ctrl+Shift+E")
    recorded = window.gallery_panel.model.record_at(0) if window.gallery_panel else None
    first = request_from_file(target)
    assert first.prompt == "a red circle on the left"
    if recorded is not None:
        assert first.seed == recorded.request.seed
    with qtbot.waitSignal(window.file_actions.exported, timeout=10_000) as again:
        _key(qtbot, window, "Ctrl+E")
    second = Path(again.args[0])
    assert second.parent == target.parent and second != target
    assert request_from_file(second).prompt == first.prompt
    assert "exports" in window.statusBar().currentMessage()

    # Ctrl+O: the exported file becomes the picture being edited, its parameters fill the prompt
    window.prompt_panel.prompt_edit.setPlainText("something else")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(second), ""))
    _key(qtbot, window, "Ctrl+O")
    qtbot.waitUntil(lambda: window.prompt_panel.prompt_edit.toPlainText() == first.prompt, timeout=10_000)
    assert window.mask_editor.source().size().width() == first.width
    assert window.file_actions.picture().request.prompt == first.prompt


def test_copy_image_and_paste_as_source(qtbot, window):
    _generate(qtbot, window, "a blue star")
    _key(qtbot, window, "Ctrl+Shift+C")
    copied = QGuiApplication.clipboard().image()
    assert not copied.isNull()
    window.canvas.setFocus()
    window.mask_editor.set_source(copied.scaled(32, 32))
    _key(qtbot, window, "Ctrl+V")
    assert window.mask_editor.source().size() == copied.size()


def test_gallery_context_menu_exports_the_selection(qtbot, window, tmp_path, monkeypatch):
    if window.gallery_panel is None:
        pytest.fail("the gallery should open in a fresh STUDIO_HOME")
    for prompt in ("a red circle", "a green square"):
        _generate(qtbot, window, prompt)
    panel = window.gallery_panel
    qtbot.waitUntil(lambda: panel.model.total() == 2, timeout=10_000)
    panel.view.selectAll()
    menu = window.gallery_menu.build_menu()
    texts = [a.text() for a in menu.actions() if a.text()]
    for wanted in ("Open on Canvas", "Use as Source", "Reuse Settings", "Export 2 Images…", "Copy Image",
                   "Copy Prompt", "Favourite", "Tags…", "Delete"):
        assert wanted in texts
    folder = tmp_path / "chosen"
    folder.mkdir()
    monkeypatch.setattr(QFileDialog, "getExistingDirectory", lambda *a, **k: str(folder))
    panel.view.setFocus()
    with qtbot.waitSignal(window.gallery_menu.message, timeout=10_000) as said:
        _key(qtbot, window, "Ctrl+Shift+E")  # the grid has focus: its selection is exported
    assert "Exported 2 images" in said.args[0]
    prompts = sorted(request_from_file(p).prompt for p in folder.iterdir())
    assert prompts == ["a green square", "a red circle"]


def _one_picture_selected(qtbot, window, prompt: str):
    """Generate `prompt`, then select its gallery entry with the keyboard on the grid."""
    _generate(qtbot, window, prompt)
    panel = window.gallery_panel
    qtbot.waitUntil(lambda: panel.model.total() == 1, timeout=10_000)
    panel.view.setCurrentIndex(panel.model.index(0))
    panel.view.setFocus()
    return panel


def test_gallery_keys_copy_prompt_and_open(qtbot, window):
    panel = _one_picture_selected(qtbot, window, "an orange triangle")
    qtbot.keyClick(panel.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.AltModifier)
    assert QGuiApplication.clipboard().text() == "an orange triangle"
    window.mask_editor.set_source(window.mask_editor.source().scaled(16, 16))
    qtbot.keyClick(panel.view, Qt.Key.Key_Return)
    assert window.mask_editor.source().width() == panel.model.record_at(0).request.width


def test_open_image_with_no_parameters_is_still_editable(qtbot, window, tmp_path, monkeypatch):
    plain = tmp_path / "photo.png"
    Image.new("RGB", (80, 48), "purple").save(plain)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(plain), ""))
    _key(qtbot, window, "Ctrl+O")
    qtbot.waitUntil(lambda: window.mask_editor.source().width() == 80, timeout=10_000)  # read off the GUI thread
    assert window.file_actions.picture().request is None
    qtbot.waitUntil(lambda: "photo.png" in window.statusBar().currentMessage(), timeout=10_000)


def test_gallery_letter_keys_and_ctrl_c_act_on_the_selection(qtbot, window):
    panel = _one_picture_selected(qtbot, window, "a yellow star")
    QGuiApplication.clipboard().clear()
    qtbot.keyClick(panel.view, Qt.Key.Key_C, Qt.KeyboardModifier.ControlModifier)
    assert not QGuiApplication.clipboard().image().isNull()  # the picture, not the caption text
    qtbot.keyClick(panel.view, Qt.Key.Key_F)
    qtbot.waitUntil(lambda: panel.model.record_at(0).favourite, timeout=5_000)
    window.prompt_panel.prompt_edit.setPlainText("something else")
    qtbot.keyClick(panel.view, Qt.Key.Key_R)
    assert window.prompt_panel.prompt_edit.toPlainText() == "a yellow star"


def test_opening_an_export_whose_source_is_elsewhere_says_so(qtbot, window, tmp_path, monkeypatch):
    from studio.core.request import GenerationRequest
    from studio.gallery.export import save_with_parameters

    source = tmp_path / "someone-elses-photo.png"
    Image.new("RGB", (64, 64), "orange").save(source)
    request = GenerationRequest("a red circle", seed=4, init_image=str(source), width=64, height=64)
    exported = save_with_parameters(Image.new("RGB", (64, 64), "red"), request, {}, tmp_path / "shared.png")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(exported), ""))
    _key(qtbot, window, "Ctrl+O")
    qtbot.waitUntil(lambda: "the source image (sha256:" in window.statusBar().currentMessage(), timeout=10_000)
    assert window.prompt_panel.prompt_edit.toPlainText() == "a red circle"
