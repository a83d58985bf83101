"""Rough edges of the canvas met in one sitting (issue 20): the brush outline follows the pointer
out of the canvas and back; a cancelled or failed job leaves the picture from before it, not its
last noisy step; a long message is readable in full."""

from __future__ import annotations

import time

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt
from PySide6.QtGui import QImage
from test_ui_mask import _editing, open_window

from studio.core.events import Preview, Progress, Started
from studio.engine.fake import FakeBackend, fake_engine
from studio.engine.jobs import JobQueue, UserError
from studio.ui.mask_editor import qimage_to_pil

pytestmark = pytest.mark.usefixtures("qapp")


def pixels(image: QImage) -> np.ndarray:
    return np.asarray(qimage_to_pil(image))


def view_point(canvas, x: float, y: float) -> QPoint:
    return canvas.mapFromScene(QPointF(x, y))


# ---- the brush outline -----------------------------------------------------------------------------
def test_the_brush_outline_leaves_with_the_pointer_and_comes_back_with_it(qtbot, tmp_path):
    window, editor = _editing(qtbot, tmp_path)
    canvas, viewport = window.canvas, window.canvas.viewport()
    editor.brush.set_size(30)
    untouched = viewport.grab().toImage()

    qtbot.mouseMove(viewport, view_point(canvas, 40, 30))
    assert viewport.grab().toImage() != untouched  # the ring is drawn

    qtbot.mouseMove(window.prompt_panel.prompt_edit, QPoint(10, 10))  # off the canvas
    assert viewport.grab().toImage() == untouched  # and nothing of it stays painted

    qtbot.mouseMove(viewport, view_point(canvas, 60, 30))  # back in: the ring is there again
    assert viewport.grab().toImage() != untouched


# ---- cancel and failure --------------------------------------------------------------------------
def start_and_wait_for_a_preview(qtbot, window, steps: int = 200) -> None:
    """Ctrl+Enter a slow job, and return once the canvas shows one of its steps."""
    panel = window.prompt_panel
    panel.prompt_edit.setPlainText("a red circle")
    panel.steps_spin.setValue(steps)
    panel.prompt_edit.setFocus()
    shown = pixels(window.canvas.current_image())
    qtbot.keyClick(panel.prompt_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)

    def step_on_show() -> bool:
        now = pixels(window.canvas.current_image())
        return now.shape != shown.shape or not np.array_equal(now, shown)

    qtbot.waitUntil(step_on_show, timeout=10_000)


def test_cancel_gives_back_the_picture_being_edited_with_its_mask(qtbot, tmp_path):
    window, editor = _editing(qtbot, tmp_path)  # a 96x64 picture; the job paints 128x128
    editor.panel.fill_button.click()
    before = pixels(window.canvas.current_image())
    start_and_wait_for_a_preview(qtbot, window)
    assert window.canvas.current_image().size().toTuple() != (96, 64)  # a step of the job on show
    assert not editor.layer.isVisible()

    with qtbot.waitSignal(window.bridge.cancelled, timeout=10_000):
        qtbot.keyClick(window.prompt_panel.prompt_edit, Qt.Key.Key_Escape)
    assert np.array_equal(pixels(window.canvas.current_image()), before)
    assert editor.layer.isVisible()  # the mask is over its picture again
    assert "Cancelled" in window.step_label.text()


def test_cancel_gives_back_the_last_result_not_the_noise(qtbot):
    window = open_window(qtbot, lambda: fake_engine(step_delay=0.02))
    panel = window.prompt_panel
    panel.prompt_edit.setPlainText("a blue square")
    panel.steps_spin.setValue(3)
    with qtbot.waitSignal(window.bridge.finished, timeout=10_000) as done:
        window.generate()
    result = pixels(done.args[1])
    qtbot.waitUntil(lambda: np.array_equal(pixels(window.canvas.current_image()), result))

    start_and_wait_for_a_preview(qtbot, window)
    assert not np.array_equal(pixels(window.canvas.current_image()), result)
    with qtbot.waitSignal(window.bridge.cancelled, timeout=10_000):
        window.cancel_action.trigger()
    assert np.array_equal(pixels(window.canvas.current_image()), result)
    # The next job previews and finishes as usual over it.
    panel.steps_spin.setValue(3)
    with qtbot.waitSignal(window.bridge.finished, timeout=10_000) as done:
        window.generate()
    qtbot.waitUntil(lambda: np.array_equal(pixels(window.canvas.current_image()), pixels(done.args[1])))


class FailsHalfway(FakeBackend):
    """Paints three steps of noise, then fails (a model file that breaks mid-run)."""

    def run(self, job):  # noqa: ANN001, ANN201
        request = job.request
        job.emit(Started(job.job_id, request, 40))
        for step in (1, 2, 3):
            time.sleep(self.step_delay)
            noise = Image.effect_noise((request.width // 8, request.height // 8), 60).convert("RGB")
            job.emit(Progress(job.job_id, step, 40, 0.1, 1.0))
            job.emit(Preview(job.job_id, step, noise))
        raise UserError("the model file broke at step 3")


def test_a_failure_mid_run_gives_back_the_picture_and_says_why_in_full(qtbot, tmp_path):
    window = open_window(qtbot, lambda: JobQueue(FailsHalfway(step_delay=0.02)))
    editor = window.mask_editor
    path = tmp_path / "source.png"
    QImage(40, 30, QImage.Format.Format_RGB888).save(str(path))
    editor.open_file(path)  # read off the GUI thread
    qtbot.waitUntil(lambda: editor.queries.pending() == 0, timeout=10_000)
    before = pixels(window.canvas.current_image())
    previews = []
    window.bridge.preview.connect(lambda *args: previews.append(args))
    with qtbot.waitSignal(window.bridge.failed, timeout=10_000):
        window.prompt_panel.prompt_edit.setPlainText("a red circle")
        window.generate()
    assert previews  # the canvas did show steps of it
    assert np.array_equal(pixels(window.canvas.current_image()), before)
    assert "the model file broke at step 3" in window.banner.text()


# ---- long messages ---------------------------------------------------------------------------------
LONG = ("/home/artist/Pictures/models/checkpoints/dreamshaper_8_pruned_inpainting_v2.safetensors is not "
        "a model Studio can read: its header says it holds 1,204 tensors but the file ends after 3 of them; "
        "download it again or pick another model")


def test_a_long_error_is_in_the_banner_in_full_and_the_status_bar_ends_it_with_an_ellipsis(qtbot):
    window = open_window(qtbot)
    window.resize(900, 700)
    qtbot.wait(50)
    window.show_message(LONG, error=True)
    assert window.banner.text() == LONG  # all of it, wrapped above the canvas
    assert window.banner.label.wordWrap()
    assert window.banner.width() <= window.width()
    bar = window.statusBar()
    assert bar.currentMessage() == LONG and bar.toolTip() == LONG  # hover to read it all there too
    cut = bar.grab().toImage()
    # What the bar shows is the start of the message and "…" (not letters clipped at the edge):
    # it looks exactly like one of the shortened forms that fit left of the step label.
    room, metrics = window.step_label.x() - 8, bar.fontMetrics()
    fitting = [LONG[:k] + "…" for k in range(len(LONG)) if metrics.horizontalAdvance(LONG[:k] + "…") <= room]
    looks = []
    for short in fitting[-3:]:
        bar.showMessage(short)
        looks.append(bar.grab().toImage() == cut)
    assert any(looks)
    # A short message is drawn by Qt as always, and the tooltip follows the message.
    window.show_message("Saved")
    assert bar.toolTip() == "Saved"
    bar.clearMessage()
    assert bar.toolTip() == ""
