"""The window against the fake engine: generate, previews, progress, cancel, queue, errors, persistence."""

from __future__ import annotations

import threading

import pytest
from PySide6.QtCore import Qt
from PySide6.QtWidgets import QApplication

from studio.engine.fake import fake_engine
from studio.ui.main_window import MainWindow

pytestmark = pytest.mark.usefixtures("qapp")


class Engines:
    """A factory that records the engines it built, so tests can inspect their threads."""

    def __init__(self, step_delay: float = 0.005) -> None:
        self.step_delay = step_delay
        self.built = []

    def __call__(self):
        engine = fake_engine(step_delay=self.step_delay)
        self.built.append(engine)
        return engine


def open_window(qtbot, step_delay: float = 0.005) -> tuple[MainWindow, Engines]:
    engines = Engines(step_delay)
    window = MainWindow(engine_factory=engines)
    qtbot.addWidget(window)
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    # The model's own size is read off the GUI thread: let it arrive before the first Generate.
    qtbot.waitUntil(lambda: window.prompt_panel.queries.pending() == 0, timeout=10_000)
    return window, engines


def set_fields(
    window: MainWindow, prompt: str = "a red cube", steps: int = 4, size: int = 128
) -> None:
    panel = window.prompt_panel
    panel.prompt_edit.setPlainText(prompt)
    panel.steps_spin.setValue(steps)
    panel.set_size(size, size)


def test_engine_starts_and_warms_up_only_after_the_window_is_shown(qtbot):
    engines = Engines()
    window = MainWindow(engine_factory=engines)
    qtbot.addWidget(window)
    assert not engines.built, "building the window must not start the engine"
    window.show()
    qtbot.waitUntil(lambda: bool(engines.built) and engines.built[0]._backend.warmed_on is not None)
    assert engines.built[0]._backend.warmed_on == "studio-fake-inference"
    assert len(engines.built) == 1
    window.close()


def test_closing_before_the_warm_up_never_starts_the_engine(qtbot):
    engines = Engines()
    window = MainWindow(engine_factory=engines)
    qtbot.addWidget(window)
    warm_up, calls = window.bridge.warm_up, []
    window.bridge.warm_up = lambda: (calls.append(1), warm_up())  # the timer the show starts
    window.show()
    window.close()
    qtbot.waitUntil(lambda: bool(calls), timeout=5000)  # the warm-up's turn came...
    assert not engines.built  # ...and it started nothing


def test_generate_paints_previews_and_moves_the_progress_bar(qtbot):
    window, engines = open_window(qtbot)
    set_fields(window, steps=6)
    canvas_keys, progress_values = [], []
    window.canvas.imageChanged.connect(
        lambda: canvas_keys.append(window.canvas.current_image().cacheKey())
    )
    window.progress_bar.valueChanged.connect(progress_values.append)
    previews = []
    window.bridge.preview.connect(
        lambda job, step, image: previews.append((step, image.size().toTuple()))
    )

    with qtbot.waitSignal(window.bridge.finished, timeout=10_000) as finished:
        qtbot.mouseClick(window.prompt_panel.generate_button, Qt.MouseButton.LeftButton)

    assert [step for step, _ in previews] == [1, 2, 3, 4, 5, 6]
    assert all(size == (128, 128) for _, size in previews), "previews are scaled to the final size"
    assert len(set(canvas_keys)) >= 7, "each preview and the final image replace the canvas image"
    final = finished.args[1]
    assert window.canvas.current_image().size().toTuple() == (128, 128)
    assert window.canvas.current_image().pixel(5, 5) == final.pixel(5, 5)
    sampling = progress_values[progress_values.index(1) :]  # before it: the model-loading bar
    assert sampling[:6] == [1, 2, 3, 4, 5, 6]
    assert "Done" in window.step_label.text()


def test_ctrl_enter_generates(qtbot):
    window, _ = open_window(qtbot)
    set_fields(window)
    window.prompt_panel.prompt_edit.setFocus()
    with qtbot.waitSignal(window.bridge.finished, timeout=10_000):
        qtbot.keyClick(
            window.prompt_panel.prompt_edit, Qt.Key.Key_Return, Qt.KeyboardModifier.ControlModifier
        )
    assert window.prompt_panel.prompt_edit.toPlainText() == "a red cube", (
        "Ctrl+Enter must not type a newline"
    )


def test_escape_cancels_the_running_job_and_the_queue_keeps_going(qtbot):
    window, _ = open_window(qtbot, step_delay=0.05)
    set_fields(window, steps=100)
    with qtbot.waitSignal(window.bridge.started, timeout=10_000):
        first = window.generate()
    set_fields(window, prompt="a blue ball", steps=3)
    second = window.generate()
    assert first is not None and second is not None

    with qtbot.waitSignal(window.bridge.cancelled, timeout=10_000) as cancelled:
        qtbot.keyClick(window, Qt.Key.Key_Escape)
    assert cancelled.args[0] == first
    with qtbot.waitSignal(window.bridge.finished, timeout=10_000) as finished:
        pass
    assert finished.args[0] == second
    assert window.canvas.current_image().size().toTuple() == (128, 128)


def test_queued_jobs_are_listed_and_removable(qtbot):
    window, _ = open_window(qtbot, step_delay=0.05)
    set_fields(window, steps=100)
    with qtbot.waitSignal(window.bridge.started, timeout=10_000):
        running = window.generate()
    waiting = [window.generate(), window.generate()]
    qtbot.waitUntil(lambda: window.queue_view.job_ids() == [running, *waiting], timeout=5_000)
    assert "2 waiting" in window.queue_dock.windowTitle()

    with qtbot.waitSignal(window.bridge.cancelled, timeout=5_000) as removed:
        qtbot.mouseClick(window.queue_view.cancel_button(waiting[1]), Qt.MouseButton.LeftButton)
    assert removed.args[0] == waiting[1]
    qtbot.waitUntil(lambda: window.queue_view.job_ids() == [running, waiting[0]], timeout=5_000)

    # The running one has a cancel button too; after it the next job takes its place.
    with qtbot.waitSignal(window.bridge.started, timeout=10_000) as started:
        qtbot.mouseClick(window.queue_view.cancel_button(running), Qt.MouseButton.LeftButton)
    assert started.args[0] == waiting[0]
    window.cancel_current()


def test_a_bad_size_is_explained_inline_and_the_app_keeps_working(qtbot):
    window, engines = open_window(qtbot)
    set_fields(window)
    panel = window.prompt_panel
    panel.size_combo.setCurrentIndex(panel.size_combo.count() - 1)  # Custom…
    assert panel.width_spin.isEnabled()
    panel.width_spin.lineEdit().selectAll()
    qtbot.keyClicks(panel.width_spin.lineEdit(), "100")
    assert panel.width_spin.value() == 100
    assert "width must be a multiple of 8" in panel.error_text()

    assert window.generate() is None
    assert "multiple of 8" in window.statusBar().currentMessage()
    assert "multiple of 8" in window.banner.text()
    assert not engines.built, "a bad request never starts the engine"

    panel.width_spin.setValue(96)
    assert panel.error_text() == ""
    with qtbot.waitSignal(window.bridge.finished, timeout=10_000):
        assert window.generate() is not None
    assert window.canvas.current_image().size().toTuple() == (96, 128)
    assert window.banner.text() == "", "a successful submit clears the error banner"


def test_a_failed_job_shows_a_message_and_the_next_one_runs(qtbot):
    window, _ = open_window(qtbot)
    set_fields(window, prompt="please FAIL")
    with qtbot.waitSignal(window.bridge.failed, timeout=10_000):
        window.generate()
    assert "refuses prompts" in window.banner.text()
    set_fields(window, prompt="fine")
    with qtbot.waitSignal(window.bridge.finished, timeout=10_000):
        window.generate()


def test_settings_persist_across_windows(qtbot, studio_home):
    window, _ = open_window(qtbot)
    set_fields(window, prompt="a quiet lake", steps=33, size=256)
    panel = window.prompt_panel
    panel.negative_edit.setPlainText("blurry")
    panel.random_seed_check.setChecked(False)
    panel.seed_edit.setText("424242")
    panel.guidance_spin.setValue(7.5)
    panel.scheduler_combo.setCurrentText("DDIM")
    panel.set_size(200, 136)  # custom
    window.resize(760, 540)  # the offscreen screen is 800x600
    window.queue_dock.hide()
    size = window.size().toTuple()
    window.close()
    assert (studio_home / "ui.ini").is_file()

    again, _ = open_window(qtbot)
    p = again.prompt_panel
    assert p.prompt_edit.toPlainText() == "a quiet lake"
    assert p.negative_edit.toPlainText() == "blurry"
    assert not p.random_seed_check.isChecked() and p.seed_edit.text() == "424242"
    assert p.steps_spin.value() == 33 and p.guidance_spin.value() == 7.5
    assert p.scheduler_combo.currentText() == "DDIM"
    assert (p.width_spin.value(), p.height_spin.value()) == (200, 136)
    assert again.size().toTuple() == size
    assert not again.queue_dock.isVisible()


def test_closing_the_window_joins_the_worker_thread(qtbot):
    window, engines = open_window(qtbot, step_delay=0.05)
    set_fields(window, steps=100)
    with qtbot.waitSignal(window.bridge.started, timeout=10_000):
        window.generate()
    window.generate()
    window.close()
    (engine,) = engines.built
    assert not engine._thread.is_alive()
    assert "studio-fake-inference" not in [t.name for t in threading.enumerate()]
    QApplication.processEvents()  # late queued signals must not touch the closed window


def test_the_prompt_is_saved_soon_after_typing_even_without_closing(qtbot, studio_home):
    window, _ = open_window(qtbot)
    qtbot.keyClicks(window.prompt_panel.prompt_edit, "a long prompt I would hate to lose")
    window._autosave.setInterval(10)
    qtbot.waitUntil(
        lambda: (
            "hate to lose" in (studio_home / "ui.ini").read_text(encoding="utf-8")
            if (studio_home / "ui.ini").exists()
            else False
        ),
        timeout=5_000,
    )


def test_generate_button_says_it_queues_while_busy(qtbot):
    window, _ = open_window(qtbot, step_delay=0.05)
    set_fields(window, steps=100)
    assert window.prompt_panel.generate_button.text() == "Generate"
    with qtbot.waitSignal(window.bridge.started, timeout=10_000):
        window.generate()
    qtbot.waitUntil(
        lambda: window.prompt_panel.generate_button.text() == "Add to queue", timeout=5_000
    )
    with qtbot.waitSignal(window.bridge.cancelled, timeout=10_000):
        window.cancel_current()
    qtbot.waitUntil(lambda: window.prompt_panel.generate_button.text() == "Generate", timeout=5_000)


def test_gallery_detail_buttons_fit_the_default_dock_width(qtbot):
    from PySide6.QtCore import QPoint, QRect
    from PySide6.QtWidgets import QAbstractButton

    window, _ = open_window(qtbot)
    gallery = window.gallery_panel
    set_fields(window, prompt="a long prompt " * 8)
    with qtbot.waitSignal(gallery.recorded, timeout=10_000):
        window.generate()
    gallery.view.setCurrentIndex(gallery.model.index(0))
    assert gallery.current_record() is not None
    assert window.size().toTuple() == (1280, 820) and gallery.isVisible()
    buttons = (gallery.open_button, gallery.reuse_button, gallery.source_button, gallery.favourite_button,
               gallery.parent_button, gallery.children_button, gallery.delete_button)
    for button in buttons:
        assert isinstance(button, QAbstractButton) and button.isVisible()
        rect = QRect(button.mapTo(gallery, QPoint(0, 0)), button.size())
        assert gallery.rect().contains(rect), f"{button.text()} is clipped"
        assert button.width() >= button.sizeHint().width() - 1, f"{button.text()} is squeezed"
        assert button.visibleRegion().boundingRect().size() == button.size(), f"{button.text()} is covered"


def test_first_run_shows_the_prompt_panel_in_front_of_the_other_left_panels(qtbot):
    """The left column's tabs (Prompt, Blend, Text diff) open on Prompt: the panel an artist types
    into first, and the one Ctrl+Enter reads."""
    from PySide6.QtWidgets import QTabBar

    window, _ = open_window(qtbot)
    try:
        bars = [bar for bar in window.findChildren(QTabBar)
                if "Prompt" in [bar.tabText(i) for i in range(bar.count())]]
        assert len(bars) == 1 and {bars[0].tabText(i) for i in range(bars[0].count())} >= {"Blend", "Text diff"}
        assert bars[0].tabText(bars[0].currentIndex()) == "Prompt"
    finally:
        window.close()


def test_window_shortcuts_beat_the_text_fields_emacs_keys(qtbot):
    """On Linux a text field claims Ctrl+D, Ctrl+E and Ctrl+K (delete, end of line, delete to the
    end of the line) before window shortcuts see them; the offscreen test platform does not, so a
    field that claims them the way the desktop's do stands in. With the cursor in it, Edit by
    Description, Export and Keep must still fire, and the field must keep its text."""
    from PySide6.QtWidgets import QLineEdit

    class EmacsField(QLineEdit):
        def event(self, event):
            emacs = (Qt.Key.Key_D, Qt.Key.Key_E, Qt.Key.Key_K)
            if (event.type() == event.Type.ShortcutOverride and event.key() in emacs
                    and event.modifiers() == Qt.KeyboardModifier.ControlModifier):
                event.accept()  # what QLineEdit does on X11 for its Delete/End/DeleteEndOfLine keys
                return True
            return super().event(event)

    window, _ = open_window(qtbot)
    try:
        field = EmacsField("a red circle")
        window.prompt_panel.layout().addWidget(field)
        field.setFocus()
        qtbot.waitUntil(field.hasFocus, timeout=5000)
        for action in (window.textdiff_action, window.keep_action, window.file_actions.export_action):
            action.setEnabled(True)
            fired = []
            action.triggered.disconnect()  # only count: the real slots open dialogs
            action.triggered.connect(lambda *_a, fired=fired: fired.append(True))
            key = action.shortcut()[0]
            qtbot.keyClick(field, key.key(), key.keyboardModifiers())
            assert fired, f"{action.text()} ({action.shortcut().toString()}) did not fire in a text field"
        assert field.text() == "a red circle"
    finally:
        window.close()

