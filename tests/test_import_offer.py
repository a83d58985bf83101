"""A dropped image's prompt and settings are applied at once; the model and LoRAs it names are only
offered under the prompt (Use it / Keep current), and a path outside the artist's models is never
chosen (offscreen Qt)."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QMimeData, QPointF, Qt, QUrl
from PySide6.QtGui import QDropEvent
from test_models import fake_checkpoint, fake_lora

from studio.core.import_policy import VettedModels
from studio.core.request import GenerationRequest
from studio.engine.fake import fake_engine
from studio.gallery.export import save_with_parameters
from studio.ui.gallery_import import DroppedParameters
from studio.ui.main_window import MainWindow
from studio.ui.prompt_panel import PromptPanel

pytestmark = pytest.mark.usefixtures("qapp")


@pytest.fixture
def panel(qtbot) -> PromptPanel:
    widget = PromptPanel()
    qtbot.addWidget(widget)
    widget.show()
    return widget


def dropped(request: GenerationRequest, vetted: VettedModels) -> DroppedParameters:
    return DroppedParameters(Path("/pictures/castle.png"), request, vetted)


def test_the_settings_apply_at_once_and_the_model_only_when_the_artist_says_so(panel, qtbot):
    other = "/models/dreamy.safetensors"
    request = GenerationRequest("a castle at dusk", seed=4242, steps=12, model=other)
    with qtbot.waitSignal(panel.message) as said:
        panel.apply_import(dropped(request, VettedModels(model=other)))
    built = panel.build_request()
    assert (built.prompt, built.seed, built.steps) == ("a castle at dusk", 4242, 12)
    assert built.model == ""  # not switched yet
    assert panel.import_offer.isVisibleTo(panel) and "dreamy.safetensors" in panel.import_offer.label.text()
    assert "castle.png" in said.args[0] and "offered under the prompt" in said.args[0]
    with qtbot.waitSignal(panel.message) as said:
        panel.import_offer.use_button.click()
    assert panel.build_request().model == other
    assert not panel.import_offer.isVisibleTo(panel)
    assert "Now using model dreamy.safetensors" in said.args[0]


def test_keep_current_keeps_the_model_and_loras(panel):
    panel.set_loras([("/models/ink.safetensors", 0.5)])
    request = GenerationRequest("x", model="/models/dreamy.safetensors")
    panel.apply_import(dropped(request, VettedModels(model="/models/dreamy.safetensors", loras=())))
    assert "no LoRAs" in panel.import_offer.label.text()
    panel.import_offer.keep_button.click()
    assert not panel.import_offer.isVisibleTo(panel)
    assert panel.build_request().model == "" and panel.loras() == [("/models/ink.safetensors", 0.5)]


def test_nothing_is_offered_when_the_image_asks_for_what_is_chosen(panel):
    panel.apply_import(dropped(GenerationRequest("x"), VettedModels(model="", loras=())))
    assert not panel.import_offer.isVisibleTo(panel)


def test_a_model_not_found_is_said_and_nothing_is_offered(panel, qtbot):
    with qtbot.waitSignal(panel.message) as said:
        panel.apply_import(dropped(GenerationRequest("x"), VettedModels(
            model=None, missing=("model sd_xl_base_1.0 is not found among your models",))))
    assert "sd_xl_base_1.0 is not found among your models" in said.args[0]
    offer = panel.import_offer
    assert offer.isVisibleTo(panel) and "sd_xl_base_1.0 is not found" in offer.label.text()
    assert not offer.use_button.isVisibleTo(panel) and offer.offer() is None
    offer.keep_button.click()  # "OK"
    assert not offer.isVisibleTo(panel) and panel.build_request().model == ""


def test_reusing_a_gallery_entry_takes_its_model_and_clears_an_offer(panel):
    panel.apply_import(dropped(GenerationRequest("x"), VettedModels(model="/models/a.safetensors")))
    assert panel.import_offer.isVisibleTo(panel)
    panel.apply_request(GenerationRequest("y", model="/models/b.safetensors"))  # the artist's own image
    assert panel.model() == "/models/b.safetensors" and not panel.import_offer.isVisibleTo(panel)


# ---- the whole window: drop on the gallery, the offer under the prompt -------------------------

def _drop(paths) -> QDropEvent:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    event = QDropEvent(QPointF(10, 10), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    event.keep_mime = mime  # the event does not own its mime data
    return event


@pytest.fixture
def window(qtbot, studio_home):
    models = studio_home / "models"
    models.mkdir()
    fake_checkpoint(models / "dreamy-sd15.safetensors")
    fake_lora(models / "ink.safetensors")
    win = MainWindow(engine_factory=lambda: fake_engine(step_delay=0.001))
    qtbot.addWidget(win)
    win.show()
    win.models = models
    yield win
    win.close()


def _image(tmp_path, name, request):
    return save_with_parameters(Image.new("RGB", (64, 64)), request, {}, tmp_path / name)


def test_a_dropped_image_from_elsewhere_never_loads_a_model_outside_yours(window, qtbot, tmp_path):
    outside = tmp_path / "downloads"
    outside.mkdir()
    fake_checkpoint(outside / "stranger.safetensors")  # a real, readable checkpoint: still refused
    path = _image(tmp_path, "stranger.png", GenerationRequest(
        "a lighthouse", seed=9, model=str(outside / "stranger.safetensors"),
        loras=((str(outside / "ink2.safetensors"), 0.7),)))
    prompt = window.prompt_panel
    with qtbot.waitSignal(window.gallery_panel.parametersImported, timeout=10_000):
        window.gallery_panel.dropEvent(_drop([path]))
    assert prompt.prompt_edit.toPlainText() == "a lighthouse"
    assert prompt.build_request().model == "" and prompt.loras() == []
    assert not prompt.import_offer.use_button.isVisibleTo(prompt)  # nothing to switch to
    assert "stranger.safetensors is not found" in prompt.import_offer.label.text()
    status = window.statusBar().currentMessage()
    assert "model stranger.safetensors is not found among your models" in status
    assert "LoRA ink2.safetensors is not found among your LoRAs" in status


def test_a_model_and_lora_of_yours_are_offered_and_used_on_request(window, qtbot, tmp_path):
    dreamy, ink = str(window.models / "dreamy-sd15.safetensors"), str(window.models / "ink.safetensors")
    # Made on another machine: same file names, other folders; matched to the artist's own files.
    path = _image(tmp_path, "made-elsewhere.png", GenerationRequest(
        "a harbour", seed=3, model="/home/someone/sd/dreamy-sd15.safetensors",
        loras=(("/home/someone/sd/lora/ink.safetensors", 0.4),)))
    prompt = window.prompt_panel
    with qtbot.waitSignal(window.gallery_panel.parametersImported, timeout=10_000):
        window.gallery_panel.dropEvent(_drop([path]))
    assert prompt.build_request().model == ""  # asked, not switched
    assert prompt.import_offer.isVisibleTo(prompt)
    assert "dreamy-sd15.safetensors" in prompt.import_offer.label.text()
    assert "offered under the prompt" in window.statusBar().currentMessage()
    prompt.import_offer.use_button.click()
    request = prompt.build_request()
    assert (request.prompt, request.model, request.loras) == ("a harbour", dreamy, ((ink, 0.4),))


def test_a_dropped_blend_image_still_fills_the_blend_sliders(window, qtbot, tmp_path):
    path = _image(tmp_path, "blend.png", GenerationRequest(
        "a violet ring", seed=5, blend_prompts=("a grey cloud",), blend_weights=(0.6,)))
    with qtbot.waitSignal(window.gallery_panel.parametersImported, timeout=10_000):
        window.gallery_panel.dropEvent(_drop([path]))
    blend = window.blend_panel
    assert blend.prompt_a.text() == "a violet ring"
    assert blend.prompt_b.text() == "a grey cloud" and blend.mix.value() == 0.6
