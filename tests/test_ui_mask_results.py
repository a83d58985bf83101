"""Rough edges of editing met in one sitting (issue 20): a filled outpaint can be taken back with
Ctrl+Z; the mask overlay steps aside for the result it produced; the brush fits the picture's size."""

from __future__ import annotations

import math

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QImage, QPainter
from test_ui_mask import _noise_image, _stroke, open_window

from studio.engine.fake import FakeBackend
from studio.engine.jobs import JobQueue
from studio.ui.mask_editor import qimage_to_pil

pytestmark = pytest.mark.usefixtures("qapp")


class EditsAtSourceSize(FakeBackend):
    """The fake engine, but an edit comes back at its source's size, as the real one's do."""

    def run(self, job):  # noqa: ANN001, ANN201
        done = super().run(job)
        if job.request.init_image:
            width, height = Image.open(job.request.init_image).size
            done = type(done)(done.job_id, done.request, done.image.resize((width, height)),
                              done.timings, done.info)
        return done


def editing(qtbot, tmp_path, size=(64, 48)):
    window = open_window(qtbot, lambda: JobQueue(EditsAtSourceSize(step_delay=0.001)))
    window.prompt_panel.prompt_edit.setPlainText("a green triangle")
    window.prompt_panel.steps_spin.setValue(3)
    path = tmp_path / "source.png"
    _noise_image(*size).save(path)
    window.mask_editor.open_file(path)  # read off the GUI thread
    qtbot.waitUntil(lambda: window.mask_editor.queries.pending() == 0, timeout=10_000)
    window.canvas.actual_size()
    return window, window.mask_editor


def pixels(image: QImage) -> np.ndarray:
    return np.asarray(qimage_to_pil(image))


def press(qtbot, widget, key, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    widget.setFocus()
    qtbot.keyClick(widget, key, modifiers)


def run_edit(qtbot, window, button) -> np.ndarray:
    """Click Inpaint or Variation and wait until its result is the picture being edited."""
    with qtbot.waitSignal(window.bridge.finished, timeout=10_000) as done:
        qtbot.mouseClick(button, Qt.MouseButton.LeftButton)
    result = pixels(done.args[1])
    qtbot.waitUntil(lambda: np.array_equal(pixels(window.mask_editor.source()), result), timeout=5_000)
    return result


def rendered(canvas, x: int, y: int) -> tuple[int, int, int]:
    """The colour the scene paints at image pixel (x, y): picture plus any overlay on it."""
    out = QImage(1, 1, QImage.Format.Format_RGB888)
    painter = QPainter(out)
    canvas.scene().render(painter, QRectF(0, 0, 1, 1), QRectF(x, y, 1, 1))
    painter.end()
    colour = out.pixelColor(0, 0)
    return colour.red(), colour.green(), colour.blue()


# ---- outpaint undo -----------------------------------------------------------------------------------
def test_ctrl_z_takes_a_filled_outpaint_back_step_by_step(qtbot, tmp_path):
    window, editor = editing(qtbot, tmp_path)
    original = pixels(editor.source())
    editor.panel.outpaint_spin.setValue(32)
    qtbot.mouseClick(editor.panel.outpaint_buttons["right"], Qt.MouseButton.LeftButton)
    extended, extension_mask = pixels(editor.source()), editor.layer.array.copy()
    assert extended.shape == (48, 96, 3)
    filled = run_edit(qtbot, window, editor.panel.inpaint_button)
    assert filled.shape == (48, 96, 3) and not np.array_equal(filled, extended)

    canvas = window.canvas
    press(qtbot, canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # the fill goes
    assert np.array_equal(pixels(editor.source()), extended)
    assert np.array_equal(pixels(canvas.current_image()), extended)
    assert np.array_equal(editor.layer.array, extension_mask) and editor.layer.isVisible()
    press(qtbot, canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)  # then the extension
    assert np.array_equal(pixels(editor.source()), original)
    assert np.array_equal(pixels(canvas.current_image()), original)

    redo = Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier
    press(qtbot, canvas, Qt.Key.Key_Z, redo)
    press(qtbot, canvas, Qt.Key.Key_Z, redo)
    assert np.array_equal(pixels(canvas.current_image()), filled)


def test_a_variation_is_one_undo_step_too_and_a_new_picture_starts_afresh(qtbot, tmp_path):
    window, editor = editing(qtbot, tmp_path)
    original = pixels(editor.source())
    varied = run_edit(qtbot, window, editor.panel.variation_button)
    assert not np.array_equal(varied, original)
    editor.undo_action.trigger()
    assert np.array_equal(pixels(window.canvas.current_image()), original)
    editor.redo_action.trigger()
    assert np.array_equal(pixels(window.canvas.current_image()), varied)
    # A picture generated from the prompt is no edit of this one: undo never brings this one back.
    with qtbot.waitSignal(window.bridge.finished, timeout=10_000):
        window.generate()
    qtbot.waitUntil(lambda: editor.source().size().toTuple() == (128, 128), timeout=5_000)
    assert not editor.undo_action.isEnabled()


# ---- the overlay over a result -------------------------------------------------------------------------
def test_the_mask_steps_aside_for_the_inpainted_result_and_comes_back_when_wanted(qtbot, tmp_path):
    window, editor = editing(qtbot, tmp_path)
    canvas = window.canvas
    editor.brush.set_size(12)
    _stroke(qtbot, canvas, [(20, 20), (40, 24)])
    mask = editor.layer.array.copy()
    source = pixels(editor.source())
    assert rendered(canvas, 20, 20) != tuple(source[20, 20])  # tinted by the overlay

    result = run_edit(qtbot, window, editor.panel.inpaint_button)
    assert rendered(canvas, 20, 20) == tuple(result[20, 20])  # the result itself, untinted
    assert not editor.panel.show_mask_check.isChecked()
    assert "M shows it" in editor.panel.status_label.text()
    assert np.array_equal(editor.layer.array, mask)  # kept, to repaint the same area again

    press(qtbot, canvas, Qt.Key.Key_M)
    assert rendered(canvas, 20, 20) != tuple(result[20, 20])
    assert editor.panel.status_label.text() == ""
    press(qtbot, canvas, Qt.Key.Key_M)
    assert rendered(canvas, 20, 20) == tuple(result[20, 20])
    # Painting brings the mask back into view, with the stroke added to it.
    _stroke(qtbot, canvas, [(50, 40), (52, 40)])
    assert editor.panel.show_mask_check.isChecked()
    assert rendered(canvas, 20, 20) != tuple(result[20, 20])


def test_undoing_a_result_shows_the_mask_it_was_made_with(qtbot, tmp_path):
    window, editor = editing(qtbot, tmp_path)
    editor.panel.fill_button.click()
    run_edit(qtbot, window, editor.panel.inpaint_button)
    assert not editor.layer.isVisible()
    editor.undo_action.trigger()
    assert editor.layer.isVisible() and (editor.layer.array == 255).all()


# ---- brush size ---------------------------------------------------------------------------------------
def dab_across(qtbot, window, editor, tmp_path, size: tuple[int, int], name: str) -> float:
    """Open a picture of `size`, click once in its middle, and return how wide the painted dab is,
    as a share of the picture's shorter side."""
    path = tmp_path / name
    _noise_image(*size).save(path)
    editor.open_file(path)  # read off the GUI thread
    qtbot.waitUntil(lambda: editor.queries.pending() == 0, timeout=10_000)
    window.canvas.fit_to_view()
    centre = window.canvas.mapFromScene(QPointF(size[0] / 2, size[1] / 2))
    qtbot.mouseClick(window.canvas.viewport(), Qt.MouseButton.LeftButton, pos=centre)
    painted = int((editor.layer.array > 0).sum())
    return 2 * math.sqrt(painted / math.pi) / min(size)


def test_the_default_brush_suits_small_and_large_pictures_alike(qtbot, tmp_path):
    window, editor = editing(qtbot, tmp_path)
    small = dab_across(qtbot, window, editor, tmp_path, (128, 128), "small.png")
    assert 0.04 < small < 0.15  # a dab, not a third of the picture
    large = dab_across(qtbot, window, editor, tmp_path, (1024, 768), "large.png")
    assert large == pytest.approx(small, rel=0.2)
    assert editor.panel.size_spin.value() == editor.brush.size


def test_the_brush_keeps_its_size_relative_to_the_picture_and_steps_in_proportion(qtbot, tmp_path):
    window, editor = editing(qtbot, tmp_path, size=(128, 128))
    canvas = window.canvas
    start = editor.brush.size
    for _ in range(3):
        press(qtbot, canvas, Qt.Key.Key_BracketRight)
    grown = editor.brush.size
    small_step = grown - start
    assert grown > start
    path = tmp_path / "twice.png"
    _noise_image(256, 256).save(path)
    editor.open_file(path)  # read off the GUI thread
    qtbot.waitUntil(lambda: editor.queries.pending() == 0, timeout=10_000)
    assert editor.brush.size == pytest.approx(2 * grown, abs=1)  # the same share of the picture
    assert editor.panel.size_spin.value() == editor.brush.size
    before = editor.brush.size
    for _ in range(3):
        press(qtbot, canvas, Qt.Key.Key_BracketRight)
    assert editor.brush.size - before >= 2 * small_step - 2  # steps scale with the picture too
    press(qtbot, canvas, Qt.Key.Key_BracketLeft)
    assert editor.brush.size < before + 2 * small_step + 2
    # The artist's own size in pixels, typed in, is kept for this picture exactly.
    editor.panel.size_spin.setValue(30)
    assert editor.brush.size == 30
