"""The gallery panel: a thumbnail grid (newest first) with search and filters, a detail pane with
every parameter, and actions sent out as signals for the window to act on.

studio/ui/composition.py mounts it with `window.add_panel(panel.as_dock(window))` and wires
`reuseParameters` to `prompt_panel.apply_request`, `parametersImported` to
`prompt_panel.apply_import`, and `bridge.finished` to `record_finished()`. Dropping image files on the panel reads their embedded parameters
(ours, A1111, InvokeAI, ComfyUI) off the GUI thread into `parametersImported`
(studio/ui/gallery_import.py); the actions and recording live in studio/ui/gallery_actions.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime
from typing import Any

from PySide6.QtCore import QObject, Qt, QTimer, Signal
from PySide6.QtGui import QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QDockWidget,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QMenu,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.metadata import format_parameters
from studio.gallery import Filters, Gallery, GalleryError, Record
from studio.gallery.grids import grid_command_of, grid_shape
from studio.ui.boards_panel import BoardsPanel
from studio.ui.gallery_actions import GalleryActions
from studio.ui.gallery_choosing import GalleryChoosing
from studio.ui.gallery_grid import TileGrid
from studio.ui.gallery_import import DropImport
from studio.ui.gallery_model import THUMB, GalleryModel, RecordRole, in_background
from studio.ui.serial_worker import SerialWorker

log = logging.getLogger(__name__)

MODES = ("txt2img", "img2img", "inpaint", "outpaint", "blend")
# The sort menu: (label, Filters.sort, descending)
SORTS = (("Newest", "date", True), ("Oldest", "date", False), ("Best rated", "rating", True),
         ("Prompt A–Z", "prompt", False), ("Model", "model", False), ("Largest", "size", True))


class GalleryPanel(GalleryActions, GalleryChoosing, DropImport, QWidget):
    """Browse, search and act on past images. Emits, never reaches into other widgets."""

    openOnCanvas = Signal(object)  # Record
    reuseParameters = Signal(object)  # GenerationRequest
    parametersImported = Signal(object)  # gallery_import.DroppedParameters, from a dropped image
    useAsSource = Signal(object)  # Record: a source for img2img / inpaint
    message = Signal(str)  # one line for the status bar
    recorded = Signal(object)  # Record, after record() stored a finished job
    alert = Signal(str)  # one line the artist must see (the gallery was repaired)
    _stored = Signal(object)  # writer thread -> GUI thread
    _healed = Signal(str)  # any thread -> GUI thread: the database was rebuilt or files adopted
    _read = Signal(object)  # reader thread -> GUI thread: DroppedParameters or MetadataError
    _restacked = Signal(object)  # writer thread -> GUI thread: [head id, member ids…] just stacked

    def __init__(self, gallery: Gallery, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.gallery = gallery
        self.model = GalleryModel(gallery, parent=self)
        self._current: Record | None = None
        self._undo: list[tuple[int, int]] = []  # (row, record id) of soft-deleted entries
        self._writer = SerialWorker("gallery-writer")  # every gallery write, in order
        self._reader = SerialWorker("image-import")  # reads dropped images' parameters
        self._leave_out: list[Callable[[int], bool]] = []  # rules for jobs not to record
        self._board: str | None = None  # the board the grid shows (None: everything)
        self._stack_head: int | None = None  # the stack the grid shows, if expanded
        self._job_stacks: dict[int, dict[str, Any]] = {}  # job id -> its strip's stacking group
        self._build()
        self._connect()
        self.setAcceptDrops(True)
        self._show_detail(None)
        self._update_count()
        if gallery.notice:
            self.status.setText(gallery.notice)

    # ---- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.search = QLineEdit(placeholderText="Search prompts and tags…")
        self.search.setClearButtonEnabled(True)
        self.favourites = QToolButton(text="★", checkable=True, toolTip="Favourites only")
        self.model_filter = QComboBox(toolTip="Model")
        self.mode_filter = QComboBox(toolTip="Mode")
        self.mode_filter.addItem("All modes", None)
        for mode in MODES:
            self.mode_filter.addItem(mode, mode)
        self.model_filter.addItem("All models", None)
        self._models_relay = _ModelsRelay()  # the names arrive from the reading thread
        self._models_relay.read.connect(self._set_models)
        in_background(_read_models, self.gallery, self._models_relay)
        self.rating_filter = QComboBox(toolTip="Rating at least")
        self.rating_filter.addItem("Any rating", 0)
        for stars in range(1, 6):
            self.rating_filter.addItem(f"≥ {stars}✦", stars)
        self.stacks_button = QToolButton(text="▣", checkable=True, checked=True,
                                         toolTip="Stacks as one tile (off: every picture)")
        self.sort_combo = QComboBox(toolTip="Order")
        for label, key, descending in SORTS:
            self.sort_combo.addItem(label, (key, descending))
        filters = QHBoxLayout()  # the search gets a row of its own width: it is used most
        filters.addWidget(self.search, 1)
        filters.addWidget(self.favourites)
        filters.addWidget(self.stacks_button)
        menus = QHBoxLayout()
        for combo in (self.model_filter, self.mode_filter, self.rating_filter, self.sort_combo):
            menus.addWidget(combo, 1)

        self.view = TileGrid(self.model)  # lines of tiles: constant-time layout at any size
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.view.setDragDropMode(QAbstractItemView.DragDropMode.DragOnly)
        self.view.setDefaultDropAction(Qt.DropAction.CopyAction)

        self.boards = BoardsPanel(self.gallery)
        self.board_label = QLabel()
        self.board_label.hide()
        self.stack_bar_label = QLabel()
        self.back_button = QPushButton("◂ Back", toolTip="Back to the gallery (Backspace)")
        self.stack_bar = QWidget()
        bar = QHBoxLayout(self.stack_bar)
        bar.setContentsMargins(0, 0, 0, 0)
        bar.addWidget(self.back_button)
        bar.addWidget(self.stack_bar_label, 1)
        self.stack_bar.hide()
        self.count_label = QLabel()
        self.undo_button = QPushButton("Undo delete")
        self.undo_button.hide()
        self.status = QLabel(wordWrap=True)

        self.details = QPlainTextEdit(readOnly=True)
        self.details.setPlaceholderText("Select an image to see how it was made.")
        self.tags = QLineEdit(placeholderText="tags, comma separated")
        self.open_button = QPushButton("Open", toolTip="Open on the canvas (double-click)")
        self.reuse_button = QPushButton("Reuse", toolTip="Put these parameters in the prompt panel")
        self.source_button = QPushButton("As source", toolTip="Use as the source for a variation or inpaint")
        self.favourite_button = QToolButton(text="☆", checkable=True, toolTip="Favourite")
        self.delete_button = QPushButton("Delete")
        self.stack_button = QPushButton("Stack ▸", toolTip="Show the pictures of this stack (Enter)")
        self.live_button = QPushButton("Live frames…", toolTip="Every frame rendered while its slider moved")
        self.rating_label = QLabel(toolTip="Rating: keys 0–5 on the grid")
        self.parent_button = QPushButton("Parent")
        self.children_button = QToolButton(text="Children")
        self.children_button.setPopupMode(QToolButton.ToolButtonPopupMode.InstantPopup)
        # Never squeezed below its text (a tool button would be, unlike the push buttons beside it).
        self.children_button.setSizePolicy(QSizePolicy.Policy.Minimum, QSizePolicy.Policy.Fixed)
        self.children_menu = QMenu(self.children_button)
        self.children_button.setMenu(self.children_menu)

        actions = QHBoxLayout()
        for button in (self.open_button, self.reuse_button, self.source_button):
            actions.addWidget(button)
        more = QHBoxLayout()
        for button in (self.favourite_button, self.parent_button, self.children_button, self.delete_button):
            more.addWidget(button)
        choosing = QHBoxLayout()  # rating, and a stack's or a kept live frame's pictures
        choosing.addWidget(self.rating_label)
        choosing.addStretch(1)
        choosing.addWidget(self.stack_button)
        choosing.addWidget(self.live_button)

        # The grid and the parameters share a splitter; tags and actions sit below it, so they are
        # always in full view whatever the split (the parameters text scrolls on its own).
        self.details.setMinimumHeight(40)
        self.view.setMinimumSize(THUMB + 24, THUMB // 2)
        grid = QWidget()
        grid_layout = QVBoxLayout(grid)
        grid_layout.setContentsMargins(0, 0, 0, 0)
        grid_layout.addWidget(self.board_label)
        grid_layout.addWidget(self.stack_bar)
        grid_layout.addWidget(self.view, 1)
        self.side = QSplitter(Qt.Orientation.Horizontal)  # boards beside the grid
        self.side.addWidget(self.boards)
        self.side.addWidget(grid)
        self.side.setStretchFactor(1, 4)
        self.side.setSizes([110, 400])
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        splitter.addWidget(self.side)
        splitter.addWidget(self.details)
        splitter.setStretchFactor(0, 3)
        splitter.setStretchFactor(1, 2)
        self.splitter = splitter

        footer = QHBoxLayout()
        footer.addWidget(self.count_label, 1)
        footer.addWidget(self.undo_button)
        layout = QVBoxLayout(self)
        layout.addLayout(filters)
        layout.addLayout(menus)
        layout.addWidget(splitter, 1)
        layout.addWidget(self.tags)
        layout.addLayout(actions)
        layout.addLayout(more)
        layout.addLayout(choosing)
        layout.addLayout(footer)
        layout.addWidget(self.status)

    def _connect(self) -> None:
        self._search_timer = QTimer(self, singleShot=True, interval=200)  # search once typing pauses
        self._search_timer.timeout.connect(self.apply_filters)
        self.search.textChanged.connect(self._search_timer.start)
        self.search.returnPressed.connect(self.apply_filters)
        self.favourites.toggled.connect(self.apply_filters)
        self.model_filter.currentIndexChanged.connect(self.apply_filters)
        self.mode_filter.currentIndexChanged.connect(self.apply_filters)
        self.rating_filter.currentIndexChanged.connect(self.apply_filters)
        self.sort_combo.currentIndexChanged.connect(self.apply_filters)
        self.stacks_button.toggled.connect(self.apply_filters)
        self.view.selectionModel().currentChanged.connect(self._on_current)
        self.view.doubleClicked.connect(lambda _i: self.activate())
        self.model.modelReset.connect(  # a reset replaces the selection model's rows, not itself
            lambda: self._show_detail(None))
        self.boards.boardChosen.connect(self.set_board)
        self.boards.message.connect(self._error)
        self.back_button.clicked.connect(self.collapse_stack)
        self.stack_button.clicked.connect(lambda: self.expand_stack())
        self.live_button.clicked.connect(self.open_live_frames)
        self.model.modelReset.connect(self._update_count)
        self.model.counted.connect(self._update_count)
        self.model.rowsInserted.connect(self._update_count)
        self.model.rowsRemoved.connect(self._update_count)
        self.open_button.clicked.connect(lambda: self._emit_record(self.openOnCanvas))
        self.source_button.clicked.connect(lambda: self._emit_record(self.useAsSource))
        self.reuse_button.clicked.connect(self._reuse)
        self.favourite_button.toggled.connect(self._on_favourite)
        self.tags.editingFinished.connect(self._on_tags)
        self.delete_button.clicked.connect(self.delete_selected)
        self.undo_button.clicked.connect(self.undo_delete)
        self.parent_button.clicked.connect(self._show_parent)
        self.children_menu.triggered.connect(lambda action: self.show_record(int(action.data())))
        self._stored.connect(self._on_stored)
        self._healed.connect(self._on_healed)
        self.gallery.on_healed = self._healed.emit
        self._read.connect(self._on_read)
        self._restacked.connect(self._on_restacked)
        # Only while the gallery has focus: the window's own Delete/Ctrl+Z (mask undo) stay theirs.
        # The Delete key alone: the platform's "Delete" on Linux also means Ctrl+D, which is Edit
        # by Description (the two were ambiguous, so neither worked with a tile selected).
        for key, owner, slot in ((QKeySequence(Qt.Key.Key_Delete), self.view, self.delete_selected),
                                 (QKeySequence.StandardKey.Undo, self, self.undo_delete)):
            shortcut = QShortcut(key, owner, slot)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)

    def as_dock(self, parent: QWidget | None = None) -> QDockWidget:
        """This panel in a dock named "galleryDock", ready for MainWindow.add_panel()."""
        dock = QDockWidget("Gallery", parent)
        dock.setObjectName("galleryDock")
        dock.setWidget(self)
        return dock

    # ---- filters -----------------------------------------------------------------------------
    def _fill_models(self) -> None:
        try:
            self._set_models(self.gallery.models())
        except GalleryError as exc:
            self._error(str(exc))

    def _set_models(self, names: list[str] | str) -> None:
        """The model menu's names (a str: the error reading them)."""
        if isinstance(names, str):
            self._error(names)
            return
        current = self.model_filter.currentData()
        self.model_filter.blockSignals(True)
        self.model_filter.clear()
        self.model_filter.addItem("All models", None)
        for name in names:
            self.model_filter.addItem(name, name)
        index = self.model_filter.findData(current)
        self.model_filter.setCurrentIndex(max(0, index))
        self.model_filter.blockSignals(False)

    def filters(self) -> Filters:
        sort, descending = self.sort_combo.currentData()
        return Filters(text=self.search.text().strip(), favourites_only=self.favourites.isChecked(),
                       model=self.model_filter.currentData(), mode=self.mode_filter.currentData(),
                       board=self._board, min_rating=self.rating_filter.currentData(), sort=sort,
                       descending=descending, stacks=self.stacks_button.isChecked())

    def apply_filters(self) -> None:
        self._search_timer.stop()
        self.stack_bar.hide()
        self.model.reload(self.filters())
        self.view.scrollToTop()  # a new result starts at its first picture, not where the last one was
        self._show_detail(None)

    def _update_count(self, *_args: Any) -> None:
        total = self.model.total()
        if self.model.counting():  # the first page is shown; the total comes off the GUI thread
            self.count_label.setText(f"{total}+ images (counting…)")
        else:
            self.count_label.setText(f"{total} image{'s' if total != 1 else ''}")

    def activate(self) -> None:
        """Double-click or Enter: a stack opens to its pictures; a picture opens on the canvas."""
        record = self._current
        if record is not None and not self.in_stack() and record.stack_size > 1:
            self.expand_stack(record)
        else:
            self._emit_record(self.openOnCanvas)

    # ---- selection and details ---------------------------------------------------------------
    def current_record(self) -> Record | None:
        return self._current

    def _on_current(self, current, _previous=None) -> None:
        self._show_detail(current.data(RecordRole) if current.isValid() else None)

    def _show_detail(self, record: Record | None) -> None:
        self._current = record
        enabled = record is not None
        for widget in (self.open_button, self.reuse_button, self.source_button, self.favourite_button,
                       self.delete_button, self.tags):
            widget.setEnabled(enabled)
        self.stack_button.setVisible(enabled and record.stack_size > 1 and not self.in_stack())
        self.stack_button.setText(f"Stack ({record.stack_size}) ▸" if enabled else "Stack ▸")
        session = self.live_session_of(record) if enabled else None
        try:
            frames = len(self.gallery.scratch_frames(session)) if session else 0
        except GalleryError:
            frames = 0
        self.live_button.setVisible(frames > 0)
        self.live_button.setText(f"Live frames ({frames})…")
        self.rating_label.setText(stars(record.rating) if enabled else "")
        self.parent_button.setEnabled(enabled and record.parent_id is not None)
        self.children_menu.clear()
        self.favourite_button.blockSignals(True)
        self.favourite_button.setChecked(bool(record and record.favourite))
        self.favourite_button.setText("★" if record and record.favourite else "☆")
        self.favourite_button.blockSignals(False)
        if record is None:
            self.details.setPlainText("")
            self.tags.setText("")
            self.children_button.setEnabled(False)
            return
        try:
            children = self.gallery.children(record.id)
        except GalleryError:
            children = []
        for child in children:
            action = self.children_menu.addAction(f"{child.id}: {child.prompt[:40]}")
            action.setData(child.id)
        self.children_button.setEnabled(bool(children))
        self.children_button.setText(f"Children ({len(children)})")
        self.tags.setText(", ".join(record.tags))
        self.details.setPlainText(describe(record))

    def show_record(self, record_id: int) -> None:
        """Select an entry in the grid if it is loaded, and show its details either way."""
        row = self.model.row_of(record_id)
        if row >= 0:
            self.view.select_row(row)
            return
        try:
            self._show_detail(self.gallery.get(record_id))
        except GalleryError as exc:
            self._error(str(exc))

    def _show_parent(self) -> None:
        if self._current is not None and self._current.parent_id is not None:
            self.show_record(self._current.parent_id)

    # ---- misc --------------------------------------------------------------------------------
    def _on_healed(self, text: str) -> None:
        """The gallery rebuilt itself or listed files it had lost: show what it holds now."""
        self._fill_models()
        self.boards.refresh()
        self.model.reload(self.filters())
        self._show_detail(None)
        self.status.setText(text)
        self.alert.emit(text)

    def _error(self, text: str) -> None:
        self.status.setText(text)
        self.message.emit(text)

    def closeEvent(self, event) -> None:
        self.stop_imports()
        self.wait_recorded()
        self.boards.wait_read()
        self.model.close()
        super().closeEvent(event)


class _ModelsRelay(QObject):
    read = Signal(object)  # reading thread -> GUI thread: model names, or an error line


def _read_models(gallery: Gallery, relay: _ModelsRelay) -> None:
    """On the reading thread: the model menu's names (a DISTINCT over every entry)."""
    try:
        names: list[str] | str = gallery.models()
    except GalleryError as exc:
        names = str(exc)
    relay.read.emit(names)


def describe(record: Record) -> str:
    """Every parameter of an entry, as the detail pane shows it."""
    req = record.request
    lines = [
        format_parameters(req, record.info),
        "",
        f"Id: {record.id}    Mode: {record.mode}",
        f"Created: {datetime.fromtimestamp(record.created):%Y-%m-%d %H:%M:%S}",
        f"Model: {record.model_name}" + (f"  ({record.model_hash[:12]})" if record.model_hash else ""),
        f"Scheduler: {req.scheduler}    Steps: {req.steps}    Guidance: {req.guidance_scale:g}",
        f"Seed: {req.seed}    Size: {req.width}x{req.height}",
    ]
    shape = grid_shape(record)
    if shape is not None:  # a sweep's grid: its request is the base each cell varies
        lines[3:3] = [f"Grid: {shape[0]} × {shape[1]} cells (its children), made from",
                      "the settings below; to make it again: " + (grid_command_of(record) or "(not recorded)")]
    if req.init_image:
        lines.append(f"Source: {req.init_image}  (strength {req.strength:g})")
    if req.mask_image:
        lines.append(f"Mask: {req.mask_image}  (feather {req.mask_feather}, padding {req.masked_padding},"
                     f" masked only: {'yes' if req.masked_only else 'no'})")
    if req.blend_prompts:
        for prompt, weight in zip(req.blend_prompts, req.blend_weights, strict=True):
            lines.append(f"Blend: {weight:g} × {prompt}  ({req.blend_mode})")
    if req.seed_b is not None:
        lines.append(f"Seed B: {req.seed_b}  (mix {req.seed_mix:g})")
    for path, weight in req.loras:
        lines.append(f"LoRA: {path}  ({weight:g})")
    if record.timings:
        lines.append("Timings: " + ", ".join(f"{k} {v:.2f}s" for k, v in record.timings.items()
                                             if isinstance(v, int | float)))
    if record.parent_id is not None:
        lines.append(f"Made from: {record.parent_id}")
    if record.tags:
        lines.append(f"Tags: {', '.join(record.tags)}")
    if record.rating:
        lines.append(f"Rating: {stars(record.rating)}  ({record.rating}/5)")
    if record.boards:
        lines.append(f"Boards: {', '.join(record.boards)}")
    if record.stack_size > 1:
        lines.append(f"Stack: {record.stack_size} pictures (Enter shows them)")
    lines.append(f"File: {record.path}")
    return "\n".join(lines)


def stars(rating: int) -> str:
    return "✦" * rating + "·" * (5 - rating)
