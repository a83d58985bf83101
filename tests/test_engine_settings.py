"""Image ▸ Engine Settings…: what the dialog shows is what settings.json holds, and OK saves it."""

from __future__ import annotations

import json

import pytest
from PySide6.QtWidgets import QDialog, QWidget

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
