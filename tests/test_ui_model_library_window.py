"""The model library in the window: chosen models and ticked LoRAs reach the request, few-step
models bring their settings, the LoRA ticks survive a restart, and the panel fits its dock."""

from __future__ import annotations

import dataclasses

import pytest
from PySide6.QtCore import QPoint, QRect, Qt
from PySide6.QtWidgets import QPushButton
from test_models import fake_checkpoint, fake_folder, fake_lora

from studio.core.paths import bundled_model_path
from studio.engine.fake import fake_engine
from studio.ui.main_window import MainWindow

pytestmark = pytest.mark.usefixtures("qapp")


@pytest.fixture
def models(studio_home):
    folder = studio_home / "models"
    folder.mkdir()
    fake_checkpoint(folder / "dreamy-sd15.safetensors")
    fake_checkpoint(folder / "sdxl_turbo.safetensors", "sdxl")
    fake_lora(folder / "ink.safetensors")
    fake_lora(folder / "pixel.safetensors")
    return folder


def open_window(qtbot) -> MainWindow:
    window = MainWindow(engine_factory=lambda: fake_engine(step_delay=0.001))
    qtbot.addWidget(window)
    with qtbot.waitExposed(window):
        window.show()
    settle(qtbot, window)
    window.prompt_panel.prompt_edit.setPlainText("a red circle")
    return window


def show_library(qtbot, window: MainWindow):
    window.models_dock.raise_()
    qtbot.waitUntil(lambda: window.model_library.loaded, timeout=10_000)  # listed when first shown, not at start-up
    settle(qtbot, window)
    return window.model_library


def settle(qtbot, window: MainWindow) -> None:
    """Let the engine look-ups (listing, model headers: answered off the GUI thread) come back."""
    qtbot.waitUntil(lambda: window.prompt_panel.queries.pending() == 0, timeout=10_000)


def choose(qtbot, library, name: str) -> None:
    library.choose_row(row_of(library, name))
    qtbot.waitUntil(lambda: library.queries.pending() == 0, timeout=10_000)


def row_of(library, name: str) -> int:
    rows = [r for r in range(library.models.rowCount()) if library.models.item(r, 0).text() == name]
    assert rows, f"{name} is not listed"
    return rows[0]


def lora_row(library, name: str) -> int:
    return next(r for r in range(library.loras.rowCount()) if library.loras.item(r, 0).text().startswith(name))


def test_the_library_is_a_tab_beside_the_gallery_and_lists_on_first_show(qtbot, models):
    window = open_window(qtbot)
    assert window.dockWidgetArea(window.models_dock) == Qt.DockWidgetArea.RightDockWidgetArea
    assert window.models_dock in window.tabifiedDockWidgets(window.gallery_panel.parent())
    assert not window.model_library.loaded  # the Gallery is in front at first run
    assert window.models_dock.toggleViewAction() in window.view_menu.actions()
    library = show_library(qtbot, window)
    bundled = (bundled_model_path() / "model_index.json").is_file()
    assert library.models.rowCount() == 2 + bundled and library.loras.rowCount() == 2


def test_a_model_chosen_in_the_library_reaches_the_request(qtbot, models):
    window = open_window(qtbot)
    library = show_library(qtbot, window)
    choose(qtbot, library, "dreamy-sd15.safetensors")
    assert window.prompt_panel.build_request().model == str(models / "dreamy-sd15.safetensors")
    assert window.prompt_panel.model_combo.currentText() == "dreamy-sd15.safetensors"
    assert "dreamy-sd15" in window.statusBar().currentMessage()


def test_ticked_loras_reach_the_request_and_survive_a_restart(qtbot, models):
    window = open_window(qtbot)
    library = show_library(qtbot, window)
    choose(qtbot, library, "dreamy-sd15.safetensors")  # the LoRAs are SD 1.x ones
    ink, pixel = str(models / "ink.safetensors"), str(models / "pixel.safetensors")
    library.loras.item(lora_row(library, "ink"), 0).setCheckState(Qt.CheckState.Checked)
    library.loras.cellWidget(lora_row(library, "ink"), 1).setValue(0.6)
    library.loras.item(lora_row(library, "pixel"), 0).setCheckState(Qt.CheckState.Checked)
    settle(qtbot, window)
    assert window.prompt_panel.build_request().loras == ((ink, 0.6), (pixel, 1.0))
    assert "ink (0.60)" in window.prompt_panel.loras_label.text()
    library.loras.item(lora_row(library, "pixel"), 0).setCheckState(Qt.CheckState.Unchecked)
    settle(qtbot, window)
    assert window.prompt_panel.build_request().loras == ((ink, 0.6),)
    window.close()

    again = open_window(qtbot)
    settle(qtbot, again)
    assert again.prompt_panel.build_request().loras == ((ink, 0.6),)
    library = show_library(qtbot, again)  # listed after the restore: the ticks still show
    assert library.checked_loras() == [(ink, 0.6)]


def test_reused_parameters_tick_the_loras_they_name(qtbot, models):
    window = open_window(qtbot)
    library = show_library(qtbot, window)
    choose(qtbot, library, "dreamy-sd15.safetensors")
    ink = str(models / "ink.safetensors")
    request = window.prompt_panel.build_request()
    window.prompt_panel.apply_request(dataclasses.replace(request, loras=((ink, 0.3),)))
    settle(qtbot, window)
    assert library.checked_loras() == [(ink, 0.3)]
    assert window.prompt_panel.build_request().loras == ((ink, 0.3),)


def test_a_turbo_model_brings_its_settings_and_an_ordinary_one_gives_yours_back(qtbot, models):
    window = open_window(qtbot)
    panel = window.prompt_panel
    panel.steps_spin.setValue(30)
    panel.guidance_spin.setValue(6.5)
    panel.scheduler_combo.setCurrentText("DDIM")
    library = show_library(qtbot, window)
    choose(qtbot, library, "sdxl_turbo.safetensors")
    request = panel.build_request()
    assert (request.steps, request.guidance_scale, request.scheduler) == (4, 0.0, "Euler a")
    assert request.width == 512  # Stability's own Turbo is trained at 512 px
    assert "Turbo" in window.statusBar().currentMessage()
    window.close()  # the artist's own settings are remembered across a restart

    window = open_window(qtbot)
    panel = window.prompt_panel
    assert panel.steps_spin.value() == 4
    library = show_library(qtbot, window)
    choose(qtbot, library, "dreamy-sd15.safetensors")
    request = panel.build_request()
    assert (request.steps, request.guidance_scale, request.scheduler) == (30, 6.5, "DDIM")
    assert "are back" in window.statusBar().currentMessage()


def test_an_lcm_folder_opened_from_the_picker_gets_lcm_settings(qtbot, monkeypatch, tmp_path):
    window = open_window(qtbot)
    folder = fake_folder(tmp_path / "fast-model", scheduler="LCMScheduler")
    monkeypatch.setattr("studio.ui.model_choice.QFileDialog.getExistingDirectory", lambda *a, **k: str(folder))
    combo = window.prompt_panel.model_combo
    combo.activated.emit(combo.findText("Open model folder…"))
    settle(qtbot, window)
    request = window.prompt_panel.build_request()
    assert request.model == str(folder)
    assert (request.steps, request.guidance_scale, request.scheduler) == (4, 1.0, "LCM")


def test_the_library_buttons_fit_the_dock(qtbot, models):
    window = open_window(qtbot)
    library = show_library(qtbot, window)
    qtbot.waitUntil(lambda: library.isVisible())
    for button in library.findChildren(QPushButton):
        rect = QRect(button.mapTo(library, QPoint(0, 0)), button.size())
        assert library.rect().contains(rect), f"{button.text()} is clipped"
        assert button.width() >= button.minimumSizeHint().width(), f"{button.text()} is squeezed"


@pytest.mark.skipif(not (bundled_model_path() / "model_index.json").is_file(), reason="no bundled model")
def test_the_bundled_model_brings_its_own_guidance_and_leaving_it_gives_yours_back(qtbot, models):
    from studio.core.request import BUNDLED_GUIDANCE

    window = open_window(qtbot)  # first run, on the bundled model
    panel = window.prompt_panel
    assert panel.build_request().guidance_scale == BUNDLED_GUIDANCE == 4.0
    library = show_library(qtbot, window)
    choose(qtbot, library, "dreamy-sd15.safetensors")
    assert panel.build_request().guidance_scale == 5.0  # the app's default for any other model
    panel.guidance_spin.setValue(7.5)
    panel.choose_model("")
    assert panel.build_request().guidance_scale == 4.0 and "follows prompts best" in window.statusBar().currentMessage()
    window.close()  # remembered across a restart

    window = open_window(qtbot)
    panel = window.prompt_panel
    assert panel.guidance_spin.value() == 4.0
    library = show_library(qtbot, window)
    choose(qtbot, library, "dreamy-sd15.safetensors")
    assert panel.guidance_spin.value() == 7.5
    panel.choose_model("")
    panel.guidance_spin.setValue(3.0)  # changed on the bundled model: the artist's own now
    choose(qtbot, library, "dreamy-sd15.safetensors")
    assert panel.guidance_spin.value() == 3.0
