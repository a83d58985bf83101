"""The Blend panel and its live renderer, against the fake engine."""

from __future__ import annotations

import time

import pytest
from PIL import Image
from PySide6.QtCore import Qt, QTimer

from studio.core.events import Cancelled, Finished
from studio.core.request import GenerationRequest, RequestError
from studio.engine.fake import FakeBackend, fake_engine
from studio.engine.jobs import JobQueue
from studio.ui.blend_panel import DEBOUNCE_MS, BlendPanel, LiveRenderer
from studio.ui.bridge import EngineBridge
from studio.ui.gallery_model import RecordRole

pytestmark = pytest.mark.usefixtures("qapp")

BASE = GenerationRequest("a red circle", seed=11, steps=4, width=64, height=64, scheduler="Euler")


def outcomes(engine) -> dict[int, str]:
    seen: dict[int, str] = {}
    engine.subscribe(lambda e: seen.__setitem__(e.job_id, type(e).__name__)
                     if isinstance(e, (Finished, Cancelled)) else None)
    return seen


# ---- the policy, without Qt ----------------------------------------------------------------------
def test_live_renderer_newest_position_wins():
    engine = fake_engine(step_delay=0.02)
    seen = outcomes(engine)
    live = LiveRenderer(engine)
    try:
        ids = [live.submit(BASE.replace(blend_prompts=("b",), blend_weights=(t,), steps=30)) for t in (0.1, 0.2, 0.3)]
        assert engine.wait_idle(10)
    finally:
        engine.shutdown()
    assert seen[ids[0]] == "Cancelled" and seen[ids[1]] == "Cancelled"
    assert seen[ids[2]] == "Finished"
    assert live.current == ids[2]


def test_live_renderer_leaves_other_jobs_alone_and_rejects_bad_requests():
    engine = fake_engine(step_delay=0.01)
    seen = outcomes(engine)
    live = LiveRenderer(engine)
    try:
        other = engine.submit(BASE.replace(steps=10))  # e.g. the Generate button's job
        first = live.submit(BASE)
        with pytest.raises(RequestError):
            live.submit(BASE.replace(width=100))
        assert live.current == first  # a bad position cancels nothing
        second = live.submit(BASE.replace(seed=12))
        assert engine.wait_idle(10)
    finally:
        engine.shutdown()
    assert seen[other] == "Finished" and seen[first] == "Cancelled" and seen[second] == "Finished"


# ---- the panel -------------------------------------------------------------------------------------
def past_the_debounce(qtbot) -> None:
    """Return once any debounce started before this call has fired: Qt fires due timers in
    deadline order, so a precise timer twice as long is a barrier, not a guess at a delay."""
    barrier = QTimer()
    barrier.setSingleShot(True)
    barrier.setTimerType(Qt.TimerType.PreciseTimer)
    with qtbot.waitSignal(barrier.timeout, timeout=10_000):
        barrier.start(2 * DEBOUNCE_MS)


@pytest.fixture
def panel(qtbot):
    panel = BlendPanel()
    qtbot.addWidget(panel)
    panel.set_base_request(BASE)
    panel.prompt_b.setText("a blue square")
    return panel


class BlendAwareFake(FakeBackend):
    """The fake paints from seed and prompt only; fold the mix into the prompt so frames differ."""

    def run(self, job):
        job.request = job.request.replace(prompt=f"{job.request.prompt} {job.request.blend_weights}")
        return super().run(job)


@pytest.fixture
def bridge():
    bridge = EngineBridge(lambda: JobQueue(BlendAwareFake(step_delay=0.002)))
    yield bridge
    assert bridge.shutdown(10)


def test_sliders_and_spin_boxes_are_linked(panel):
    panel.mix.slider.setValue(250)
    assert panel.mix.spin.value() == pytest.approx(0.25)
    panel.mix.spin.setValue(0.8)
    assert panel.mix.slider.value() == 800
    panel.seed_mix.spin.setValue(0.333)
    assert panel.seed_mix.slider.value() == 333
    extra = panel.add_prompt()
    assert extra.weight.slider.value() == 500 and extra.weight.value() == 0.5


def test_request_is_the_base_with_the_panels_prompts_and_seeds(panel):
    panel.mix.set_value(0.25)
    request = panel.build_request()
    assert request.prompt == "a red circle" and request.seed == 11 and request.steps == 4
    assert request.blend_prompts == ("a blue square",) and request.blend_weights == (0.25,)
    assert request.seed_b is None  # no noise mix, no seed B
    extra = panel.add_prompt()
    extra.edit.setText("a green star")
    extra.weight.set_value(0.5)
    panel.seed_b.setText("99")
    panel.seed_mix.set_value(0.4)
    panel.mode_combo.setCurrentText("lerp")
    request = panel.build_request()
    assert request.blend_prompts == ("a blue square", "a green star")
    assert request.blend_weights == (0.25, 0.5)
    assert (request.seed_b, request.seed_mix, request.blend_mode) == (99, 0.4, "lerp")
    # prompt A and seed A follow the base until edited here
    panel.set_base_request(BASE.replace(prompt="a yellow moon", seed=5))
    assert panel.prompt_a.text() == "a yellow moon" and panel.seed_a.text() == "5"
    panel.prompt_a.setText("my own prompt")
    panel.set_base_request(BASE.replace(prompt="something else"))
    assert panel.prompt_a.text() == "my own prompt"


def test_apply_request_fills_the_sliders_without_rendering(qtbot, panel):
    emitted = []
    panel.requestChanged.connect(emitted.append)
    blend = BASE.replace(
        prompt="a cat", blend_prompts=("a dog", "a fox"), blend_weights=(0.3, 0.2), blend_mode="lerp",
        seed=5, seed_b=6, seed_mix=0.7,
    )
    assert panel.apply_request(blend)
    assert panel.build_request() == blend
    past_the_debounce(qtbot)
    assert not emitted
    assert not panel.apply_request(BASE)  # nothing to blend: the sliders stay as they are
    assert panel.build_request() == blend
    # The listener does hear the panel: a slider move afterwards is the one request emitted.
    with qtbot.waitSignal(panel.requestChanged, timeout=5000):
        panel.mix.set_value(0.9)
    assert [r.blend_weights[0] for r in emitted] == [0.9]


def test_moving_a_slider_emits_one_debounced_request(qtbot, panel):
    emitted = []
    panel.requestChanged.connect(emitted.append)
    with qtbot.waitSignal(panel.requestChanged, timeout=5000):
        for position in range(0, 1001, 100):  # a quick drag
            panel.mix.slider.setValue(position)
        let_go = time.perf_counter()
    waited = time.perf_counter() - let_go
    past_the_debounce(qtbot)
    assert len(emitted) == 1
    assert emitted[0].blend_weights == (1.0,)
    assert waited >= 0.9 * DEBOUNCE_MS / 1000  # it waited for the hand to rest


def test_a_bad_position_shows_one_line_and_emits_nothing(qtbot, panel):
    emitted = []
    panel.requestChanged.connect(emitted.append)
    panel.set_base_request(BASE.replace(width=100))  # invalid base
    panel.mix.set_value(0.5)
    qtbot.waitUntil(lambda: panel.error_text() != "", timeout=2000)
    assert "multiple of 8" in panel.error_text() and "\n" not in panel.error_text()
    assert not emitted


def test_live_rendering_through_the_bridge_keeps_only_the_newest(qtbot, panel):
    engine_holder = []
    bridge = EngineBridge(lambda: engine_holder.append(fake_engine(step_delay=0.03)) or engine_holder[-1])
    try:
        panel.attach(bridge)
        finished, cancelled = [], []
        bridge.finished.connect(lambda job, image, event: finished.append(event.request.blend_weights))
        bridge.cancelled.connect(lambda job, image: cancelled.append(job))
        panel.set_base_request(BASE.replace(steps=20))
        for t in (0.2, 0.4, 0.6):
            with qtbot.waitSignal(bridge.jobQueued, timeout=2000):
                panel.mix.set_value(t)
            qtbot.wait(60)  # the job is running when the next position arrives
        qtbot.waitUntil(lambda: bool(finished), timeout=5000)
        assert finished == [(0.6,)]
        assert len(cancelled) == 2
    finally:
        assert bridge.shutdown(10)


def test_strip_fills_the_filmstrip_and_exports(qtbot, panel, bridge, tmp_path):
    panel.attach(bridge)
    panel.strip.frames_spin.setValue(4)
    assert not panel.strip.export_button.isEnabled()
    ids = panel.render_strip()
    assert len(ids) == 4 and panel.strip.filmstrip.count() == 4
    qtbot.waitUntil(lambda: len(panel.strip.frames()) == 4, timeout=5000)
    assert panel.strip.export_button.isEnabled()
    assert all(not panel.strip.filmstrip.item(i).icon().isNull() for i in range(4))
    assert "4/4" in panel.strip.status_label.text()
    with qtbot.waitSignal(panel.strip.frameChosen) as chosen:
        panel.strip.filmstrip.itemClicked.emit(panel.strip.filmstrip.item(2))
    assert chosen.args[0].width() == 64
    target = tmp_path / "strip.gif"
    assert panel.strip.export_to(target) == [target]
    with Image.open(target) as animation:
        assert animation.n_frames == 4
    assert len(panel.strip.export_to(tmp_path / "frames")) == 4


def test_strip_needs_prompt_b(panel, bridge):
    panel.attach(bridge)
    panel.prompt_b.setText("")
    assert panel.render_strip() == []
    assert "second prompt" in panel.error_text()


def test_panel_is_mounted_in_the_main_window(qtbot):
    from studio.ui.main_window import MainWindow

    window = MainWindow(engine_factory=lambda: fake_engine(step_delay=0.001))
    qtbot.addWidget(window)
    try:
        panel = window.blend_panel
        assert panel.window() is window
        window.prompt_panel.prompt_edit.setPlainText("a violet ring")
        window.prompt_panel.random_seed_check.setChecked(False)
        window.prompt_panel.seed_edit.setText("77")
        seed_before = window.prompt_panel.seed_edit.text()
        request = panel.build_request()
        assert request.prompt == "a violet ring" and request.seed == 77
        assert window.prompt_panel.seed_edit.text() == seed_before  # no random seed rolled
        # the gallery's "Reuse parameters" on a blend fills the sliders too
        blend = request.replace(blend_prompts=("a grey cloud",), blend_weights=(0.6,))
        window.gallery_panel.reuseParameters.emit(blend)
        assert panel.prompt_b.text() == "a grey cloud" and panel.mix.value() == 0.6
    finally:
        window.close()



def test_live_renders_are_scratch_until_kept(qtbot):
    """Slider renders go to a scratch strip, not the grid; Keep (Ctrl+K) makes the frame on the
    canvas a gallery record, and its strip holds every frame that led to it. With "Keep the frame
    I stop on" off, resting the sliders keeps nothing."""
    from studio.ui.main_window import MainWindow

    window = MainWindow(engine_factory=lambda: fake_engine(step_delay=0.001))
    qtbot.addWidget(window)
    gallery = window.gallery_panel
    try:
        panel = window.blend_panel
        panel.live_session._idle.setInterval(60_000)  # no automatic keep in this test
        window.prompt_panel.prompt_edit.setPlainText("a violet ring")
        panel.prompt_b.setText("a grey cloud")
        assert not panel.keep_button.isHidden() and not panel.keep_button.isEnabled()
        for weight in (0.4, 0.6):
            with qtbot.waitSignal(window.bridge.finished, timeout=5000) as done:
                panel.mix.set_value(weight)
            assert done.args[2].request.blend_weights == (weight,)
        qtbot.waitUntil(panel.keep_button.isEnabled, timeout=2000)
        gallery.wait_recorded()  # every write queued so far has landed
        assert gallery.gallery.count() == 0 and gallery.model.total() == 0  # scratch: hidden
        window.keep_action.trigger()  # Ctrl+K
        qtbot.waitUntil(lambda: gallery.model.total() == 1, timeout=5000)
        kept = gallery.model.index(0).data(RecordRole)
        assert kept.request.blend_weights == (0.6,)  # the frame on the canvas, not an earlier one
        assert not panel.keep_button.isEnabled()  # kept once
        strip = gallery.gallery.scratch_frames(gallery.gallery.scratch_session_of(kept.id))
        assert [f.request.blend_weights for f in strip] == [(0.4,), (0.6,)]
        panel.keep_live_check.setChecked(False)
        panel.live_session._idle.setInterval(50)
        with qtbot.waitSignal(window.bridge.finished, timeout=5000):
            panel.mix.set_value(0.7)
        qtbot.wait(300)  # past the (shortened) pause: with the box off nothing is kept
        gallery.wait_recorded()
        assert gallery.gallery.count() == 1
    finally:
        window.close()


def test_resting_the_sliders_keeps_the_frame(qtbot):
    """With "Keep the frame I stop on" on, the frame the sliders rest on joins the gallery."""
    from studio.ui.main_window import MainWindow

    window = MainWindow(engine_factory=lambda: fake_engine(step_delay=0.001))
    qtbot.addWidget(window)
    gallery = window.gallery_panel
    try:
        panel = window.blend_panel
        panel.live_session._idle.setInterval(200)
        window.prompt_panel.prompt_edit.setPlainText("a violet ring")
        panel.prompt_b.setText("a grey cloud")
        assert panel.keep_live_check.isChecked()
        with qtbot.waitSignal(window.bridge.finished, timeout=5000):
            panel.mix.set_value(0.3)
        qtbot.waitUntil(lambda: gallery.model.total() == 1, timeout=5000)
        assert gallery.model.index(0).data(RecordRole).request.blend_weights == (0.3,)
    finally:
        window.close()
