"""The main window: canvas in the centre, prompt panel (left), queue (right), status bar.

Where later panels go (each is a QDockWidget with a unique objectName, so its place persists):
  * gallery (issue 6):        `add_panel(dock, Qt.DockWidgetArea.RightDockWidgetArea)`
  * interpolation (issue 5):  `add_panel(dock, Qt.DockWidgetArea.LeftDockWidgetArea, tabify_with=self.prompt_dock)`
  * mask tools (issue 4):     `add_toolbar(toolbar)`; paint via `canvas.set_tool(tool)` and overlay
                              items in `canvas.scene()` (scene coordinates are image pixels).
Panels that start jobs call `submit_request(request)`; results arrive on `bridge.finished`.
"""

from __future__ import annotations

import json
import logging
import time

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QImage, QKeySequence
from PySide6.QtWidgets import (
    QDockWidget,
    QFrame,
    QHBoxLayout,
    QLabel,
    QMainWindow,
    QProgressBar,
    QToolBar,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.paths import studio_home
from studio.core.request import GenerationRequest, RequestError
from studio.ui.bridge import EngineBridge, EngineFactory
from studio.ui.canvas import Canvas
from studio.ui.prompt_panel import PromptPanel
from studio.ui.queue_view import QueueView

log = logging.getLogger(__name__)

SETTINGS_FILE = "ui.ini"
STATE_VERSION = 1
WARM_UP_DELAY_MS = 250  # after the first paint, so the window appears before the imports start


def ui_settings() -> QSettings:
    """The window's QSettings: an ini file in STUDIO_HOME (never the registry or ~/.config)."""
    return QSettings(str(studio_home() / SETTINGS_FILE), QSettings.Format.IniFormat)


class Banner(QFrame):
    """A one-line message above the canvas for errors the artist should notice; ✕ hides it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("banner")
        self.label = QLabel()
        self.label.setWordWrap(True)
        self.label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        close = QToolButton()
        close.setText("✕")
        close.setAutoRaise(True)
        close.clicked.connect(self.hide)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(12, 6, 6, 6)
        layout.addWidget(self.label, 1)
        layout.addWidget(close)
        self.hide()

    def show_message(self, text: str) -> None:
        self.label.setText(text)
        self.show()

    def text(self) -> str:
        return self.label.text() if self.isVisibleTo(self.parentWidget()) else ""


class MainWindow(QMainWindow):
    """The Studio window. `engine_factory` builds the JobQueue on first use (tests pass a fake)."""

    shown = Signal()  # first show, after the first paint has been queued

    def __init__(self, engine_factory: EngineFactory | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Studio")
        self.resize(1280, 820)
        self.setDockNestingEnabled(True)
        if engine_factory is None:
            from studio.ui.engine_choice import default_engine

            engine_factory = default_engine
        self.bridge = EngineBridge(engine_factory, self)
        self._running_job: int | None = None
        self._job_started_at = 0.0
        self._shown_once = False
        self._closed = False

        self.canvas = Canvas()
        self.banner = Banner()
        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        central_layout.setSpacing(0)
        central_layout.addWidget(self.banner)
        central_layout.addWidget(self.canvas, 1)
        self.setCentralWidget(central)

        self.prompt_panel = PromptPanel()
        self.prompt_dock = self._dock("Prompt", "promptDock", self.prompt_panel)
        self.prompt_dock.setMinimumWidth(300)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.prompt_dock)
        self.queue_view = QueueView()
        self.queue_dock = self._dock("Queue", "queueDock", self.queue_view)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.queue_dock)

        self._build_actions()
        self._build_status_bar()
        self._connect()
        from studio.ui.mask_editor import install_mask_editor  # issue 4: Edit panel, mask brush

        install_mask_editor(self)
        from studio.ui.gallery_panel import install_gallery  # issue 6: Gallery panel, recording

        install_gallery(self)
        self._restore_settings()
        # issue 5: Blend panel, strips. Added after the saved layout is restored: add_panel then
        # restores its place, and the window geometry is not stretched by an interim layout.
        from studio.ui.blend_panel import install_blend_panel

        install_blend_panel(self)
        from studio.ui.model_library import install_model_library  # Models panel: models, LoRAs

        install_model_library(self)  # after the restore too, for the same reasons

    # ---- extension points --------------------------------------------------------------------
    def add_panel(
        self,
        dock: QDockWidget,
        area: Qt.DockWidgetArea = Qt.DockWidgetArea.RightDockWidgetArea,
        tabify_with: QDockWidget | None = None,
    ) -> QDockWidget:
        """Add a feature panel (gallery, interpolation…). Give `dock` a unique objectName so its
        place is remembered; it appears in the View menu. Restores saved layout that includes it."""
        if not dock.objectName():
            raise ValueError("give the dock a unique objectName so its layout can be saved")
        self.addDockWidget(area, dock)
        if tabify_with is not None:
            self.tabifyDockWidget(tabify_with, dock)
            tabify_with.raise_()
        self.view_menu.addAction(dock.toggleViewAction())
        saved = ui_settings().value("window/state")
        if isinstance(saved, QByteArray) and not saved.isEmpty():
            self.restoreDockWidget(dock)
        return dock

    def add_toolbar(self, toolbar: QToolBar) -> QToolBar:
        """Add a tool bar (e.g. mask brush tools) under the main one; needs a unique objectName."""
        if not toolbar.objectName():
            raise ValueError("give the toolbar a unique objectName so its layout can be saved")
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)
        return toolbar

    def submit_request(self, request: GenerationRequest) -> int | None:
        """Queue `request`; a problem is shown (inline and in the status bar), never raised."""
        try:
            job_id = self.bridge.submit(request)
        except RequestError as exc:
            self.prompt_panel.show_error(str(exc))
            self.show_message(f"Can't generate: {exc}", error=True)
            return None
        except Exception as exc:  # the engine failed to start: say so, keep the window usable
            log.exception("could not start the engine")
            self.show_message(f"The engine could not start: {exc}", error=True)
            return None
        self.banner.hide()
        return job_id

    # ---- commands ----------------------------------------------------------------------------
    def generate(self) -> int | None:
        """Queue what the prompt panel describes (runs now if idle, else waits its turn)."""
        try:
            request = self.prompt_panel.build_request()
        except RequestError as exc:
            self.show_message(f"Can't generate: {exc}", error=True)
            return None
        return self.submit_request(request)

    def cancel_current(self) -> bool:
        """Cancel the running job; the queue carries on with the next one."""
        if self.bridge.cancel_running():
            self.show_message("Cancelling…")
            return True
        self.show_message("Nothing is running")
        return False

    def show_message(self, text: str, error: bool = False) -> None:
        """Errors go to the banner in full (it wraps); the status bar elides what does not fit
        and has the whole message as its tooltip."""
        if error:
            self.banner.show_message(text)
        from studio.ui.status_elide import keep_messages_readable

        keep_messages_readable(self.statusBar())  # once
        self.statusBar().showMessage(text, 0 if error else 8000)

    # ---- building ----------------------------------------------------------------------------
    def _dock(self, title: str, name: str, widget: QWidget) -> QDockWidget:
        dock = QDockWidget(title, self)
        dock.setObjectName(name)
        dock.setWidget(widget)
        dock.setFeatures(
            QDockWidget.DockWidgetFeature.DockWidgetMovable
            | QDockWidget.DockWidgetFeature.DockWidgetClosable
            | QDockWidget.DockWidgetFeature.DockWidgetFloatable
        )
        return dock

    def _build_actions(self) -> None:
        self.generate_action = QAction("Generate", self)
        self.generate_action.setShortcuts([QKeySequence("Ctrl+Return"), QKeySequence("Ctrl+Enter")])
        self.generate_action.setToolTip("Generate (Ctrl+Enter)")
        self.generate_action.triggered.connect(self.generate)
        self.cancel_action = QAction("Cancel", self)
        self.cancel_action.setShortcut(QKeySequence(Qt.Key.Key_Escape))
        self.cancel_action.setToolTip("Cancel the running job (Esc)")
        self.cancel_action.setEnabled(False)
        self.cancel_action.triggered.connect(self.cancel_current)
        self.fit_action = QAction("Fit", self)
        self.fit_action.setToolTip("Fit image to view (Ctrl+0)")
        self.fit_action.triggered.connect(self.canvas.fit_to_view)
        self.actual_size_action = QAction("100%", self)
        self.actual_size_action.setToolTip("Actual pixels (Ctrl+1)")
        self.actual_size_action.triggered.connect(self.canvas.actual_size)
        quit_action = QAction("Quit", self)
        quit_action.setShortcut(QKeySequence.StandardKey.Quit)
        quit_action.triggered.connect(self.close)
        for action in (self.generate_action, self.cancel_action):
            self.addAction(action)  # shortcuts work even with the tool bar hidden

        toolbar = QToolBar("Main")
        toolbar.setObjectName("mainToolbar")
        toolbar.setMovable(False)
        toolbar.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        for action in (self.generate_action, self.cancel_action):
            toolbar.addAction(action)
        toolbar.addSeparator()
        toolbar.addAction(self.fit_action)
        toolbar.addAction(self.actual_size_action)
        self.addToolBar(Qt.ToolBarArea.TopToolBarArea, toolbar)

        menu = self.menuBar()
        file_menu = menu.addMenu("&File")
        file_menu.addAction(quit_action)
        image_menu = menu.addMenu("&Image")
        image_menu.addAction(self.generate_action)
        image_menu.addAction(self.cancel_action)
        self.view_menu = menu.addMenu("&View")
        self.view_menu.addAction(self.fit_action)
        self.view_menu.addAction(self.actual_size_action)
        self.view_menu.addSeparator()
        self.view_menu.addAction(self.prompt_dock.toggleViewAction())
        self.view_menu.addAction(self.queue_dock.toggleViewAction())

    def _build_status_bar(self) -> None:
        self.step_label = QLabel("Ready")
        self.step_label.setMinimumWidth(190)
        self.progress_bar = QProgressBar()
        self.progress_bar.setRange(0, 100)
        self.progress_bar.setValue(0)
        self.progress_bar.setTextVisible(False)
        self.progress_bar.setFixedWidth(220)
        self.progress_bar.setFixedHeight(12)
        bar = self.statusBar()
        bar.addPermanentWidget(self.step_label)
        bar.addPermanentWidget(self.progress_bar)

    def _connect(self) -> None:
        self.prompt_panel.generateRequested.connect(self.generate)
        self.prompt_panel.message.connect(self.show_message)
        # Save the panel a moment after each edit too, so a crash never loses a long prompt.
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(1500)
        self._autosave.timeout.connect(self._save_panel_state)
        self.prompt_panel.changed.connect(self._autosave.start)
        self.queue_view.cancelRequested.connect(self._cancel_job)
        bridge = self.bridge
        bridge.jobsChanged.connect(self._refresh_queue)
        bridge.loading.connect(self._on_loading)
        bridge.started.connect(self._on_started)
        bridge.progress.connect(self._on_progress)
        bridge.preview.connect(self._on_preview)
        bridge.finished.connect(self._on_finished)
        bridge.cancelled.connect(self._on_cancelled)
        bridge.failed.connect(self._on_failed)
        bridge.warning.connect(lambda _job, text: self.show_message(f"Warning: {text}"))

    # ---- engine events (GUI thread, via the bridge's queued signals) -------------------------
    def _refresh_queue(self) -> None:
        jobs = self.bridge.jobs()
        self.queue_view.set_jobs(jobs)
        self.cancel_action.setEnabled(any(j.state == "running" for j in jobs))
        waiting = sum(j.state == "queued" for j in jobs)
        self.queue_dock.setWindowTitle(f"Queue ({waiting} waiting)" if waiting else "Queue")
        self.prompt_panel.generate_button.setText("Add to queue" if jobs else "Generate")

    def _on_loading(self, job_id: int, message: str, fraction: float) -> None:
        self.step_label.setText(message)
        if fraction < 0:
            self.progress_bar.setRange(0, 0)  # busy
        else:
            self.progress_bar.setRange(0, 100)
            self.progress_bar.setValue(int(fraction * 100))

    def _on_started(self, job_id: int, request: GenerationRequest, total: int) -> None:
        self._running_job = job_id
        self._job_started_at = time.perf_counter()
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(0)
        self.step_label.setText(f"#{job_id}: step 0/{total}")
        self.cancel_action.setEnabled(True)

    def _on_progress(self, job_id: int, step: int, total: int, elapsed: float, eta: float) -> None:
        if job_id != self._running_job:
            return
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(step)
        self.step_label.setText(f"#{job_id}: step {step}/{total} · {_seconds(eta)} left")

    def _on_preview(self, job_id: int, step: int, image: QImage) -> None:
        if job_id == self._running_job:
            self.canvas.show_preview(image)  # over the picture it replaces, kept for a cancel

    def _on_finished(self, job_id: int, image: QImage, event: object) -> None:
        self.canvas.set_image(image)
        took = time.perf_counter() - self._job_started_at
        request = getattr(event, "request", None)
        seed = f", seed {request.seed}" if request is not None else ""
        self._job_done(f"Done #{job_id} in {_seconds(took)}{seed}")
        self.progress_bar.setValue(self.progress_bar.maximum())

    def _on_cancelled(self, job_id: int, last_preview: object) -> None:
        if job_id == self._running_job:
            self.canvas.revert_preview()  # back to the picture from before the job, not its noise
            self._job_done(f"Cancelled #{job_id}")
            self.progress_bar.setValue(0)
        else:
            self.show_message(f"Removed #{job_id} from the queue")

    def _on_failed(self, job_id: int, message: str, detail: str) -> None:
        if detail:
            log.error("job %d failed: %s\n%s", job_id, message, detail)
        if job_id == self._running_job:
            self.canvas.revert_preview()
        self._job_done("Failed")
        self.progress_bar.setValue(0)
        self.show_message(f"Job #{job_id} failed: {message}", error=True)

    def _job_done(self, text: str) -> None:
        self._running_job = None
        self.progress_bar.setRange(0, 100)
        self.step_label.setText(text)  # the permanent label; the left side stays for messages

    def _cancel_job(self, job_id: int) -> None:
        self.bridge.cancel(job_id)

    # ---- lifetime ----------------------------------------------------------------------------
    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            QTimer.singleShot(0, self.shown.emit)  # after the first paint is queued
            # Engine imports take seconds; doing them once the window is up (rather than on
            # the first Generate) makes the first image come sooner and its previews smooth.
            # The bridge ignores it once the window has closed (it is shut down by then).
            QTimer.singleShot(WARM_UP_DELAY_MS, self.bridge.warm_up)

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if not self._closed:
            self._closed = True
            self._save_settings()
            self.bridge.shutdown()  # cancels jobs and joins the inference thread
        super().closeEvent(event)

    def _save_settings(self) -> None:
        settings = ui_settings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState(STATE_VERSION))
        settings.setValue("panel/prompt", json.dumps(self.prompt_panel.state()))
        settings.sync()

    def _save_panel_state(self) -> None:
        if self._closed:
            return
        settings = ui_settings()
        settings.setValue("panel/prompt", json.dumps(self.prompt_panel.state()))
        settings.sync()

    def _first_run_layout(self) -> None:
        """Panels on the right share one tab group, so stacked panels never make the window
        taller than a laptop screen; the canvas gets most of the width."""
        right = [
            dock
            for dock in self.findChildren(QDockWidget)
            if self.dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea and not dock.isFloating()
        ]
        right.sort(key=lambda dock: dock is not self.queue_dock)  # the queue's tab first
        for dock in right[1:]:
            self.tabifyDockWidget(right[0], dock)
        front = self.findChild(QDockWidget, "galleryDock") or self.queue_dock
        front.raise_()
        self.resizeDocks([self.prompt_dock, front], [340, 360], Qt.Orientation.Horizontal)

    def _restore_settings(self) -> None:
        settings = ui_settings()
        geometry = settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = settings.value("window/state")
        if not (isinstance(state, QByteArray) and self.restoreState(state, STATE_VERSION)):
            self._first_run_layout()
        raw = settings.value("panel/prompt")
        data = None
        if isinstance(raw, str):
            try:
                data = json.loads(raw)
            except ValueError:
                log.warning("ignoring unreadable saved prompt panel state")
        if isinstance(data, dict):
            self.prompt_panel.restore_state(data)
        else:  # first run: the default model brings its own settings, as if just picked
            self.prompt_panel.choose_model("")


def _seconds(value: float) -> str:
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes} min {seconds:02d} s"
