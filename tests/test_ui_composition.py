"""The window as the composition root builds it: the Edit and Blend settings survive a restart,
an older ui.ini still opens, an empty prompt is refused in one line, and a gallery that cannot
open leaves a working window."""

from __future__ import annotations

import json

import pytest
from PySide6.QtCore import QSettings, Qt

from studio.engine.fake import fake_engine
from studio.gallery import GalleryError
from studio.ui.main_window import MainWindow

pytestmark = pytest.mark.usefixtures("qapp")


class Engines:
    def __init__(self) -> None:
        self.built = []

    def __call__(self):
        self.built.append(fake_engine(step_delay=0.001))
        return self.built[-1]


def open_window(qtbot, engines=None) -> MainWindow:
    window = MainWindow(engine_factory=engines or Engines())
    qtbot.addWidget(window)
    with qtbot.waitExposed(window):
        window.show()
    # The model's own size is read off the GUI thread: let it arrive before settings are compared.
    qtbot.waitUntil(lambda: window.prompt_panel.queries.pending() == 0, timeout=10_000)
    return window


def test_edit_and_blend_settings_survive_a_restart(qtbot):
    window = open_window(qtbot)
    prompt, edit, blend = window.prompt_panel, window.mask_editor.panel, window.blend_panel
    prompt.prompt_edit.setPlainText("a quiet lake")
    prompt.random_seed_check.setChecked(False)
    prompt.seed_edit.setText("5")
    edit.strength_spin.setValue(35)
    edit.feather_spin.setValue(3)
    edit.masked_only_check.setChecked(True)
    edit.padding_spin.setValue(16)
    edit.outpaint_spin.setValue(64)
    blend.live_check.setChecked(False)  # nothing renders while the sliders are set
    blend.keep_live_check.setChecked(False)
    assert blend.build_request().seed == 5  # seed A follows the prompt's seed
    blend.prompt_a.setText("my own prompt")
    blend.prompt_b.setText("a blue square")
    blend.mix.set_value(0.3)
    extra = blend.add_prompt()
    extra.edit.setText("a green star")
    extra.weight.set_value(0.2)
    blend.mode_combo.setCurrentText("lerp")
    blend.seed_b.setText("99")
    blend.seed_mix.set_value(0.4)
    before = blend.build_request()
    window.close()

    again = open_window(qtbot)
    edit, blend = again.mask_editor.panel, again.blend_panel
    assert (edit.strength_spin.value(), edit.feather_spin.value(), edit.masked_only_check.isChecked(),
            edit.padding_spin.value(), edit.outpaint_spin.value()) == (35, 3, True, 16, 64)
    assert not blend.live_check.isChecked() and not blend.keep_live_check.isChecked()
    assert blend.prompt_a.text() == "my own prompt" and blend.seed_a.text() == "5"
    assert blend.build_request() == before
    again.prompt_panel.seed_edit.setText("6")  # seed A still follows the prompt's seed
    assert blend.build_request().seed == 6 and blend.prompt_a.text() == "my own prompt"
    again.mask_editor.set_source(_picture())
    request = again.mask_editor.variation_request()
    assert (request.strength, request.mask_feather, request.masked_only, request.masked_padding) == (
        0.35, 3, True, 16)
    again.close()


def _picture():
    from PySide6.QtGui import QImage

    image = QImage(64, 64, QImage.Format.Format_RGB888)
    image.fill(Qt.GlobalColor.darkCyan)
    return image


def test_a_ui_ini_from_before_the_settings_model_still_opens(qtbot, studio_home):
    settings = QSettings(str(studio_home / "ui.ini"), QSettings.Format.IniFormat)
    settings.setValue("panel/prompt", json.dumps({"prompt": "an old lighthouse", "seed": "31", "random_seed": False,
                                                  "steps": 12, "width": 256, "height": 192}))
    settings.setValue("panel/edit", "{not json")
    settings.sync()
    window = open_window(qtbot)
    request = window.prompt_panel.build_request()
    assert (request.prompt, request.seed, request.steps, request.width, request.height) == (
        "an old lighthouse", 31, 12, 256, 192)
    assert window.mask_editor.panel.strength_spin.value() == 75  # unreadable: the default
    window.close()


def test_an_empty_prompt_is_refused_in_one_line_and_starts_nothing(qtbot):
    engines = Engines()
    window = open_window(qtbot, engines)
    panel = window.prompt_panel
    assert panel.error_text() == "" and window.banner.text() == "", "a new window shows no error"
    panel.prompt_edit.setFocus()
    qtbot.keyClick(panel.prompt_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    assert "type a prompt first" in window.banner.text() and "\n" not in window.banner.text()
    assert "type a prompt first" in panel.error_text()
    assert not engines.built and not window.bridge.jobs()
    qtbot.keyClicks(panel.prompt_edit, "a red cube")
    assert panel.error_text() == ""
    with qtbot.waitSignal(window.bridge.finished, timeout=10_000):
        qtbot.keyClick(panel.prompt_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier)
    window.close()


def test_a_gallery_that_cannot_open_leaves_a_working_window(qtbot, monkeypatch):
    def refuse(**_kwargs):
        raise GalleryError("the disk is full")

    monkeypatch.setattr("studio.ui.composition.Gallery.open", refuse)
    window = open_window(qtbot)
    assert window.gallery_panel is None
    assert "The gallery is unavailable: the disk is full" in window.banner.text()
    assert window.blend_panel.keep_live_check.isHidden()  # no gallery to keep live renders in
    assert window.models_dock in window.tabifiedDockWidgets(window.queue_dock)
    window.prompt_panel.prompt_edit.setPlainText("a red cube")
    window.prompt_panel.set_size(64, 64)
    with qtbot.waitSignal(window.bridge.finished, timeout=10_000):
        assert window.generate() is not None
    window.close()


def test_the_seed_an_edit_rolls_shows_in_the_prompt_panel(qtbot):
    window = open_window(qtbot)
    panel = window.prompt_panel
    panel.prompt_edit.setPlainText("a grey stone")
    assert panel.random_seed_check.isChecked() and not panel.reuse_seed_button.isEnabled()
    window.mask_editor.set_source(_picture())
    seeds = {window.mask_editor.variation_request().seed for _ in range(3)}
    assert len(seeds) > 1  # Random: a new seed for each request sent
    request = window.mask_editor.variation_request()
    assert panel.seed_edit.text() == str(request.seed) and panel.last_seed() == request.seed
    assert panel.reuse_seed_button.isEnabled()
    window.close()
