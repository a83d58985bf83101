"""The bridge, the canvas and the prompt panel on their own (offscreen Qt, fake engine)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PIL import Image
from PySide6.QtCore import QPoint, QPointF, Qt, QThread
from PySide6.QtGui import QImage
from PySide6.QtWidgets import QApplication

from studio.core.request import SCHEDULERS, GenerationRequest, RequestError
from studio.engine.fake import fake_engine
from studio.ui.bridge import EngineBridge, pil_to_qimage
from studio.ui.canvas import Canvas
from studio.ui.prompt_panel import BUNDLED_MODEL_LABEL, PromptPanel

pytestmark = pytest.mark.usefixtures("qapp")


# ---- bridge ------------------------------------------------------------------------------------
def test_pil_to_qimage_owns_its_pixels():
    pil = Image.new("RGB", (5, 3), (10, 200, 30))
    image = pil_to_qimage(pil)
    pil.paste((0, 0, 0), (0, 0, 5, 3))
    del pil
    assert (image.width(), image.height()) == (5, 3)
    assert image.pixelColor(4, 2).getRgb() == (10, 200, 30, 255)


def test_bridge_delivers_events_on_the_gui_thread_with_scaled_previews(qtbot):
    engines = []
    bridge = EngineBridge(lambda: engines.append(fake_engine(step_delay=0.0)) or engines[-1])
    gui = QApplication.instance().thread()
    threads, previews = [], []
    bridge.preview.connect(
        lambda job, step, img: (
            threads.append(QThread.currentThread() == gui),
            previews.append(img),
        )
    )
    bridge.progress.connect(lambda *a: threads.append(QThread.currentThread() == gui))
    assert not bridge.engine_started
    with qtbot.waitSignal(bridge.finished, timeout=10_000) as finished:
        job = bridge.submit(GenerationRequest("x", steps=3, width=96, height=64))
    assert finished.args[0] == job
    assert isinstance(finished.args[1], QImage) and finished.args[1].size().toTuple() == (96, 64)
    assert threads and all(threads)
    assert [p.size().toTuple() for p in previews] == [(96, 64)] * 3
    assert bridge.shutdown()
    assert not engines[0]._thread.is_alive()


def test_bridge_rejects_a_bad_request_without_starting_the_engine():
    started = []
    bridge = EngineBridge(lambda: started.append(1) or fake_engine())
    with pytest.raises(RequestError, match="multiple of 8"):
        bridge.submit(GenerationRequest("x", width=100))
    assert not started and bridge.shutdown()


# ---- canvas ------------------------------------------------------------------------------------
def _canvas(qtbot, size=(400, 300)) -> Canvas:
    canvas = Canvas()
    qtbot.addWidget(canvas)
    canvas.resize(*size)
    with qtbot.waitActive(canvas):
        canvas.show()
        canvas.activateWindow()
    return canvas


def _image(width: int, height: int, color=Qt.GlobalColor.red) -> QImage:
    image = QImage(width, height, QImage.Format.Format_RGBA8888)
    image.fill(color)
    return image


def test_canvas_fits_large_images_and_zooms_to_actual_size(qtbot):
    canvas = _canvas(qtbot)
    canvas.set_image(_image(1024, 1024))
    assert canvas.current_image().size().toTuple() == (1024, 1024)
    assert canvas.zoom() < 0.35  # fitted into 400x300
    assert canvas.scene().sceneRect().size().toTuple() == (1024.0, 1024.0)
    qtbot.keyClick(canvas, Qt.Key.Key_1, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() == pytest.approx(1.0)
    qtbot.keyClick(canvas, Qt.Key.Key_0, Qt.KeyboardModifier.ControlModifier)
    assert canvas.zoom() < 0.35
    canvas.set_image(_image(1024, 1024, Qt.GlobalColor.blue))  # same size: the view stays put
    assert canvas.zoom() < 0.35


def test_canvas_wheel_zoom_keeps_the_point_under_the_cursor(qtbot):
    canvas = _canvas(qtbot)
    canvas.set_image(_image(512, 512))
    canvas.actual_size()
    cursor = QPoint(120, 90)
    before = canvas.mapToScene(cursor)
    from PySide6.QtGui import QWheelEvent

    event = QWheelEvent(
        QPointF(cursor),
        QPointF(canvas.viewport().mapToGlobal(cursor)),
        QPoint(0, 0),
        QPoint(0, 120),
        Qt.MouseButton.NoButton,
        Qt.KeyboardModifier.NoModifier,
        Qt.ScrollPhase.NoScrollPhase,
        False,
    )
    QApplication.sendEvent(canvas.viewport(), event)
    assert canvas.zoom() == pytest.approx(1.25)
    after = canvas.mapToScene(cursor)
    assert abs(after.x() - before.x()) < 2 and abs(after.y() - before.y()) < 2


class RecordingTool:
    def __init__(self):
        self.events = []

    def mouse_press(self, event, pos):
        self.events.append(("press", pos.x(), pos.y()))
        return True

    def mouse_move(self, event, pos):
        self.events.append(("move", pos.x(), pos.y()))
        return True

    def mouse_release(self, event, pos):
        self.events.append(("release", pos.x(), pos.y()))
        return True


def test_tools_get_scene_coordinates_and_middle_drag_pans(qtbot):
    canvas = _canvas(qtbot)
    canvas.set_image(_image(1024, 1024))
    canvas.actual_size()
    tool = RecordingTool()
    canvas.set_tool(tool)
    point = QPoint(50, 40)
    expected = canvas.mapToScene(point)
    qtbot.mouseClick(canvas.viewport(), Qt.MouseButton.LeftButton, pos=point)
    kinds = [e[0] for e in tool.events]
    assert kinds[0] == "press" and "release" in kinds
    assert tool.events[0][1:] == (expected.x(), expected.y())

    # Panning belongs to the view: the tool sees none of it.
    tool.events.clear()
    scroll = canvas.horizontalScrollBar().value()
    qtbot.mousePress(canvas.viewport(), Qt.MouseButton.MiddleButton, pos=QPoint(200, 150))
    qtbot.mouseMove(canvas.viewport(), QPoint(150, 150))
    qtbot.mouseRelease(canvas.viewport(), Qt.MouseButton.MiddleButton, pos=QPoint(150, 150))
    assert canvas.horizontalScrollBar().value() == scroll + 50
    assert tool.events == []


# ---- prompt panel ------------------------------------------------------------------------------
def _panel(qtbot) -> PromptPanel:
    panel = PromptPanel()
    qtbot.addWidget(panel)
    return panel


def _settled(qtbot, panel: PromptPanel) -> None:
    """Let the panel's engine look-ups (sizes, headers: read off the GUI thread) answer."""
    qtbot.waitUntil(lambda: panel.queries.pending() == 0, timeout=10_000)


def test_apply_then_build_gives_back_the_same_request(qtbot):
    panel = _panel(qtbot)
    request = GenerationRequest(
        "a lighthouse at dusk",
        negative_prompt="fog",
        seed=4_000_000_000,
        steps=12,
        guidance_scale=6.5,
        width=200,
        height=136,
        scheduler="DPM++ 2M Karras",
        model="/models/my-sd15",
    )
    panel.apply_request(request)
    assert panel.build_request() == request
    assert panel.model_combo.currentText() == "my-sd15"
    assert panel.model_combo.itemText(0) == BUNDLED_MODEL_LABEL
    assert [
        panel.scheduler_combo.itemText(i) for i in range(panel.scheduler_combo.count())
    ] == list(SCHEDULERS)


def test_guidance_rescale_is_auto_until_set(qtbot):
    panel = _panel(qtbot)
    panel.prompt_edit.setPlainText("x")
    assert panel.rescale_spin.text() == "Auto"
    assert panel.build_request().guidance_rescale is None  # the model's own
    panel.rescale_spin.setValue(0.35)
    assert panel.build_request().guidance_rescale == 0.35
    panel.rescale_spin.setValue(0.0)
    assert panel.build_request().guidance_rescale == 0.0  # asked for none: not Auto
    panel.apply_request(GenerationRequest("y", guidance_rescale=0.5))
    assert panel.build_request().guidance_rescale == 0.5
    again = _panel(qtbot)
    again.restore_state(panel.state())
    assert again.guidance_rescale() == 0.5
    panel.apply_request(GenerationRequest("y"))
    assert panel.rescale_spin.text() == "Auto"
    again.restore_state({"guidance_rescale": 3})
    assert again.guidance_rescale() is None  # out of range: the default, Auto


def test_random_seed_rolls_and_reuse_last_seed_brings_it_back(qtbot):
    panel = _panel(qtbot)
    panel.prompt_edit.setPlainText("x")
    assert panel.random_seed_check.isChecked()
    seeds = {panel.build_request().seed for _ in range(5)}
    assert len(seeds) > 1
    last = panel.build_request().seed
    panel.build_request()
    panel.random_seed_check.setChecked(True)
    panel.reuse_seed_button.click()
    assert not panel.random_seed_check.isChecked()
    assert panel.build_request().seed != last  # the *latest* seed, not the one before
    assert panel.build_request().seed == panel.last_seed()


def test_inline_errors_are_one_line_and_clear_when_fixed(qtbot):
    panel = _panel(qtbot)
    panel.prompt_edit.setPlainText("x")
    panel.random_seed_check.setChecked(False)
    panel.seed_edit.setText("99999999999999999999")  # past 2**64-1
    with pytest.raises(RequestError):
        panel.build_request()
    assert "seed must be between" in panel.error_text() and "\n" not in panel.error_text()
    panel.seed_edit.setText("7")
    panel.build_request()
    assert panel.error_text() == ""


def test_an_empty_prompt_is_refused_with_one_line_until_typed(qtbot):
    panel = _panel(qtbot)
    assert panel.error_text() == "", "a new, empty panel is not an error"
    panel.prompt_edit.setPlainText("   ")
    with pytest.raises(RequestError, match="type a prompt first"):
        panel.build_request()
    assert "type a prompt first" in panel.error_text() and "\n" not in panel.error_text()
    panel.prompt_edit.setPlainText("a red circle")
    assert panel.error_text() == ""
    assert panel.build_request().prompt == "a red circle"


def test_restore_state_survives_garbage(qtbot):
    panel = _panel(qtbot)
    panel.restore_state(
        {"prompt": "x", "steps": "many", "width": None, "seed": "-3", "scheduler": "Nope", "recent_models": 5}
    )
    request = panel.build_request()
    assert request.steps == 20 and request.width == 512 and request.scheduler == "Euler a"


# ---- app ---------------------------------------------------------------------------------------
def test_python_m_studio_opens_the_window_and_exits_cleanly(tmp_path):
    env = dict(os.environ, STUDIO_EXIT_AFTER_SHOW="1", QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, "-m", "studio"], env=env, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.startswith("shown ")
    assert "loop=Q" in result.stdout, "asyncio's running loop is qasync's Qt loop"
    assert "Traceback" not in result.stderr


def test_native_size_follows_the_model(qtbot, tmp_path):
    import json

    folder = tmp_path / "my-model"
    (folder / "unet").mkdir(parents=True)
    (folder / "vae").mkdir()
    (folder / "model_index.json").write_text("{}")
    (folder / "unet" / "config.json").write_text(json.dumps({"sample_size": 40}))
    (folder / "vae" / "config.json").write_text(json.dumps({"block_out_channels": [8, 8, 8]}))
    panel = _panel(qtbot)
    assert panel.size_combo.currentIndex() == 0  # "Model's own size" is the default
    panel.set_model(str(folder))
    _settled(qtbot, panel)
    assert (panel.width_spin.value(), panel.height_spin.value()) == (160, 160)
    assert not panel.width_spin.isEnabled()
    panel.prompt_edit.setPlainText("x")
    assert panel.build_request().width == 160
    panel.set_model(str(tmp_path / "gone"))  # unreadable: a usable size, the job explains the rest
    _settled(qtbot, panel)
    assert panel.width_spin.value() == 512


def test_open_checkpoint_file_and_model_folder_from_the_picker(qtbot, monkeypatch, tmp_path):
    from test_models import fake_checkpoint, fake_folder, fake_lora

    from studio.ui.prompt_panel import OPEN_FILE_LABEL, OPEN_FOLDER_LABEL

    panel = _panel(qtbot)
    messages = []
    panel.message.connect(messages.append)
    combo = panel.model_combo
    checkpoint = fake_checkpoint(tmp_path / "dreamy-sd15.safetensors")
    picked = {"file": str(checkpoint), "folder": ""}
    monkeypatch.setattr("studio.ui.model_choice.QFileDialog.getOpenFileName",
                        lambda *a, **k: (picked["file"], "Checkpoints (*.safetensors)"))
    monkeypatch.setattr("studio.ui.model_choice.QFileDialog.getExistingDirectory", lambda *a, **k: picked["folder"])

    combo.activated.emit(combo.findText(OPEN_FILE_LABEL))
    _settled(qtbot, panel)
    assert panel.model() == str(checkpoint) and combo.currentText() == "dreamy-sd15.safetensors"
    assert panel.width_spin.value() == 512  # the checkpoint's own size, from its header
    combo.activated.emit(combo.findText(OPEN_FOLDER_LABEL))  # cancelled: the model in use stays
    assert panel.model() == str(checkpoint)

    picked["file"] = str(fake_lora(tmp_path / "ink.safetensors"))  # a LoRA is not a model
    combo.activated.emit(combo.findText(OPEN_FILE_LABEL))
    _settled(qtbot, panel)
    assert panel.model() == str(checkpoint) and "LoRA" in messages[-1]

    picked["folder"] = str(fake_folder(tmp_path / "my-sd15"))
    combo.activated.emit(combo.findText(OPEN_FOLDER_LABEL))
    _settled(qtbot, panel)
    panel.prompt_edit.setPlainText("x")
    assert panel.build_request().model == picked["folder"]
    combo.activated.emit(0)  # back to the bundled model
    assert panel.build_request().model == ""
    assert panel.recent_models() == [picked["folder"], str(checkpoint)]


def test_loras_are_carried_and_malformed_saved_ones_dropped(qtbot):
    panel = _panel(qtbot)
    assert not panel.loras_label.isVisibleTo(panel)
    panel.restore_state({"loras": [["/l/ink.safetensors", 0.5], ["", 1], "junk", ["/l/x.safetensors", "heavy"]],
                         "settings_before_distilled": {"steps": "many", "scheduler": "Nope"}})
    panel.prompt_edit.setPlainText("x")
    assert panel.state()["settings_before_distilled"] is None
    assert panel.build_request().loras == (("/l/ink.safetensors", 0.5),)
    assert panel.loras_label.isVisibleTo(panel) and "ink (0.50)" in panel.loras_label.text()
    assert panel.state()["loras"] == [["/l/ink.safetensors", 0.5]]


def test_the_app_icon_is_a_256_px_picture():
    from studio.ui.app import app_icon

    icon = app_icon()
    assert not icon.isNull()
    assert icon.availableSizes()[0].toTuple() == (256, 256)


def test_a_lora_for_another_model_family_is_flagged_before_generate(qtbot, tmp_path):
    from test_models import fake_checkpoint, fake_folder, fake_lora

    panel = _panel(qtbot)
    panel.prompt_edit.setPlainText("x")
    sd15 = fake_checkpoint(tmp_path / "dreamy-sd15.safetensors")
    xl_lora = fake_lora(tmp_path / "xl-ink.safetensors", width=2048)
    panel.set_model(str(sd15))
    panel.set_loras([(str(xl_lora), 0.8)])
    _settled(qtbot, panel)
    assert "xl-ink.safetensors is for SDXL models and this one is SD 1.x" in panel.error_text()
    with pytest.raises(RequestError, match="untick it"):
        panel.build_request()
    panel.set_model(str(fake_folder(tmp_path / "my-xl", cross=2048)))  # a model it fits: the error goes
    _settled(qtbot, panel)
    assert panel.error_text() == "" and panel.build_request().loras == ((str(xl_lora), 0.8),)
    panel.set_model(str(sd15))
    _settled(qtbot, panel)
    assert panel.error_text()
    panel.set_loras([(str(fake_lora(tmp_path / "sd-ink.safetensors")), 1.0)])  # an SD 1.x LoRA fits
    _settled(qtbot, panel)
    assert panel.error_text() == ""
    panel.set_loras([(str(tmp_path / "missing.safetensors"), 1.0)])  # unreadable: the job will say so
    _settled(qtbot, panel)
    assert panel.error_text() == ""
