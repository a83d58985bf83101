"""The main window: canvas in the centre, prompt panel (left), queue (right), status bar.

studio/ui/composition.py builds the parts (bridge, canvas, settings, panels), hands the window
the ones it frames (`mount`), docks the others with `add_panel(dock, area, tabify_with=...)` and
wires them; the window keeps plain references to them. Panels that start jobs call
`submit_request(request)`; results arrive on `bridge.finished`. The settings the panels show are
one `studio.core.session.Session`, saved in ui.ini (`load_session`, `_save_session`).
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
from studio.core.session import Session
from studio.ui.bridge import EngineBridge, EngineFactory
from studio.ui.canvas import Canvas
from studio.ui.prompt_panel import PromptPanel
from studio.ui.queue_view import QueueView

log = logging.getLogger(__name__)

SETTINGS_FILE = "ui.ini"
STATE_VERSION = 1
WARM_UP_DELAY_MS = 250  # after the first paint, so the window appears before the imports start
AUTOSAVE_MS = 1500
# Where each part of the session is kept in ui.ini ("panel/prompt" predates the others).
SESSION_KEYS = {"prompt": "panel/prompt", "edit": "panel/edit", "blend": "panel/blend"}


def ui_settings() -> QSettings:
    """The window's QSettings: an ini file in STUDIO_HOME (never the registry or ~/.config)."""
    return QSettings(str(studio_home() / SETTINGS_FILE), QSettings.Format.IniFormat)


def load_session() -> tuple[Session, bool]:
    """The settings saved in ui.ini, and whether the prompt's were there (False: first run).
    An unreadable part is left at its defaults."""
    settings = ui_settings()
    parts = {}
    for name, key in SESSION_KEYS.items():
        raw = settings.value(key)
        if not isinstance(raw, str):
            continue
        try:
            data = json.loads(raw)
        except ValueError:
            log.warning("ignoring unreadable saved %s settings", name)
            continue
        if isinstance(data, dict):
            parts[name] = data
    return Session.from_dict(parts), "prompt" in parts


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
    closing = Signal()  # once, as the window closes: before settings are saved and the engine stops
    shutdown_timeout = 30.0  # seconds to wait for the inference thread on close

    # Set by the composition root (studio/ui/composition.py): plain references to the parts.
    bridge: EngineBridge
    canvas: Canvas
    session: Session
    prompt_panel: PromptPanel
    prompt_dock: QDockWidget
    queue_view: QueueView
    queue_dock: QDockWidget

    def __init__(self, engine_factory: EngineFactory | None = None) -> None:
        super().__init__()
        self.setWindowTitle("Studio")
        self.resize(1280, 820)
        self.setDockNestingEnabled(True)
        if engine_factory is None:
            from studio.ui.engine_choice import default_engine

            engine_factory = default_engine
        self._running_job: int | None = None
        self._job_started_at = 0.0
        self._shown_once = False
        self._closed = False
        self.banner = Banner()
        self._autosave = QTimer(self)
        self._autosave.setSingleShot(True)
        self._autosave.setInterval(AUTOSAVE_MS)
        self._autosave.timeout.connect(self._save_session)
        self._build_status_bar()
        from studio.ui.composition import compose_window

        self.parts = compose_window(self, engine_factory)

    def mount(self, *, bridge: EngineBridge, canvas: Canvas, session: Session, prompt_panel: PromptPanel,
              queue_view: QueueView) -> None:
        """Frame the parts the window itself shows: the canvas under the banner, the Prompt
        (left) and Queue (right) docks, and the actions and menus that act on them."""
        self.bridge, self.canvas, self.session = bridge, canvas, session
        self.prompt_panel, self.queue_view = prompt_panel, queue_view
        central = QWidget()
        central_layout = QVBoxLayout(central)
        central_layout.setContentsMargins(0, 0, 0, 0)
        central_layout.setSpacing(0)
        central_layout.addWidget(self.banner)
        central_layout.addWidget(canvas, 1)
        self.setCentralWidget(central)
        self.prompt_dock = self.dock("Prompt", "promptDock", prompt_panel)
        self.prompt_dock.setMinimumWidth(300)
        self.addDockWidget(Qt.DockWidgetArea.LeftDockWidgetArea, self.prompt_dock)
        self.queue_dock = self.dock("Queue", "queueDock", queue_view)
        self.addDockWidget(Qt.DockWidgetArea.RightDockWidgetArea, self.queue_dock)
        self._build_actions()

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
    def dock(self, title: str, name: str, widget: QWidget) -> QDockWidget:
        """A dock for `widget`, named `name` (so its place is saved), for `add_panel`."""
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
        self.file_menu = menu.addMenu("&File")  # the composition root puts the file actions first
        self.quit_action = quit_action
        self.file_menu.addAction(quit_action)
        self.image_menu = image_menu = menu.addMenu("&Image")
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

    # ---- engine events (GUI thread, via the bridge's queued signals) -------------------------
    def refresh_queue(self) -> None:
        jobs = self.bridge.jobs()
        self.queue_view.set_jobs(jobs)
        self.cancel_action.setEnabled(any(j.state == "running" for j in jobs))
        waiting = sum(j.state == "queued" for j in jobs)
        self.queue_dock.setWindowTitle(f"Queue ({waiting} waiting)" if waiting else "Queue")
        self.prompt_panel.generate_button.setText("Add to queue" if jobs else "Generate")

    def show_loading(self, job_id: int, message: str, fraction: float) -> None:
        self.step_label.setText(message)
        if fraction < 0:
            self.progress_bar.setRange(0, 0)  # busy
        else:
            self.progress_bar.setRange(0, 100)
            self.progress_bar.setValue(int(fraction * 100))

    def show_started(self, job_id: int, request: GenerationRequest, total: int) -> None:
        self._running_job = job_id
        self._job_started_at = time.perf_counter()
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(0)
        self.step_label.setText(f"#{job_id}: step 0/{total}")
        self.cancel_action.setEnabled(True)

    def show_progress(self, job_id: int, step: int, total: int, elapsed: float, eta: float) -> None:
        if job_id != self._running_job:
            return
        self.progress_bar.setRange(0, total)
        self.progress_bar.setValue(step)
        self.step_label.setText(f"#{job_id}: step {step}/{total} · {_seconds(eta)} left")

    def show_preview(self, job_id: int, step: int, image: QImage) -> None:
        if job_id == self._running_job:
            self.canvas.show_preview(image)  # over the picture it replaces, kept for a cancel

    def show_finished(self, job_id: int, image: QImage, event: object) -> None:
        self.canvas.set_image(image)
        took = time.perf_counter() - self._job_started_at
        request = getattr(event, "request", None)
        seed = f", seed {request.seed}" if request is not None else ""
        self._job_done(f"Done #{job_id} in {_seconds(took)}{seed}")
        self.progress_bar.setValue(self.progress_bar.maximum())

    def show_cancelled(self, job_id: int, last_preview: object) -> None:
        if job_id == self._running_job:
            self.canvas.revert_preview()  # back to the picture from before the job, not its noise
            self._job_done(f"Cancelled #{job_id}")
            self.progress_bar.setValue(0)
        else:
            self.show_message(f"Removed #{job_id} from the queue")

    def show_failed(self, job_id: int, message: str, detail: str) -> None:
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
            self.closing.emit()
            self._save_settings()
            # Cancels jobs and joins the inference thread; the app (run_app) waits only briefly,
            # as it ends the process at once after (a model still loading is simply cut off).
            self.bridge.shutdown(self.shutdown_timeout)
        super().closeEvent(event)

    def save_soon(self) -> None:
        """Save the settings a moment from now (after each edit; a burst of edits saves once)."""
        self._autosave.start()

    def _save_settings(self) -> None:
        settings = ui_settings()
        settings.setValue("window/geometry", self.saveGeometry())
        settings.setValue("window/state", self.saveState(STATE_VERSION))
        self._save_session(settings)

    def _save_session(self, settings: QSettings | None = None) -> None:
        if settings is None:
            if self._closed:
                return
            settings = ui_settings()
        for name, data in self.session.to_dict().items():
            settings.setValue(SESSION_KEYS[name], json.dumps(data))
        settings.sync()

    def _first_run_layout(self, front: QDockWidget) -> None:
        """Panels on the right share one tab group, so stacked panels never make the window
        taller than a laptop screen; the canvas gets most of the width. The right column is wide
        enough for the gallery's board list beside two columns of tiles."""
        right = [
            dock
            for dock in self.findChildren(QDockWidget)
            if self.dockWidgetArea(dock) == Qt.DockWidgetArea.RightDockWidgetArea and not dock.isFloating()
        ]
        right.sort(key=lambda dock: dock is not self.queue_dock)  # the queue's tab first
        for dock in right[1:]:
            self.tabifyDockWidget(right[0], dock)
        front.raise_()
        self.resizeDocks([self.prompt_dock, front], [340, 460], Qt.Orientation.Horizontal)

    def restore_layout(self, front: QDockWidget) -> None:
        """The saved geometry and dock layout; at first run the right column's tabs, `front`
        in front."""
        settings = ui_settings()
        geometry = settings.value("window/geometry")
        if isinstance(geometry, QByteArray):
            self.restoreGeometry(geometry)
        state = settings.value("window/state")
        if not (isinstance(state, QByteArray) and self.restoreState(state, STATE_VERSION)):
            self._first_run_layout(front)


def _seconds(value: float) -> str:
    if value < 60:
        return f"{value:.1f} s"
    minutes, seconds = divmod(int(value), 60)
    return f"{minutes} min {seconds:02d} s"
