"""The Text diff panel against the fake engine: live slider renders (newest wins), strips, one-line
problems, and its place in the window (Image ▸ Edit by Description…, the gallery's child)."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt, QTimer

from studio.core.request import GenerationRequest
from studio.engine.fake import fake_engine
from studio.gallery.query import Filters
from studio.ui.bridge import EngineBridge
from studio.ui.textdiff_panel import DEBOUNCE_MS, TextDiffPanel

pytestmark = pytest.mark.usefixtures("qapp")

BASE = GenerationRequest("ignored", steps=20, width=64, height=64, scheduler="Euler")


def _picture(path):
    rng = np.random.default_rng(2)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), "RGB").save(path)
    return path


def past_the_debounce(qtbot) -> None:
    barrier = QTimer()
    barrier.setSingleShot(True)
    barrier.setTimerType(Qt.TimerType.PreciseTimer)
    with qtbot.waitSignal(barrier.timeout, timeout=10_000):
        barrier.start(2 * DEBOUNCE_MS)


@pytest.fixture
def panel(qtbot, tmp_path):
    panel = TextDiffPanel(base=lambda: BASE)
    qtbot.addWidget(panel)
    assert panel.set_source(_picture(tmp_path / "pic.png"), "a red circle")
    panel.target_text.setText("a green circle")
    return panel


def test_request_is_the_edit_of_the_source_at_the_slider(panel):
    panel.slider.setValue(150)
    assert panel.spin.value() == pytest.approx(1.5)
    request = panel.build_request()
    assert (request.mode, request.source_prompt, request.target_prompt, request.edit_amount) == (
        "textdiff", "a red circle", "a green circle", 1.5)
    assert request.init_image and request.steps == 20


def test_moving_the_slider_emits_one_debounced_request(qtbot, panel):
    past_the_debounce(qtbot)
    seen = []
    panel.requestChanged.connect(seen.append)
    for value in (20, 40, 60):
        panel.slider.setValue(value)
    past_the_debounce(qtbot)
    assert [r.edit_amount for r in seen] == [0.6]


def test_missing_pieces_are_one_line(qtbot, tmp_path):
    panel = TextDiffPanel(base=lambda: BASE)
    qtbot.addWidget(panel)
    panel.render_button.click()
    assert "choose a picture" in panel.error_text()
    assert not panel.set_source(tmp_path / "none.png")
    assert "none.png" in panel.error_text() and "\n" not in panel.error_text()
    panel.set_source(_picture(tmp_path / "pic.png"))
    panel.render_button.click()
    assert "Shows" in panel.error_text()


def test_live_renders_keep_only_the_newest(qtbot, panel):
    bridge = EngineBridge(lambda: fake_engine(step_delay=0.03))
    try:
        panel.attach(bridge)
        finished, cancelled = [], []
        bridge.finished.connect(lambda job, image, event: finished.append(event.request.edit_amount))
        bridge.cancelled.connect(lambda job, image: cancelled.append(job))
        for value in (20, 40, 60):
            with qtbot.waitSignal(bridge.jobQueued, timeout=2000):
                panel.slider.setValue(value)
            qtbot.wait(60)  # the job is running when the next position arrives
        qtbot.waitUntil(lambda: bool(finished), timeout=5000)
        assert finished == [0.6] and len(cancelled) == 2
    finally:
        assert bridge.shutdown(10)


def test_strip_walks_the_amount_from_zero(qtbot, panel, tmp_path):
    bridge = EngineBridge(lambda: fake_engine(step_delay=0.001))
    try:
        panel.attach(bridge)
        panel.spin.setValue(2.0)
        panel.strip.frames_spin.setValue(3)
        assert len(panel.render_strip()) == 3
        qtbot.waitUntil(lambda: len(panel.strip.frames()) == 3, timeout=5000)
        assert [panel.strip.filmstrip.item(i).text().split(" · ")[-1] for i in range(3)] == [
            "edit 0%", "edit 100%", "edit 200%"]
        assert panel.strip.export_to(tmp_path / "edit.webp") == [tmp_path / "edit.webp"]
    finally:
        assert bridge.shutdown(10)


def test_edit_by_description_in_the_window_lands_as_a_child(qtbot, tmp_path):
    from studio.ui.main_window import MainWindow

    window = MainWindow(engine_factory=lambda: fake_engine(step_delay=0.001))
    qtbot.addWidget(window)
    gallery = window.gallery_panel
    try:
        window.prompt_panel.prompt_edit.setPlainText("a red circle")
        with qtbot.waitSignal(window.bridge.finished, timeout=5000):
            window.generate_action.trigger()
        qtbot.waitUntil(lambda: gallery.model.total() == 1, timeout=5000)
        window.textdiff_action.trigger()  # the canvas's picture, described by the prompt
        panel = window.textdiff_panel
        assert panel.source_text.text() == "a red circle"
        with qtbot.waitSignal(window.bridge.finished, timeout=5000) as done:
            panel.target_text.setText("a green circle")
        assert done.args[2].request.target_prompt == "a green circle"
        # A live frame: kept as a record when the hand rests (LiveSession's automatic keep).
        every = Filters(stacks=False)

        def edits() -> list:
            return [r for r in gallery.gallery.list(filters=every) if r.request.mode == "textdiff"]

        qtbot.waitUntil(lambda: len(edits()) == 1, timeout=10000)
        edit = edits()[0]
        assert edit.parent_id is not None and edit.scratch is None
        # It came through the panel's live session (its strip can be opened), not as an ordinary
        # picture: otherwise every slider move would leave a record.
        assert gallery.gallery.scratch_session_of(edit.id) is not None
    finally:
        window.close()
