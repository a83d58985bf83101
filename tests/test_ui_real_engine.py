"""The window on the real diffusers engine with the tiny model: the whole chain, end to end."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from studio.core.request import GenerationRequest
from studio.engine.backend import create_engine
from studio.ui.main_window import MainWindow

pytestmark = pytest.mark.usefixtures("qapp")


def test_window_generates_with_the_diffusers_engine(qtbot, tiny_model_dir):
    built = []
    window = MainWindow(engine_factory=lambda: built.append(create_engine()) or built[-1])
    qtbot.addWidget(window)
    window.show()
    previews = []
    window.bridge.preview.connect(lambda job, step, image: previews.append(image.size().toTuple()))
    request = GenerationRequest(
        "a red circle", seed=3, steps=3, width=64, height=64, model=str(tiny_model_dir)
    )
    window.prompt_panel.apply_request(request)
    with qtbot.waitSignal(window.bridge.finished, timeout=180_000) as finished:
        assert window.generate() is not None
    assert finished.args[2].request == request
    assert previews == [(64, 64)] * 3
    assert window.canvas.current_image().size().toTuple() == (64, 64)
    window.close()
    assert not built[0]._thread.is_alive()


def test_opening_the_window_does_not_import_torch():
    # In a fresh process: other tests in this session have imported torch already.
    code = (
        "import sys\nfrom PySide6.QtWidgets import QApplication\napp = QApplication([])\n"
        "from studio.ui.main_window import MainWindow\nw = MainWindow()\nw.show()\n"
        "app.processEvents()\nassert not w.bridge.engine_started\n"
        "print(sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules))\nw.close()\n"
    )
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen")
    result = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
