"""Mask painting on the canvas: strokes from simulated mouse events, undo/redo, mask commands,
tablet pressure, drop and paste, outpaint, and an inpaint through the real engine on a tiny model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import (
    QDragEnterEvent,
    QDropEvent,
    QGuiApplication,
    QImage,
    QPointingDevice,
    QTabletEvent,
)
from PySide6.QtWidgets import QApplication

from studio.engine import imageops
from studio.engine.backend import DiffusersBackend
from studio.engine.fake import fake_engine
from studio.engine.jobs import JobQueue
from studio.ui.main_window import MainWindow
from studio.ui.mask_brush import dab
from studio.ui.mask_editor import pil_to_qimage, qimage_to_pil

pytestmark = pytest.mark.usefixtures("qapp")


def _noise_image(width: int, height: int, seed: int = 0) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def open_window(qtbot, engine_factory=None) -> MainWindow:
    window = MainWindow(engine_factory=engine_factory or (lambda: fake_engine(step_delay=0.001)))
    qtbot.addWidget(window)
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    return window


def _editing(qtbot, tmp_path, size=(96, 64)):
    window = open_window(qtbot)
    path = tmp_path / "source.png"
    _noise_image(*size).save(path)
    editor = window.mask_editor
    editor.open_file(path)  # read off the GUI thread
    qtbot.waitUntil(lambda: editor.queries.pending() == 0, timeout=10_000)
    window.canvas.actual_size()  # 1 view px = 1 image px, so the stroke lands where we expect
    QApplication.processEvents()
    return window, editor


def _view_point(canvas, x: float, y: float) -> QPoint:
    return canvas.mapFromScene(QPointF(x, y))


def _stroke(qtbot, canvas, points) -> None:
    viewport = canvas.viewport()
    first, *rest = (_view_point(canvas, x, y) for x, y in points)
    qtbot.mousePress(viewport, Qt.MouseButton.LeftButton, pos=first)
    for point in rest:
        qtbot.mouseMove(viewport, point)
    qtbot.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=rest[-1] if rest else first)


def test_stroke_undo_redo(qtbot, tmp_path):
    window, editor = _editing(qtbot, tmp_path)
    layer = editor.layer
    assert layer.size() == (96, 64) and layer.is_empty()
    editor.brush.set_size(10)
    _stroke(qtbot, window.canvas, [(20, 30), (40, 30), (60, 32)])
    painted = layer.array.copy()
    assert painted[30, 40] == 255 and painted[30, 20] > 0
    assert painted[5, 5] == 0 and painted[60, 90] == 0  # far from the stroke
    assert editor.undo_stack.count() == 1

    window.canvas.setFocus()
    qtbot.keyClick(window.canvas, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert layer.is_empty()
    qtbot.keyClick(
        window.canvas, Qt.Key.Key_Z,
        Qt.KeyboardModifier.ControlModifier | Qt.KeyboardModifier.ShiftModifier,
    )
    assert np.array_equal(layer.array, painted)


def test_erase_clear_invert_fill_are_undoable(qtbot, tmp_path):
    window, editor = _editing(qtbot, tmp_path)
    layer, panel = editor.layer, editor.panel
    panel.fill_button.click()
    assert (layer.array == 255).all()
    editor.set_erase(True)
    editor.brush.set_size(8)
    _stroke(qtbot, window.canvas, [(30, 30), (31, 30)])
    assert layer.array[30, 30] == 0 and layer.array[5, 5] == 255
    panel.invert_button.click()
    assert layer.array[30, 30] == 255 and layer.array[5, 5] == 0
    panel.clear_button.click()
    assert layer.is_empty()
    for _ in range(3):
        panel.undo_button.click()
    assert (layer.array == 255).all()
    panel.undo_button.click()
    assert layer.is_empty() and not panel.undo_button.isEnabled()


def test_brush_size_keys_hardness_and_overlay(qtbot, tmp_path):
    window, editor = _editing(qtbot, tmp_path)
    canvas, brush = window.canvas, editor.brush
    brush.set_size(20)
    canvas.setFocus()
    qtbot.keyClick(canvas, Qt.Key.Key_BracketRight)
    assert brush.size > 20 and editor.panel.size_spin.value() == brush.size
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    qtbot.keyClick(canvas, Qt.Key.Key_BracketLeft)
    assert brush.size < 20
    # Hide/show the overlay with M; the mask itself is untouched.
    assert editor.layer.isVisible()
    qtbot.keyClick(canvas, Qt.Key.Key_M)
    assert not editor.layer.isVisible()
    qtbot.keyClick(canvas, Qt.Key.Key_M)
    assert editor.layer.isVisible()
    # Typing "[" in the prompt box types it, it does not resize the brush.
    size = brush.size
    window.prompt_panel.prompt_edit.setFocus()
    qtbot.keyClick(window.prompt_panel.prompt_edit, Qt.Key.Key_BracketLeft)
    assert brush.size == size


def test_dab_hardness_shapes_the_edge():
    _, _, hard = dab(10, 1.0, (10.0, 10.0))
    _, _, soft = dab(10, 0.0, (10.0, 10.0))
    assert hard.max() == 1.0 and soft.max() <= 1.0
    assert (hard > 0.99).sum() > (soft > 0.99).sum()
    assert hard[10, 17] == pytest.approx(1.0) and 0 < soft[10, 17] < 0.5


def test_tablet_pressure_scales_the_dab(qtbot, tmp_path):
    window, editor = _editing(qtbot, tmp_path)
    canvas = window.canvas
    editor.brush.set_size(30)
    device = QPointingDevice.primaryPointingDevice()

    def tablet(kind, x, y, pressure):
        pos = QPointF(_view_point(canvas, x, y))
        buttons = Qt.MouseButton.LeftButton if kind != QTabletEvent.Type.TabletRelease else Qt.MouseButton.NoButton
        event = QTabletEvent(
            kind, device, pos, QPointF(canvas.viewport().mapToGlobal(pos.toPoint())), pressure,
            0.0, 0.0, 0.0, 0.0, 0.0, Qt.KeyboardModifier.NoModifier, Qt.MouseButton.LeftButton, buttons,
        )
        QApplication.sendEvent(canvas.viewport(), event)

    tablet(QTabletEvent.Type.TabletPress, 20, 20, 0.2)
    tablet(QTabletEvent.Type.TabletRelease, 20, 20, 0.2)
    light = int((editor.layer.array > 0).sum())
    tablet(QTabletEvent.Type.TabletPress, 70, 40, 1.0)
    tablet(QTabletEvent.Type.TabletRelease, 70, 40, 1.0)
    heavy = int((editor.layer.array > 0).sum()) - light
    assert 0 < light < heavy / 4
    assert editor.undo_stack.count() == 2


def test_drop_and_paste_open_pictures(qtbot, tmp_path):
    window = open_window(qtbot)
    editor = window.mask_editor
    path = tmp_path / "dropped.png"
    _noise_image(40, 24).save(path)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(path))])
    args = (Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    enter = QDragEnterEvent(QPoint(10, 10), *args)
    QApplication.sendEvent(window.canvas.viewport(), enter)
    assert enter.isAccepted()  # Qt delivers the drop only to a widget that accepted the drag
    QApplication.sendEvent(window.canvas.viewport(), QDropEvent(QPointF(10, 10), *args))
    qtbot.waitUntil(lambda: editor.source().size().toTuple() == (40, 24), timeout=10_000)  # read off the GUI thread
    assert window.canvas.current_image().size().toTuple() == (40, 24)

    QGuiApplication.clipboard().setImage(pil_to_qimage(_noise_image(32, 48, seed=4)))
    assert editor.paste()
    assert editor.source().size().toTuple() == (32, 48) and editor.layer.size() == (32, 48)

    junk = tmp_path / "junk.png"
    junk.write_text("nope")
    editor.open_file(junk)  # read off the GUI thread
    qtbot.waitUntil(lambda: editor.queries.pending() == 0, timeout=10_000)
    assert "cannot read the image file junk.png" in window.banner.text()
    assert editor.source().size().toTuple() == (32, 48)  # the picture being edited is untouched


def test_inpaint_needs_a_mask_and_says_so(qtbot, tmp_path):
    window, editor = _editing(qtbot, tmp_path)
    assert editor.inpaint() is None
    assert "the mask is empty: paint the area to regenerate" in window.banner.text()


def test_outpaint_extends_canvas_and_masks_new_area(qtbot, tmp_path):
    window, editor = _editing(qtbot, tmp_path, size=(64, 48))
    before = qimage_to_pil(editor.source())
    editor.panel.outpaint_spin.setValue(32)
    assert editor.outpaint("right")
    assert editor.source().size().toTuple() == (96, 48)
    after = np.asarray(qimage_to_pil(editor.source()))
    assert np.array_equal(after[:, :64], np.asarray(before))
    mask = editor.layer.array
    assert (mask[:, 64:] == 255).all() and (mask[:, :40] == 0).all()


def test_outpaint_is_one_undo_step(qtbot, tmp_path):
    window, editor = _editing(qtbot, tmp_path, size=(64, 48))
    _stroke(qtbot, window.canvas, [(10, 10), (20, 20)])
    painted = editor.layer.array.copy()
    before = np.asarray(qimage_to_pil(editor.source())).copy()
    editor.panel.outpaint_spin.setValue(32)
    assert editor.outpaint("left")
    assert editor.source().size().toTuple() == (96, 48)
    extended = editor.layer.array.copy()
    editor.undo_stack.undo()
    assert editor.source().size().toTuple() == (64, 48)
    assert window.canvas.current_image().size().toTuple() == (64, 48)
    assert np.array_equal(np.asarray(qimage_to_pil(editor.source())), before)
    assert np.array_equal(editor.layer.array, painted)  # the stroke from before is still there
    editor.undo_stack.redo()
    assert editor.source().size().toTuple() == (96, 48)
    assert np.array_equal(editor.layer.array, extended)
    editor.undo_stack.undo()
    editor.undo_stack.undo()  # and then the stroke itself
    assert not editor.layer.array.any()
    # A new picture (opened, pasted, generated) replaces the extended one: no undo back past it.
    editor.undo_stack.redo()
    editor.undo_stack.redo()
    editor.set_source(editor.source().copy())
    assert editor.undo_stack.count() == 0


def test_inpaint_through_the_engine_on_a_tiny_model(qtbot, tmp_path, tiny_model_dir, studio_home):
    window = open_window(qtbot, engine_factory=lambda: JobQueue(DiffusersBackend()))
    panel = window.prompt_panel
    panel.prompt_edit.setPlainText("a green triangle")
    panel.steps_spin.setValue(2)
    panel.set_size(64, 64)
    panel.set_model(str(tiny_model_dir))
    editor = window.mask_editor
    source_path = tmp_path / "source.png"
    _noise_image(80, 56, seed=9).save(source_path)
    editor.open_file(source_path)  # read off the GUI thread
    qtbot.waitUntil(lambda: editor.queries.pending() == 0, timeout=10_000)
    window.canvas.actual_size()
    editor.brush.set_size(12)
    editor.panel.feather_spin.setValue(4)
    editor.panel.strength_spin.setValue(100)
    _stroke(qtbot, window.canvas, [(30, 20), (45, 28)])
    mask = editor.layer.to_pil()

    previews = []
    window.bridge.preview.connect(lambda job, step, image: previews.append(image.size().toTuple()))
    with qtbot.waitSignal(window.bridge.finished, timeout=120_000) as blocker:
        job = editor.inpaint()
        assert job is not None
    _job, result, event = blocker.args
    request = event.request
    assert request.mode == "inpaint" and request.strength == 1.0 and request.mask_feather == 4
    inputs = studio_home / "inputs"
    assert request.init_image.startswith(str(inputs)) and request.mask_image.startswith(str(inputs))
    assert np.array_equal(np.asarray(Image.open(request.mask_image)), np.asarray(mask))
    assert previews and all(size == (80, 56) for size in previews)  # scaled to the source, not 64×64

    out = np.asarray(qimage_to_pil(result))
    source = np.asarray(Image.open(source_path).convert("RGB"))
    soft = np.asarray(imageops.feather_mask(mask, 4))
    assert out.shape == source.shape
    assert np.array_equal(out[soft == 0], source[soft == 0])
    assert (out[soft == 255] != source[soft == 255]).any()
    # The result is now the picture being edited, and the mask is kept for another try.
    qtbot.waitUntil(lambda: editor.source().size().toTuple() == (80, 56))
    assert np.array_equal(np.asarray(qimage_to_pil(editor.source())), out)
    assert np.array_equal(editor.layer.array, np.asarray(mask))
    window.close()


def test_variation_request_uses_the_strength_slider(qtbot, tmp_path):
    window, editor = _editing(qtbot, tmp_path)
    editor.panel.strength_spin.setValue(35)
    # No prompt yet: refused with one line, in the Edit panel and the banner, and nothing queued.
    assert editor.variation() is None
    assert "type a prompt first" in editor.panel.status_label.text()
    assert "type a prompt first" in window.banner.text() and "\n" not in window.banner.text()
    assert not window.bridge.jobs()
    window.prompt_panel.prompt_edit.setPlainText("a grey stone")
    request = editor.variation_request()
    assert request.mode == "img2img" and request.strength == pytest.approx(0.35)
    assert Image.open(request.init_image).size == (96, 64)


def test_qimage_round_trip_is_exact():
    image = _noise_image(33, 17, seed=2)
    back = qimage_to_pil(pil_to_qimage(image))
    assert np.array_equal(np.asarray(back), np.asarray(image))
    assert isinstance(pil_to_qimage(image), QImage)


def test_undo_keys_work_from_the_edit_panel_too(qtbot, tmp_path):
    window, editor = _editing(qtbot, tmp_path)
    editor.panel.fill_button.click()
    assert not editor.layer.is_empty()
    editor.panel.fill_button.setFocus()
    qtbot.keyClick(editor.panel.fill_button, Qt.Key.Key_Z, Qt.KeyboardModifier.ControlModifier)
    assert editor.layer.is_empty()


def test_zoom_and_pan_still_work_while_painting(qtbot, tmp_path):
    window, editor = _editing(qtbot, tmp_path, size=(1200, 900))  # larger than the view: scrollable
    canvas = window.canvas
    assert editor.is_painting()
    zoom = canvas.zoom()
    canvas._zoom_by(2.0)  # what a wheel notch does, anchored at the centre
    assert canvas.zoom() == pytest.approx(zoom * 2)
    bar = canvas.horizontalScrollBar()
    before = bar.value()
    viewport = canvas.viewport()
    qtbot.mousePress(viewport, Qt.MouseButton.MiddleButton, pos=QPoint(200, 200))
    qtbot.mouseMove(viewport, QPoint(120, 200))
    qtbot.mouseRelease(viewport, Qt.MouseButton.MiddleButton, pos=QPoint(120, 200))
    assert bar.value() != before  # panned
    assert editor.layer.is_empty()  # and painted nothing
    # After zooming, a stroke still lands at the image pixel under the pointer.
    editor.brush.set_size(6)
    _stroke(qtbot, canvas, [(600, 450), (601, 450)])
    assert editor.layer.array[450, 600] == 255 and editor.layer.array[450, 560] == 0


def test_inpainting_an_extension_is_filed_as_an_outpaint(qtbot, tmp_path):
    window, editor = _editing(qtbot, tmp_path, size=(64, 48))
    window.prompt_panel.prompt_edit.setPlainText("a wider view")
    _stroke(qtbot, window.canvas, [(10, 10), (20, 20)])
    assert editor.inpaint_request().mode == "inpaint"
    editor.panel.outpaint_spin.setValue(32)
    assert editor.outpaint("right")
    assert editor.inpaint_request().mode == "outpaint"
    editor.undo_stack.undo()  # back to the painted picture: an inpaint again
    assert editor.inpaint_request().mode == "inpaint"
    editor.undo_stack.redo()
    assert editor.inpaint_request().mode == "outpaint"
    assert editor.variation_request().mode == "img2img"
