"""The Grid panel: one picture varied along up to three axes (X, Y, and Z = one grid per value).

The base request is the Prompt panel's (the one place requests are composed); each axis is a name
and values as artists type them (`seed=1-4`, `prompt=red,green`, studio.core.sweep). Before
running the panel says how many cells there are and about how long they take, or, in one line,
what is wrong. Cells run as ordinary jobs on the window's worker (through the bridge, which records
each in the gallery) or, when Engine Settings say so, on a Ray cluster; the result view fills in
as they finish. At the end, or after Cancel with at least one picture, each grid is composed and
saved to the gallery with its cells as children, off the GUI thread.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QComboBox,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.events import Cancelled, Event, Failed, Finished
from studio.core.request import GenerationRequest, RequestError
from studio.core.session import EMPTY_PROMPT
from studio.core.settings import EngineSettings, load_settings
from studio.core.sweep import AXIS_HELP, AXIS_NAMES, Axis, Cell, Sweep
from studio.engine.sweep_run import SweepRun
from studio.ui.bridge import pil_to_qimage
from studio.ui.grid_runs import BridgeExecutor, Timings, duration, make_ray_executor, save_grids
from studio.ui.grid_view import GridView, Index
from studio.ui.theme import InlineError

if TYPE_CHECKING:
    from studio.engine.executor import Executor
    from studio.gallery import Record
    from studio.ui.bridge import EngineBridge
    from studio.ui.gallery_panel import GalleryPanel

log = logging.getLogger(__name__)

AXES = ("X", "Y", "Z")
NONE = "—"
CHECK_DELAY_MS = 200  # after the last keystroke, the count and estimate are worked out again


class _Run:
    """One grid run: what it asked for and what has come back (GUI thread only)."""

    def __init__(self, sweep: Sweep, on_ray: bool) -> None:
        self.sweep = sweep
        self.on_ray = on_ray
        self.sweep_run: SweepRun | None = None
        self.events: dict[Index, Finished] = {}
        self.records: dict[Index, Record] = {}
        self.ended = 0
        self.cancelled = False
        self.problem = ""


class GridPanel(QWidget):
    """Axes, count and estimate, Run/Cancel, and the result view."""

    openRecord = Signal(object)  # Record of a clicked cell: opened on the canvas as a gallery pick
    openImage = Signal(QImage)  # a clicked cell the gallery does not hold
    message = Signal(str)  # one line for the status bar
    runEnded = Signal()  # every cell ended and the grid is saved (or could not be)
    _cell = Signal(object, object, object, object)  # _Run, Cell, its last event, QImage | None
    _fraction = Signal(object, float)  # _Run, 0..1 of its cells' steps
    _ray = Signal(object, object)  # _Run, Executor | error text: from the thread that made it
    _recorded_all = Signal(object, int)  # _Run, tries: the gallery's writer reached the barrier
    _saved = Signal(object, object)  # _Run, [Record] | error text

    def __init__(
        self,
        base_request: Callable[[], GenerationRequest],
        run_request: Callable[[], GenerationRequest] | None = None,
        settings: Callable[[], EngineSettings] = load_settings,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._base = base_request  # the Prompt panel's request as it is (for the count)
        self._run_request = run_request or base_request  # the one sent: may roll a random seed
        self._settings = settings
        self._bridge: EngineBridge | None = None
        self._gallery: GalleryPanel | None = None
        self._ray_executor: tuple[tuple[str, int], Executor] | None = None
        self._ray_key: tuple[str, int] | None = None
        self._run: _Run | None = None  # the run under way
        self._shown: _Run | None = None  # the run the view shows (cells stay clickable after it)
        self.timings = Timings()
        self._check_timer = QTimer(self)
        self._check_timer.setSingleShot(True)
        self._check_timer.setInterval(CHECK_DELAY_MS)
        self._check_timer.timeout.connect(self.check)
        self._build()
        self._cell.connect(self._on_cell)
        self._fraction.connect(self._on_fraction)
        self._ray.connect(self._on_ray_made)
        self._recorded_all.connect(self._on_recorded_all)
        self._saved.connect(self._on_saved)

    # ---- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        form = QGridLayout()
        self.axis_combos: list[QComboBox] = []
        self.value_edits: list[QLineEdit] = []
        for row, letter in enumerate(AXES):
            combo = QComboBox()
            if letter != "X":
                combo.addItem(NONE, None)
            for name in AXIS_NAMES:
                combo.addItem(name, name)
            edit = QLineEdit()
            edit.setClearButtonEnabled(True)
            form.addWidget(QLabel(f"&{letter}" if letter != "X" else "&X"), row, 0)
            form.itemAtPosition(row, 0).widget().setBuddy(combo)
            form.addWidget(combo, row, 1)
            form.addWidget(edit, row, 2)
            combo.currentIndexChanged.connect(self._axis_chosen)
            edit.textChanged.connect(self.check_soon)
            edit.returnPressed.connect(self._run_from_keyboard)  # type the values, press Enter
            self.axis_combos.append(combo)
            self.value_edits.append(edit)
        form.setColumnStretch(2, 1)
        self.axis_combos[0].setCurrentIndex(self.axis_combos[0].findData("seed"))
        self._axis_chosen()

        self.count_label = QLabel()
        self.count_label.setWordWrap(True)
        self.error = InlineError()
        self.run_button = QPushButton("Run grid")
        self.run_button.setToolTip("Make every cell (Ctrl+G opens this panel)")
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.setToolTip("Stop the cells not made yet; the finished ones are kept and saved")
        self.cancel_button.setEnabled(False)
        self.progress = QProgressBar()
        self.progress.setRange(0, 1000)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(10)
        self.status = QLabel()
        self.status.setWordWrap(True)
        self.view = GridView()
        buttons = QHBoxLayout()
        buttons.addWidget(self.run_button, 1)
        buttons.addWidget(self.cancel_button)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.count_label)
        layout.addWidget(self.error)
        layout.addLayout(buttons)
        layout.addWidget(self.progress)
        layout.addWidget(self.status)
        layout.addWidget(self.view, 1)
        self.run_button.clicked.connect(self.run)
        self.cancel_button.clicked.connect(self.cancel)
        self.view.cellClicked.connect(self._open_cell)

    def _run_from_keyboard(self) -> None:
        if self._run is None:
            self.run()

    def _axis_chosen(self) -> None:
        for combo, edit in zip(self.axis_combos, self.value_edits, strict=True):
            name = combo.currentData()
            edit.setEnabled(name is not None)
            edit.setPlaceholderText(AXIS_HELP.get(name, "") if name else "")
        self.check_soon()

    # ---- wiring --------------------------------------------------------------------------------
    def attach(self, bridge: EngineBridge) -> None:
        """Run on the window's worker through `bridge`; every picture it finishes is timed."""
        self._bridge = bridge
        bridge.finished.connect(lambda _job, _image, event: self.timings.note(event))

    def set_gallery(self, gallery: GalleryPanel | None) -> None:
        """Where the grids are saved; its `recorded` signal tells which entry each cell became."""
        self._gallery = gallery
        if gallery is not None:
            gallery.recorded.connect(self._on_recorded)

    def set_axis(self, letter: str, name: str | None, values: str = "") -> None:
        """Choose an axis and its values, as the artist would (tests, restored sweeps)."""
        row = AXES.index(letter.upper())
        combo = self.axis_combos[row]
        combo.setCurrentIndex(max(0, combo.findData(name)))
        self.value_edits[row].setText(values)

    # ---- before running ------------------------------------------------------------------------
    def check_soon(self) -> None:
        self._check_timer.start()

    def sweep(self, base: GenerationRequest | None = None) -> Sweep:
        """The sweep the fields describe on `base` (the Prompt panel's request); RequestError."""
        base = self._base() if base is None else base
        if not base.prompt.strip():
            raise RequestError(EMPTY_PROMPT)
        axes: list[Axis | None] = []
        for letter, combo, edit in zip(AXES, self.axis_combos, self.value_edits, strict=True):
            name = combo.currentData()
            if name is None:
                axes.append(None)
                continue
            if not edit.text().strip():
                raise RequestError(f"type the {letter} values: {AXIS_HELP[name]}")
            axes.append(Axis.from_text(name, edit.text()))
        x, y, z = axes
        assert x is not None  # X has no "none" entry
        return Sweep(base, x, y, z).validate()

    def check(self) -> Sweep | None:
        """Work out the count and the estimate, or say what is wrong (and disable Run)."""
        self._check_timer.stop()
        try:
            sweep = self.sweep()
        except RequestError as exc:
            self.error.show_message(str(exc))
            self.count_label.setText("")
            self._enable()
            return None
        self.error.clear_message()
        columns, rows, grids = sweep.shape
        shape = f"{columns} × {rows}" + (f" in {grids} grids" if grids > 1 else "")
        seconds, source = self.timings.estimate(sweep)
        where = " on this computer's speed (a Ray cluster shares them out)" if self._ray_chosen() else ""
        self.count_label.setText(f"{sweep.count} cell{'s' if sweep.count != 1 else ''} ({shape}) · "
                                 f"about {duration(seconds)}{where} ({source})")
        self._enable()
        return sweep

    def _ray_chosen(self) -> bool:
        try:
            return self._settings().grids_use_ray()
        except Exception:  # unreadable settings fall back to this computer, as the engine does
            return False

    def _enable(self) -> None:
        running = self._run is not None
        self.run_button.setEnabled(not running and not self.error.message())
        self.cancel_button.setEnabled(running and not self._run.cancelled)

    def error_text(self) -> str:
        return self.error.message()

    # ---- running -------------------------------------------------------------------------------
    def run(self) -> bool:
        """Start the grid the fields describe; False (and one line said) if it cannot start."""
        if self._run is not None:
            return False
        try:
            sweep = self.sweep(self._run_request())
        except RequestError as exc:
            self.error.show_message(str(exc))
            self._enable()
            return False
        self.error.clear_message()
        settings = self._settings()
        run = _Run(sweep, settings.grids_use_ray())
        self._run = self._shown = run
        self.view.show_sweep(sweep)
        self.progress.setValue(0)
        self._enable()
        if run.on_ray:
            self._say(f"Connecting to Ray at {settings.resolved_ray_address()}…", window=True)
            self._start_ray(run, settings)
        elif self._bridge is None:
            self._stop_with(run, "the engine is not ready yet")
        else:
            self._start(run, BridgeExecutor(self._bridge))
        return self._run is run

    def _start_ray(self, run: _Run, settings: EngineSettings) -> None:
        key = (settings.resolved_ray_address(), settings.ray_actors)
        if self._ray_executor is not None and self._ray_executor[0] == key:
            self._start(run, self._ray_executor[1])
            return

        def make() -> None:  # joining a cluster takes seconds: never on the GUI thread
            try:
                self._ray.emit(run, make_ray_executor(settings))
            except RuntimeError as exc:
                self._ray.emit(run, str(exc))
            except Exception as exc:  # never lose the answer: the panel would wait forever
                log.exception("making the Ray executor failed")
                self._ray.emit(run, f"Could not start Ray: {exc}")

        old, self._ray_executor = self._ray_executor, None
        if old is not None:
            threading.Thread(target=old[1].shutdown, args=(10.0,), daemon=True, name="grid-ray-stop").start()
        self._ray_key = key
        threading.Thread(target=make, daemon=True, name="grid-ray-start").start()

    def _on_ray_made(self, run: _Run, made: Any) -> None:
        if isinstance(made, str):
            self._stop_with(run, made)
            return
        self._ray_executor = (self._ray_key, made)
        if run is not self._run or run.cancelled:
            self._stop_with(run, "Cancelled before any cell started.")
            return
        self._start(run, made)

    def _start(self, run: _Run, executor: Executor) -> None:
        def ended(cell: Cell, event: Event) -> None:  # on the executor's events thread
            image = pil_to_qimage(event.image) if isinstance(event, Finished) else None
            self._cell.emit(run, cell, event, image)

        sweep_run = SweepRun(run.sweep, executor, on_cell=ended,
                             on_progress=lambda state: self._fraction.emit(run, state.fraction))
        run.sweep_run = sweep_run
        try:
            sweep_run.start()
        except Exception as exc:  # RequestError, or an engine that cannot start
            sweep_run.cancel()
            self._stop_with(run, str(exc))
            return
        where = "on the Ray cluster" if run.on_ray else "on this computer"
        self._say(f"Making {run.sweep.count} cells {where}…", window=True)

    def cancel(self) -> None:
        """Stop the cells not made yet; the finished ones stay and are saved as a grid."""
        run = self._run
        if run is None or run.cancelled:
            return
        run.cancelled = True
        self._enable()
        self._say("Cancelling the cells not made yet…")
        if run.sweep_run is not None:
            run.sweep_run.cancel()

    def running(self) -> bool:
        return self._run is not None

    def _on_fraction(self, run: _Run, fraction: float) -> None:
        if run is self._run and run.ended < run.sweep.count:  # a late one never moves the bar back
            self.progress.setValue(int(fraction * 1000))

    def _on_cell(self, run: _Run, cell: Cell, event: Event, image: QImage | None) -> None:
        if run is not self._run:
            return
        run.ended += 1
        if isinstance(event, Finished):
            run.events[cell.index] = event
            self.timings.note(event)
            if image is not None:
                self.view.set_cell(cell.index, image)
            if run.on_ray and self._gallery is not None:  # the bridge records its own jobs
                self._gallery.record(event)
        elif isinstance(event, Failed):
            self.view.set_note(cell.index, "failed")
            run.problem = run.problem or f"A cell failed: {event.message}"
        elif isinstance(event, Cancelled):
            self.view.set_note(cell.index, "cancelled")
        total = run.sweep.count
        if run.ended < total:
            self._say(_with_problem(f"{len(run.events)} of {_cells(total)} made", run))
            return
        self._finish(run)

    # ---- saving --------------------------------------------------------------------------------
    def _finish(self, run: _Run) -> None:
        self.progress.setValue(self.progress.maximum())
        made = len(run.events)
        if not made:
            self._stop_with(run, run.problem or "Cancelled before any cell was made: nothing to save.")
            return
        if self._gallery is None:
            self._stop_with(run, _with_problem(f"{_cells(made)} made; the gallery is unavailable, so the "
                                               "grid is not saved", run))
            return
        self._say(f"{made} of {_cells(run.sweep.count)} made · saving the grid to the gallery…")
        # Once the gallery's writer has stored every cell queued so far, their entries are known.
        self._gallery.after_recorded(lambda: self._recorded_all.emit(run, 0))

    def _on_recorded(self, record: Record) -> None:
        """A gallery entry was stored: if it is one of the running grid's cells, remember which."""
        run = self._run
        if run is None:
            return
        for index, event in run.events.items():
            if index not in run.records and event.request == record.request:
                run.records[index] = record
                return

    def _on_recorded_all(self, run: _Run, tries: int) -> None:
        gallery = self._gallery
        if gallery is None or run is not self._run:
            return
        if len(run.records) < len(run.events) and tries < 2:  # a cell's record may still be queued
            gallery.after_recorded(lambda: self._recorded_all.emit(run, tries + 1))
            return
        ids = {index: record.id for index, record in run.records.items()}
        events = dict(run.events)
        store = gallery.gallery

        def save() -> None:  # on the gallery's writer thread: composing and writing take a while
            try:
                self._saved.emit(run, save_grids(store, run.sweep, events, ids))
            except Exception as exc:
                log.exception("saving the grid failed")
                self._saved.emit(run, f"The grid could not be saved: {exc}")

        gallery.after_recorded(save)

    def _on_saved(self, run: _Run, saved: Any) -> None:
        if run is not self._run:
            return
        if isinstance(saved, str):
            self._stop_with(run, saved)
            return
        gallery = self._gallery
        for record in saved:
            if gallery is not None and gallery.model.matches(record):
                gallery.model.put(0, record)
        grids = len(saved)
        text = f"Saved {grids} grid{'s' if grids != 1 else ''} to the gallery with {_cells(len(run.events))}"
        self._stop_with(run, _with_problem(text, run))

    def _stop_with(self, run: _Run, text: str) -> None:
        if run is self._run:
            self._run = None
        self._say(text, window=True)
        self.check()  # the estimate now has this run's pictures to go by
        self.runEnded.emit()

    def _say(self, text: str, window: bool = False) -> None:
        self.status.setText(text)
        if window:  # the status bar hears of starts and ends, not of every cell
            self.message.emit(text)

    # ---- the result ----------------------------------------------------------------------------
    def _open_cell(self, index: Index) -> None:
        run = self._last_run()
        if run is None:
            return
        record = run.records.get(index)
        if record is not None:
            self.openRecord.emit(record)
        elif index in run.events:
            self.openImage.emit(pil_to_qimage(run.events[index].image))

    def _last_run(self) -> _Run | None:
        return self._run or self._shown

    def close_down(self) -> None:
        """The window closes: stop the grid's cells and let go of a Ray cluster."""
        if self._run is not None and self._run.sweep_run is not None:
            self._run.sweep_run.cancel()
        if self._ray_executor is not None:
            self._ray_executor[1].shutdown(5.0)
            self._ray_executor = None


def _cells(count: int) -> str:
    return f"{count} cell{'s' if count != 1 else ''}"


def _with_problem(text: str, run: _Run) -> str:
    return f"{text} · {run.problem}" if run.problem else text
