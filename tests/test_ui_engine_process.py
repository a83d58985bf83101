"""The window on its default executor, the engine in a worker process: a killed worker costs a
restart, never the window, the job or the queue (offscreen Qt; fake backend in the worker for speed,
except the last test, which runs the real window on the bundled model in a clean interpreter)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import textwrap

import pytest
from test_ui_resume import queue

from studio.engine.process import LocalProcess
from studio.ui.main_window import MainWindow

pytestmark = [pytest.mark.usefixtures("qapp"),
              pytest.mark.skipif(sys.platform == "win32", reason="POSIX signals")]


def _window(qtbot, step_delay: float) -> MainWindow:
    engines: list[LocalProcess] = []

    def factory() -> LocalProcess:
        engines.append(LocalProcess("studio.engine.fake:FakeBackend", {"step_delay": step_delay}))
        return engines[0]

    window = MainWindow(engine_factory=factory)
    window.engines = engines  # for the test: the executor the window made
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(window.isVisible, timeout=5000)
    return window


def test_sigkill_of_the_worker_mid_generation_keeps_window_job_andqueue(qtbot):
    window = _window(qtbot, step_delay=0.15)
    recorded: list[str] = []
    window.gallery_panel.recorded.connect(lambda record: recorded.append(record.prompt))
    notices: list[str] = []
    window.bridge.notice.connect(lambda _job, text: notices.append(text))
    previews: list[int] = []
    window.bridge.preview.connect(lambda job, step, _image: previews.append(job))

    first = queue(window, "a red cube", steps=20)
    queue(window, "a blue sphere", steps=3)
    qtbot.waitUntil(lambda: first in previews, timeout=30_000)  # sampling, mid-generation
    engine = window.engines[0]
    victim = engine.worker_pid
    os.kill(victim, signal.SIGKILL)

    qtbot.waitUntil(lambda: bool(notices), timeout=10_000)
    assert "stopped" in notices[0] and "restarting" in notices[0]
    assert "stopped" in window.banner.text() and "queue" in window.banner.text()  # said, in one line
    assert "\n" not in window.banner.text()
    qtbot.waitUntil(lambda: len(recorded) == 2, timeout=60_000)
    assert recorded == ["a red cube", "a blue sphere"]  # the interrupted job ran again, first
    assert engine.worker_pid not in (None, victim)

    queue(window, "a green cone", steps=2)  # and the next Ctrl+Enter works as ever
    qtbot.waitUntil(lambda: len(recorded) == 3, timeout=30_000)
    assert window.isVisible()
    window.close()


def test_engine_settings_replace_the_worker_before_the_next_job(qtbot):
    from studio.core.settings import EngineSettings

    window = _window(qtbot, step_delay=0.01)
    recorded: list[str] = []
    window.gallery_panel.recorded.connect(lambda record: recorded.append(record.prompt))
    queue(window, "one", steps=2)
    qtbot.waitUntil(lambda: len(recorded) == 1, timeout=30_000)
    before = window.engines[0].worker_pid
    window.bridge.apply_settings(EngineSettings(threads=1))
    queue(window, "two", steps=2)
    qtbot.waitUntil(lambda: len(recorded) == 2, timeout=30_000)
    assert window.engines[0].worker_pid not in (None, before)
    window.close()


def test_choosing_where_grids_run_keeps_the_worker_and_its_model(qtbot):
    import dataclasses

    from studio.core.settings import EngineSettings

    window = _window(qtbot, step_delay=0.01)
    recorded: list[str] = []
    window.gallery_panel.recorded.connect(lambda record: recorded.append(record.prompt))
    settings = EngineSettings(threads=1)
    window.bridge.ensure_engine()
    window.bridge.apply_settings(settings)
    queue(window, "one", steps=2)
    qtbot.waitUntil(lambda: len(recorded) == 1, timeout=30_000)
    before = window.engines[0].worker_pid
    window.bridge.apply_settings(dataclasses.replace(settings, grids_on="ray", ray_address="local"))
    queue(window, "two", steps=2)
    qtbot.waitUntil(lambda: len(recorded) == 2, timeout=30_000)
    assert window.engines[0].worker_pid == before  # a model reload costs seconds; nothing changed for it
    window.close()


REAL_WINDOW = textwrap.dedent("""
    import json, os, sys
    from PySide6.QtCore import QEventLoop, QTimer
    from PySide6.QtWidgets import QApplication
    from studio.ui.main_window import MainWindow

    app = QApplication([])
    window = MainWindow()
    window.show()
    loop = QEventLoop()
    done = []
    window.gallery_panel.recorded.connect(lambda record: (done.append(str(record.path)), loop.quit()))
    window.bridge.failed.connect(lambda _j, message, _d: (done.append("failed: " + message), loop.quit()))
    panel = window.prompt_panel
    panel.prompt_edit.setPlainText("a red circle on a blue square")
    panel.steps_spin.setValue(3)
    QTimer.singleShot(0, window.generate)
    QTimer.singleShot(240_000, loop.quit)
    loop.exec()
    worker = window.bridge.ensure_engine().worker_pid
    worker_maps = open(f"/proc/{worker}/maps").read() if worker else ""
    heavy = sorted(m for m in ("torch", "diffusers", "transformers") if m in sys.modules)
    print(json.dumps({"done": done, "heavy": heavy,
                      "gui_maps_torch": "libtorch" in open("/proc/self/maps").read(),
                      "worker_maps_torch": "libtorch" in worker_maps}))
    window.close()
""")


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="reads /proc/<pid>/maps")
def test_the_real_window_generates_without_torch_in_its_process(tmp_path):
    env = dict(os.environ, QT_QPA_PLATFORM="offscreen", STUDIO_HOME=str(tmp_path), HF_HUB_OFFLINE="1",
               OMP_NUM_THREADS="1")
    out = subprocess.run([sys.executable, "-c", REAL_WINDOW], env=env, capture_output=True, text=True,
                         timeout=300, cwd=tmp_path)
    assert out.returncode == 0, out.stderr[-2000:]
    result = json.loads(out.stdout.strip().splitlines()[-1])
    assert len(result["done"]) == 1 and not result["done"][0].startswith("failed"), result
    assert os.path.isfile(result["done"][0])
    assert result["heavy"] == []
    assert result["gui_maps_torch"] is False
    assert result["worker_maps_torch"] is True
