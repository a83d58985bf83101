"""The artist's whole path through the real window, the real engine and the bundled model, by keys,
mouse drags and menus only (the file dialogs answer a path): type a prompt, Ctrl+Enter, paint a
mask stroke, inpaint, undo, redo, Ctrl+Shift+E, Ctrl+E, Ctrl+O on the export (the request comes
back exactly), then restart the window and find both pictures in the gallery."""

from __future__ import annotations

from pathlib import Path

import pytest
from PySide6.QtCore import QPointF, Qt
from PySide6.QtGui import QImage, QKeySequence
from PySide6.QtWidgets import QApplication, QFileDialog

from studio.core.paths import bundled_model_present
from studio.gallery.export import request_from_file
from studio.ui.main_window import MainWindow

pytestmark = [pytest.mark.usefixtures("qapp"), pytest.mark.slow]
JOB_TIMEOUT_MS = 240_000  # a 20-step picture is 1-3 s alone; CI may share the cores


def _press(qtbot, keys: str) -> None:
    """A key or shortcut, sent where the keyboard focus is, as a person's keyboard would."""
    combo = QKeySequence(keys)[0]
    target = QApplication.focusWidget()
    assert target is not None, "nothing has the keyboard focus"
    qtbot.keyClick(target, combo.key(), combo.keyboardModifiers())


def _drag(qtbot, canvas, points: list[tuple[float, float]]) -> None:
    """A mouse stroke over image pixels `points` (scene coordinates are image pixels)."""
    viewport = canvas.viewport()
    at = [canvas.mapFromScene(QPointF(x, y)) for x, y in points]
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=at[0])
    for point in at[1:]:
        qtbot.mouseMove(viewport, point)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=at[-1])


def _same_pixels(a: QImage, b: QImage) -> bool:
    fmt = QImage.Format.Format_RGB888
    return a.size() == b.size() and a.convertToFormat(fmt) == b.convertToFormat(fmt)


def _open_window(qtbot) -> MainWindow:
    window = MainWindow()
    qtbot.addWidget(window)
    with qtbot.waitExposed(window):
        window.show()
    return window


def test_make_edit_export_reopen_restart(qtbot, tmp_path, monkeypatch):
    if not bundled_model_present():
        pytest.fail("the bundled model is part of the repository; the walkthrough needs it")
    window = _open_window(qtbot)
    finished = []
    window.bridge.finished.connect(lambda _job, image, event: finished.append((QImage(image), event)))

    # Launch: the keyboard is in the prompt box. Type, Ctrl+Enter, wait for the picture.
    qtbot.waitUntil(lambda: QApplication.focusWidget() is window.prompt_panel.prompt_edit, timeout=5_000)
    qtbot.keyClicks(QApplication.focusWidget(), "a red circle on a blue background")
    with qtbot.waitSignal(window.bridge.finished, timeout=JOB_TIMEOUT_MS):
        _press(qtbot, "Ctrl+Return")
    made_image, made = finished[-1]
    assert made.request.prompt == "a red circle on a blue background"
    assert _same_pixels(window.canvas.current_image(), made_image)

    # Paint a stroke over the picture: click the canvas, B for the brush, drag.
    canvas = window.canvas
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=canvas.viewport().rect().center())
    _press(qtbot, "B")
    _drag(qtbot, canvas, [(30, 30), (50, 40), (70, 50), (90, 60)])
    window.edit_dock.raise_()  # the Edit tab, as a click on it would
    inpaint = window.mask_editor.panel.inpaint_button
    qtbot.waitUntil(inpaint.isEnabled, timeout=5_000)
    with qtbot.waitSignal(window.bridge.finished, timeout=JOB_TIMEOUT_MS):
        qtbot.mouseClick(inpaint, Qt.MouseButton.LeftButton)
    inpainted_image, inpainted = finished[-1]
    assert inpainted.request.mode == "inpaint"
    assert not _same_pixels(inpainted_image, made_image)
    qtbot.waitUntil(lambda: _same_pixels(canvas.current_image(), inpainted_image), timeout=5_000)

    # Undo takes the inpaint back, redo brings it again (the keyboard is on the canvas).
    canvas.setFocus()
    _press(qtbot, "Ctrl+Z")
    qtbot.waitUntil(lambda: _same_pixels(canvas.current_image(), made_image), timeout=5_000)
    _press(qtbot, "Ctrl+Shift+Z")
    qtbot.waitUntil(lambda: _same_pixels(canvas.current_image(), inpainted_image), timeout=5_000)

    # Ctrl+Shift+E: the save dialog answers a path; Ctrl+E: a second file beside it.
    exported = tmp_path / "exports" / "my circle.png"
    exported.parent.mkdir()
    monkeypatch.setattr(QFileDialog, "getSaveFileName", lambda *a, **k: (str(exported), ""))
    with qtbot.waitSignal(window.file_actions.exported, timeout=30_000):
        _press(qtbot, "Ctrl+Shift+E")
    with qtbot.waitSignal(window.file_actions.exported, timeout=30_000) as again:
        _press(qtbot, "Ctrl+E")
    second = Path(again.args[0])
    assert second.parent == exported.parent and second.is_file() and second != exported
    assert request_from_file(exported) == inpainted.request
    assert request_from_file(second) == inpainted.request

    # Ctrl+O on the export: the picture is the one being edited, the prompt panel holds its request.
    window.prompt_panel.prompt_edit.setPlainText("")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", lambda *a, **k: (str(exported), ""))
    _press(qtbot, "Ctrl+O")
    # (the picture is read off the GUI thread, then its parameters: wait for them to reach the prompt)
    qtbot.waitUntil(lambda: window.prompt_panel.prompt_edit.toPlainText() == inpainted.request.prompt,
                    timeout=30_000)
    qtbot.waitUntil(lambda: window.file_actions.picture() is not None
                    and window.file_actions.picture().request is not None, timeout=30_000)
    assert window.file_actions.picture().request == inpainted.request
    assert window.prompt_panel.prompt_edit.toPlainText() == inpainted.request.prompt
    assert window.prompt_panel.seed_edit.text() == str(inpainted.request.seed)
    assert _same_pixels(window.mask_editor.source(), inpainted_image)

    # Restart: both pictures are in the gallery, the inpaint as a child of the first.
    window.close()
    window = _open_window(qtbot)
    gallery = window.gallery_panel
    gallery.stacks_button.setChecked(False)  # the inpaint is in its source's stack: list both
    qtbot.waitUntil(lambda: gallery.model.total() == 2, timeout=10_000)
    newest, oldest = gallery.model.record_at(0), gallery.model.record_at(1)
    assert newest.request == inpainted.request and oldest.request == made.request
    assert newest.parent_id == oldest.id
    window.close()
