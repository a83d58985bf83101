"""Image ▸ Engine Settings…: what the dialog shows is what settings.json holds, and OK saves it."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QDialog, QLabel, QWidget

from studio.core.settings import EngineSettings, load_settings, save_settings, settings_path
from studio.ui import engine_settings
from studio.ui.engine_settings import EngineSettingsDialog, edit_engine_settings


def test_dialog_shows_the_saved_settings(qtbot):
    dialog = EngineSettingsDialog(EngineSettings(threads=3, device="cpu", vae_tiling=True, preview_every=2))
    qtbot.addWidget(dialog)
    assert dialog.threads_spin.value() == 3
    assert dialog.device_combo.currentData() == "cpu"
    assert dialog.tiling_check.isChecked() and not dialog.slicing_check.isChecked()
    assert dialog.preview_spin.value() == 2
    assert dialog.chosen() == EngineSettings(threads=3, device="cpu", vae_tiling=True, preview_every=2)


def test_the_label_says_how_many_threads_the_next_picture_gets(qtbot, monkeypatch):
    monkeypatch.delenv("STUDIO_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    dialog = EngineSettingsDialog(EngineSettings())
    qtbot.addWidget(dialog)
    dialog.threads_spin.setValue(5)
    assert "uses 5 CPU threads" in dialog.effective.text()
    monkeypatch.setenv("STUDIO_THREADS", "1")  # the environment overrides the setting: say so
    dialog.threads_spin.setValue(4)
    assert "uses 1 CPU thread." in dialog.effective.text()


def _answer(monkeypatch, result, change=None):
    def fake_exec(self):
        if change:
            change(self)
        return result

    monkeypatch.setattr(EngineSettingsDialog, "exec", fake_exec)


def test_ok_saves_and_applies(qtbot, monkeypatch):
    parent = QWidget()
    qtbot.addWidget(parent)
    _answer(monkeypatch, QDialog.DialogCode.Accepted, lambda d: d.threads_spin.setValue(1))
    applied: list[EngineSettings] = []
    assert edit_engine_settings(parent, applied.append, pytest.fail)
    assert json.loads(settings_path().read_text())["threads"] == 1
    assert load_settings().threads == 1 and applied == [load_settings()]


def test_cancel_changes_nothing(qtbot, monkeypatch):
    save_settings(EngineSettings(threads=2))
    parent = QWidget()
    qtbot.addWidget(parent)
    _answer(monkeypatch, QDialog.DialogCode.Rejected, lambda d: d.threads_spin.setValue(7))
    applied: list[EngineSettings] = []
    assert not edit_engine_settings(parent, applied.append, pytest.fail)
    assert load_settings().threads == 2 and applied == []


def test_an_unwritable_settings_file_is_one_line(qtbot, monkeypatch):
    parent = QWidget()
    qtbot.addWidget(parent)
    _answer(monkeypatch, QDialog.DialogCode.Accepted, lambda d: d.offload_check.setChecked(True))

    def refuse(_settings):
        raise PermissionError(13, "Permission denied", str(settings_path()))

    monkeypatch.setattr(engine_settings, "save_settings", refuse)
    errors: list[str] = []
    applied: list[EngineSettings] = []
    assert not edit_engine_settings(parent, applied.append, errors.append)
    assert applied == [] and len(errors) == 1 and "\n" not in errors[0] and "Permission denied" in errors[0]


def test_grids_run_here_unless_ray_is_chosen_or_named_in_the_environment(qtbot, monkeypatch):
    monkeypatch.delenv("STUDIO_RAY_ADDRESS", raising=False)
    dialog = EngineSettingsDialog(EngineSettings())
    qtbot.addWidget(dialog)
    assert dialog.local_radio.isChecked() and not dialog.ray_address.isEnabled()
    assert dialog.chosen().grids_use_ray() is False
    assert dialog.ray_address.placeholderText() == "local"  # Ray started on this computer
    monkeypatch.setenv("STUDIO_RAY_ADDRESS", "10.0.0.5:6379")
    dialog = EngineSettingsDialog(EngineSettings())
    qtbot.addWidget(dialog)
    assert dialog.ray_radio.isChecked() and dialog.ray_address.isEnabled()
    assert dialog.ray_address.placeholderText() == "10.0.0.5:6379"
    assert dialog.chosen() == EngineSettings()  # untouched: the environment keeps deciding
    dialog.local_radio.setChecked(True)
    assert dialog.chosen().grids_on == "local" and not dialog.chosen().grids_use_ray()


def test_ray_address_and_actors_are_saved_and_a_bad_address_is_refused(qtbot, monkeypatch):
    monkeypatch.delenv("STUDIO_RAY_ADDRESS", raising=False)
    parent = QWidget()
    qtbot.addWidget(parent)

    def choose(dialog, address):
        dialog.ray_radio.setChecked(True)
        dialog.ray_address.setText(address)
        dialog.ray_actors.setValue(3)
        dialog._accept_if_valid()
        return dialog.result()

    dialog = EngineSettingsDialog(EngineSettings())
    qtbot.addWidget(dialog)
    assert choose(dialog, "my head node") != QDialog.DialogCode.Accepted
    assert "'my head node' is not a Ray address" in dialog.problem.message()
    _answer(monkeypatch, QDialog.DialogCode.Accepted, lambda d: choose(d, "ray://head:10001"))
    assert edit_engine_settings(parent, lambda _s: None, pytest.fail)
    saved = load_settings()
    assert saved.grids_use_ray() and saved.resolved_ray_address() == "ray://head:10001"
    assert saved.ray_actors == 3
    assert "Single pictures always run on this computer" in " ".join(
        label.text() for label in dialog.findChildren(QLabel))


def test_a_hand_edited_ray_setting_falls_back_to_defaults(studio_home):
    settings_path().write_text(json.dumps({"grids_on": "moon", "ray_address": "not an address",
                                           "ray_actors": -2, "threads": 2}))
    loaded = load_settings()
    assert (loaded.grids_on, loaded.ray_address, loaded.ray_actors, loaded.threads) == ("auto", "", 0, 2)
