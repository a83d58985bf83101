"""The GUI thread never waits for the engine (issue 21): every look-up the panels make (a model's
size and header, a LoRA check, listing, adding and hashing models, decoding a picture, vetting a
dropped image's models) runs on another thread while the window keeps turning, and its answer is
applied on the GUI thread when it comes; stale answers are dropped (offscreen Qt, fake engine)."""

from __future__ import annotations

import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from PIL import Image
from PySide6.QtCore import QThread, QTimer
from PySide6.QtWidgets import QApplication
from test_models import fake_checkpoint

from studio.core.request import GenerationRequest
from studio.core.session import Session
from studio.core.settings import EngineSettings
from studio.ui.canvas import Canvas
from studio.ui.engine_queries import EngineQueries
from studio.ui.mask_editor import MaskEditor
from studio.ui.model_library import ModelLibraryPanel
from studio.ui.prompt_panel import PromptPanel

pytestmark = pytest.mark.usefixtures("qapp")


class Blocked:
    """Stands in for an engine function: records the thread it runs on and holds until released.
    Called on the GUI thread it would hold the window, time out and fail the test."""

    def __init__(self, answer=None) -> None:  # noqa: ANN001 - a value, or a function of the args
        self.answer = answer
        self.threads: list[threading.Thread] = []
        self.entered = threading.Event()
        self.release = threading.Event()

    def __call__(self, *args, **kwargs):  # noqa: ANN002, ANN003, ANN204
        self.threads.append(threading.current_thread())
        self.entered.set()
        if not self.release.wait(5):
            raise AssertionError("never released: was it called on the GUI thread?")
        return self.answer(*args, **kwargs) if callable(self.answer) else self.answer


def responsive_while(qtbot, blocked: Blocked) -> None:
    """The engine function is running, not on the GUI thread, and the event loop still turns."""
    qtbot.waitUntil(blocked.entered.is_set, timeout=5_000)
    assert threading.main_thread() not in blocked.threads
    ticks = []
    timer = QTimer()
    timer.timeout.connect(lambda: ticks.append(1))
    timer.start(5)
    qtbot.waitUntil(lambda: len(ticks) >= 3, timeout=5_000)
    timer.stop()
    assert not blocked.release.is_set()  # those ticks came while the engine was still busy


def settled(qtbot, queries: EngineQueries) -> None:
    qtbot.waitUntil(lambda: queries.pending() == 0, timeout=10_000)


# ---- the service ---------------------------------------------------------------------------------
def test_answers_arrive_on_the_gui_thread_and_stale_ones_are_dropped(qtbot):
    queries = EngineQueries()
    gui = QApplication.instance().thread()
    answers, threads, errors = [], [], []
    slow = Blocked(lambda x: x * 2)
    queries.ask(slow, 1, topic="size", on_answer=lambda a: (answers.append(a),
                                                             threads.append(QThread.currentThread() == gui)))
    responsive_while(qtbot, slow)
    queries.ask(lambda x: x * 10, 2, topic="size", on_answer=answers.append)  # the artist changed it again
    queries.ask(lambda: 1 / 0, on_answer=answers.append, on_error=errors.append)
    slow.release.set()
    settled(qtbot, queries)
    assert answers == [20]  # the first answer came late: dropped
    assert threads == [] and isinstance(errors[0], ZeroDivisionError)
    queries.ask(lambda: 3, topic="size", on_answer=lambda a: (answers.append(a),
                                                          threads.append(QThread.currentThread() == gui)))
    settled(qtbot, queries)
    assert answers == [20, 3] and threads == [True]


def test_forget_drops_the_answer_still_coming(qtbot):
    queries = EngineQueries()
    slow, answers = Blocked(7), []
    queries.ask(slow, topic="check", on_answer=answers.append)
    responsive_while(qtbot, slow)
    queries.forget("check")
    slow.release.set()
    settled(qtbot, queries)
    assert answers == []


# ---- the prompt panel ----------------------------------------------------------------------------
def _panel(qtbot) -> PromptPanel:
    panel = PromptPanel()
    qtbot.addWidget(panel)
    settled(qtbot, panel.queries)
    panel.prompt_edit.setPlainText("a red circle")
    return panel


def test_the_native_size_is_read_off_the_gui_thread_and_generate_works_meanwhile(qtbot, monkeypatch):
    panel = _panel(qtbot)
    before = panel.width_spin.value()
    blocked = Blocked(lambda model: 96)
    monkeypatch.setattr("studio.engine.backend.native_size", blocked)
    panel.set_model("/models/somewhere")
    responsive_while(qtbot, blocked)
    assert panel.width_spin.value() == before  # the last known size until the answer
    assert panel.build_request().width == before  # Generate still works meanwhile
    blocked.release.set()
    qtbot.waitUntil(lambda: panel.width_spin.value() == 96 == panel.height_spin.value(), timeout=5_000)
    assert panel.build_request().width == 96


def test_a_chosen_model_is_read_off_the_gui_thread_and_applied_when_read(qtbot, monkeypatch, tmp_path):
    from studio.engine import models

    panel = _panel(qtbot)
    turbo = str(fake_checkpoint(tmp_path / "sdxl_turbo.safetensors", "sdxl"))
    blocked = Blocked(models.describe)
    monkeypatch.setattr(models, "describe", blocked)
    panel.choose_model(turbo)
    responsive_while(qtbot, blocked)
    assert panel.build_request().model == ""  # the model in use stays until the new one is read
    blocked.release.set()
    qtbot.waitUntil(lambda: panel.model() == turbo, timeout=5_000)
    assert (panel.steps_spin.value(), panel.scheduler_combo.currentText()) == (4, "Euler a")


def test_a_pick_still_being_read_loses_to_a_later_choice(qtbot, monkeypatch, tmp_path):
    from studio.engine import models

    panel = _panel(qtbot)
    first = str(fake_checkpoint(tmp_path / "first.safetensors"))
    second = str(fake_checkpoint(tmp_path / "second.safetensors"))
    blocked = Blocked(models.describe)
    monkeypatch.setattr(models, "describe", blocked)
    panel.choose_model(first)
    responsive_while(qtbot, blocked)
    monkeypatch.setattr(models, "describe", blocked.answer)  # the second pick is read at once
    panel.choose_model(second)
    blocked.release.set()
    settled(qtbot, panel.queries)
    assert panel.model() == second  # the first answer came late: dropped
    panel.choose_model(first)
    panel.set_model("")  # reusing parameters while a pick is read: the explicit model wins
    settled(qtbot, panel.queries)
    assert panel.model() == ""


def test_the_lora_check_runs_off_the_gui_thread(qtbot, monkeypatch):
    panel = _panel(qtbot)
    problem = "LoRA ink.safetensors is for SDXL models and this one is SD 1.x: untick it or pick another model"
    blocked = Blocked(problem)
    monkeypatch.setattr("studio.engine.models.lora_mismatch", blocked)
    panel.set_loras([("/models/ink.safetensors", 0.5)])
    responsive_while(qtbot, blocked)
    assert panel.error_text() == ""
    blocked.release.set()
    qtbot.waitUntil(lambda: panel.error_text() == problem, timeout=5_000)


# ---- the model library ---------------------------------------------------------------------------
def test_the_library_is_listed_off_the_gui_thread(qtbot, monkeypatch, studio_home):
    from studio.ui import model_library

    (studio_home / "models").mkdir()
    fake_checkpoint(studio_home / "models" / "dreamy.safetensors")
    blocked = Blocked(model_library.list_models)
    monkeypatch.setattr(model_library, "list_models", blocked)
    panel = ModelLibraryPanel(EngineSettings())
    qtbot.addWidget(panel)
    responsive_while(qtbot, blocked)
    assert not panel.loaded and panel.models.rowCount() == 0
    blocked.release.set()
    qtbot.waitUntil(lambda: panel.loaded, timeout=5_000)
    assert "dreamy.safetensors" in [panel.models.item(r, 0).text() for r in range(panel.models.rowCount())]


def test_adding_a_model_runs_off_the_gui_thread(qtbot, monkeypatch, studio_home, tmp_path):
    from studio.ui import model_library

    panel = ModelLibraryPanel(EngineSettings())
    qtbot.addWidget(panel)
    settled(qtbot, panel.queries)
    blocked = Blocked(model_library.add_model)
    monkeypatch.setattr(model_library, "add_model", blocked)
    messages = []
    panel.message.connect(messages.append)
    panel.add_paths([str(fake_checkpoint(tmp_path / "new-one.safetensors"))])
    responsive_while(qtbot, blocked)
    assert messages == []
    blocked.release.set()
    qtbot.waitUntil(lambda: panel.entry(str(tmp_path / "new-one.safetensors")) is not None, timeout=5_000)
    assert messages == ["added new-one.safetensors (Stable Diffusion 1.x)"]


def test_the_hash_cache_is_read_off_the_gui_thread_too(qtbot, monkeypatch, studio_home):
    from studio.ui import model_library

    (studio_home / "models").mkdir()
    fake_checkpoint(studio_home / "models" / "dreamy.safetensors")
    panel = ModelLibraryPanel(EngineSettings())
    qtbot.addWidget(panel)
    settled(qtbot, panel.queries)
    blocked = Blocked("ab" * 32)
    monkeypatch.setattr(model_library, "cached_sha256", blocked)
    names = [panel.models.item(r, 0).text() for r in range(panel.models.rowCount())]
    panel.models.setCurrentCell(names.index("dreamy.safetensors"), 0)
    responsive_while(qtbot, blocked)
    assert "Short hash: working it out…" in panel.details_text()
    blocked.release.set()
    qtbot.waitUntil(lambda: "Short hash: abababab" in panel.details_text(), timeout=5_000)


# ---- the Edit panel ------------------------------------------------------------------------------
def test_a_picture_is_decoded_off_the_gui_thread_and_shown_when_it_arrives(qtbot, monkeypatch, tmp_path):
    from studio.engine import imageops

    canvas = Canvas()
    qtbot.addWidget(canvas)
    said = []
    editor = MaskEditor(canvas, Session(), submit=lambda request: None, message=lambda text, error: said.append(text))
    path = tmp_path / "photo.png"
    Image.new("RGB", (48, 32), "purple").save(path)
    blocked = Blocked(imageops.load_image)
    monkeypatch.setattr(imageops, "load_image", blocked)
    got = []
    editor.open_file(path, on_opened=got.append)
    responsive_while(qtbot, blocked)
    assert editor.source().isNull() and not editor.panel.inpaint_button.isEnabled()
    blocked.release.set()
    qtbot.waitUntil(lambda: editor.source().size().toTuple() == (48, 32), timeout=5_000)
    assert canvas.current_image().size().toTuple() == (48, 32)
    assert got and got[0].size().toTuple() == (48, 32) and said == ["Editing photo.png (48×32)"]


# ---- a dropped image's models --------------------------------------------------------------------
def test_a_dropped_images_models_are_vetted_off_the_gui_thread(qtbot, monkeypatch, tmp_path):
    from studio.engine import models
    from studio.engine.fake import fake_engine
    from studio.gallery.export import save_with_parameters
    from studio.ui.main_window import MainWindow

    window = MainWindow(engine_factory=lambda: fake_engine(step_delay=0.001))
    qtbot.addWidget(window)
    exported = save_with_parameters(Image.new("RGB", (64, 64), "red"),
                                    GenerationRequest("a castle", seed=3, model="/models/dreamy.safetensors"),
                                    {}, tmp_path / "castle.png")
    blocked = Blocked(models.list_models)
    monkeypatch.setattr(models, "list_models", blocked)
    with qtbot.waitSignal(window.gallery_panel.parametersImported, timeout=10_000) as imported:
        window.gallery_panel.import_files([exported])
        responsive_while(qtbot, blocked)
        blocked.release.set()
    assert imported.args[0].request.prompt == "a castle"
    window.gallery_panel.stop_imports()


# ---- the window's process stays light ------------------------------------------------------------
def test_the_window_never_imports_torch_even_after_a_generation(tmp_path):
    """A clean interpreter: build the window on the fake engine, generate once, list the modules."""
    code = textwrap.dedent("""
        import os, sys
        os.environ["QT_QPA_PLATFORM"] = "offscreen"
        from PySide6.QtWidgets import QApplication
        from studio.engine.fake import fake_engine
        from studio.ui.main_window import MainWindow
        app = QApplication([])
        window = MainWindow(engine_factory=lambda: fake_engine(step_delay=0.0))
        window.show()
        done = []
        window.bridge.finished.connect(lambda *args: done.append(1))
        window.prompt_panel.prompt_edit.setPlainText("a red circle")
        window.prompt_panel.steps_spin.setValue(2)
        window.model_library.refresh()
        window.generate()
        deadline = __import__("time").monotonic() + 30
        while not done and __import__("time").monotonic() < deadline:
            app.processEvents()
        while window.prompt_panel.queries.pending() and __import__("time").monotonic() < deadline:
            app.processEvents()
        print("generated" if done else "no result")
        print(" ".join(m for m in ("torch", "diffusers", "transformers") if m in sys.modules) or "light")
        window.close()
    """)
    env = {**__import__("os").environ, "STUDIO_HOME": str(tmp_path / "home")}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                            env=env, cwd=Path(__file__).resolve().parents[1])
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[:2] == ["generated", "light"], result.stdout + result.stderr
