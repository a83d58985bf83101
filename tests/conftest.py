"""Shared fixtures: every test gets its own STUDIO_HOME, and Qt runs offscreen."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
# Tests never reach a model hub.
os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(autouse=True)
def studio_home(tmp_path, monkeypatch):
    home = tmp_path / "studio-home"
    home.mkdir()
    monkeypatch.setenv("STUDIO_HOME", str(home))
    return home
