"""The Models panel's Config… field: for single files only, gives a file Studio cannot tell
its config (checked off the GUI thread), says a refusal in one line and changes nothing then."""

from __future__ import annotations

from checkpoint_support import header_checkpoint

from studio.core.settings import EngineSettings
from studio.engine.checkpoint_config import stored_config
from studio.ui.model_library import ModelLibraryPanel

YAML = """model:
  params:
    unet_config:
      params: {in_channels: %d, context_dim: 1024}
    cond_stage_config:
      target: ldm.modules.encoders.modules.FrozenOpenCLIPEmbedder
"""


def settle(qtbot, panel) -> None:
    qtbot.waitUntil(lambda: panel.queries.pending() == 0, timeout=10_000)


def select(panel, name) -> None:
    row = next(r for r in range(panel.models.rowCount()) if panel.models.item(r, 0).text() == name)
    panel.models.setCurrentCell(row, 0)


def test_config_field_makes_an_unknown_file_usable(qtbot, studio_home, tmp_path):
    models = studio_home / "models"
    models.mkdir(exist_ok=True)
    odd = header_checkpoint(models, "odd.safetensors", context=1024)  # CLIP-L text, 1024-wide UNet
    good, bad = tmp_path / "odd.yaml", tmp_path / "pix2pix.yaml"
    good.write_text(YAML % 4)
    bad.write_text(YAML % 8)
    panel = ModelLibraryPanel(EngineSettings())
    qtbot.addWidget(panel)
    panel.show()
    settle(qtbot, panel)

    select(panel, "odd.safetensors")
    assert panel.config_button.isEnabled() and panel.config_label.text() == "Config: none (read from the file)"
    assert "give it its config with Config… in the Models panel" in panel.details_text()
    assert "--config" not in panel.details_text()  # the window's words, not the CLI's

    with qtbot.waitSignal(panel.message) as said:
        panel.set_config(str(bad))
    settle(qtbot, panel)
    assert "8 input channels" in said.args[0] and "\n" not in said.args[0]
    assert "Config not used for odd.safetensors" in panel.details_text() and stored_config(odd) is None

    panel.set_config(str(good))
    settle(qtbot, panel)
    assert stored_config(odd) == good.resolve()
    entry = panel.entry(str(odd))
    assert entry.error == "" and entry.arch == "sd2"
    assert panel.config_label.text() == "Config: odd.yaml"

    panel.set_config(None)
    settle(qtbot, panel)
    assert stored_config(odd) is None and panel.entry(str(odd)).error


def test_config_field_is_for_single_files_only(qtbot, studio_home, tiny_model_dir):
    import shutil

    models = studio_home / "models"
    models.mkdir(exist_ok=True)
    shutil.copytree(tiny_model_dir, models / "tiny")
    header_checkpoint(models, "sd15.safetensors")
    panel = ModelLibraryPanel(EngineSettings())
    qtbot.addWidget(panel)
    panel.show()
    settle(qtbot, panel)
    select(panel, "tiny")
    assert not panel.config_button.isEnabled() and panel.config_label.text() == "Config: for single-file models"
    select(panel, "sd15.safetensors")
    assert panel.config_button.isEnabled()


def test_adding_a_file_that_wants_its_config_keeps_it(qtbot, studio_home, tmp_path):
    odd = header_checkpoint(tmp_path, "odd.safetensors", channels=8, context=0, encoders={})
    panel = ModelLibraryPanel(EngineSettings())
    qtbot.addWidget(panel)
    settle(qtbot, panel)
    with qtbot.waitSignal(panel.message) as said:
        panel.add_paths([str(odd)])
    settle(qtbot, panel)
    assert "found: UNet with 8 input channels, no text encoder" in said.args[0] and "Config…" in said.args[0]
    assert panel.entry(str(odd)) is not None
