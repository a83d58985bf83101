"""The gallery's context menu (right click on the grid, or the Menu key / Shift+F10) and the same
actions on the keyboard while the grid has focus: open on canvas (Enter), export the selection
(File > Export As…, Ctrl+Shift+E, while the grid has focus: a folder dialog, with progress), copy the image (Ctrl+C), copy the prompt
(Ctrl+Alt+C), reuse settings (R), use as source (S), favourite (F), tags (T), delete (Delete),
rate (0–5), compare two (C), a stack's pictures (Enter) and back (Backspace), set as cover,
add to a board, a kept live frame's strip.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QObject, QPoint, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QGuiApplication, QImage, QKeySequence
from PySide6.QtWidgets import QFileDialog, QMenu, QProgressDialog

from studio.gallery import Filters, GalleryError, Record
from studio.gallery.export import export_record
from studio.ui.compare_view import CompareDialog
from studio.ui.gallery_panel import GalleryPanel
from studio.ui.serial_worker import SerialWorker


class GalleryMenu(QObject):
    """Actions on the selected gallery entries. `export_settings()` gives (folder, format, quality)
    for exports (shared with the File menu); `remember_folder(path)` keeps the chosen folder."""

    message = Signal(str, bool)  # text, is an error
    _progress = Signal(int, object)  # done count, Path | Exception (worker -> GUI)

    def __init__(self, panel: GalleryPanel, settings: QSettings,
                 export_settings: Callable[[], tuple[Path, str, int]]) -> None:
        super().__init__(panel)
        self.panel = panel
        self._settings = settings
        self._export_settings = export_settings
        self._writer = SerialWorker("gallery-export")
        self._dialog: QProgressDialog | None = None
        self._cancelled = False
        self._failures: list[str] = []
        self._written: list[Path] = []
        self._progress.connect(self._on_progress)
        view = panel.view
        self.actions: dict[str, QAction] = {}
        for key, text, shortcut, slot in (
            ("open", "Open on Canvas", "Return", panel.activate),
            ("export", "Export…", "", self.export_selected),  # Ctrl+Shift+E: see export_if_focused
            ("copy_image", "Copy Image", "Ctrl+C", self.copy_image),
            ("copy_prompt", "Copy Prompt", "Ctrl+Alt+C", self.copy_prompt),
            ("reuse", "Reuse Settings", "R", panel._reuse),
            ("source", "Use as Source", "S", lambda: panel._emit_record(panel.useAsSource)),
            ("favourite", "Favourite", "F", self.toggle_favourite),
            ("tags", "Tags…", "T", self.edit_tags),
            ("delete", "Delete", "", panel.delete_selected),  # the panel's own Delete shortcut
            ("compare", "Compare", "C", self.compare),
            ("back", "Back to Gallery", "Backspace", panel.collapse_stack),
            ("cover", "Set as Cover", "", panel.set_cover),
            ("live", "Live Frames…", "", panel.open_live_frames),
            ("new_board", "New Board…", "", self.add_to_new_board),
            *((f"rate{n}", f"{n}✦" if n else "No rating", str(n),
               lambda n=n: panel.rate_selected(n)) for n in range(6)),
        ):
            action = QAction(text, view)
            if shortcut:
                action.setShortcut(QKeySequence(shortcut))
                action.setShortcutContext(Qt.ShortcutContext.WidgetShortcut)  # only on the grid
                view.addAction(action)
            action.triggered.connect(lambda _checked=False, slot=slot: slot())
            self.actions[key] = action
        self.actions["delete"].setShortcut(QKeySequence(QKeySequence.StandardKey.Delete))
        self.actions["delete"].setShortcutVisibleInContextMenu(True)
        self.actions["favourite"].setCheckable(True)
        view.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        view.customContextMenuRequested.connect(self.show_menu)
        panel.boards.exportRequested.connect(self.export_board)
        self._compare: CompareDialog | None = None

    # ---- the menu ----------------------------------------------------------------------------
    def selected(self) -> list[Record]:
        view, model = self.panel.view, self.panel.model
        rows = view.selected_rows()
        records = [r for r in (model.record_at(row) for row in rows) if r is not None]
        current = self.panel.current_record()
        return records or ([current] if current is not None else [])

    def build_menu(self) -> QMenu:
        records = self.selected()
        menu = QMenu(self.panel.view)
        one = len(records) == 1
        for key in ("open", "source", "reuse"):
            menu.addAction(self.actions[key])
            self.actions[key].setEnabled(one)
        menu.addSeparator()
        self.actions["export"].setText(f"Export {len(records)} Images…" if len(records) > 1 else "Export…")
        for key in ("export", "copy_image", "copy_prompt"):
            menu.addAction(self.actions[key])
            self.actions[key].setEnabled(bool(records) and (key == "export" or one))
        menu.addSeparator()
        self.actions["favourite"].setChecked(one and records[0].favourite)
        for key in ("favourite", "tags"):
            menu.addAction(self.actions[key])
            self.actions[key].setEnabled(one)
        rate = menu.addMenu("Rating")
        for n in range(6):
            rate.addAction(self.actions[f"rate{n}"])
        boards = menu.addMenu("Add to Board")
        for name, count in self.panel.boards.counts().items():
            action = boards.addAction(f"{name}  ({count})")
            action.triggered.connect(lambda _c=False, name=name: self.add_to_board(name))
        boards.addSeparator()
        boards.addAction(self.actions["new_board"])
        menu.addAction(self.actions["compare"])
        self.actions["compare"].setEnabled(len(records) == 2)
        self._add_stack_actions(menu, records)
        menu.addSeparator()
        menu.addAction(self.actions["delete"])
        return menu

    def _add_stack_actions(self, menu: QMenu, records: list[Record]) -> None:
        panel = self.panel
        one = records[0] if len(records) == 1 else None
        if one is not None and one.stack_size > 1 and not panel.in_stack():
            self.actions["open"].setText(f"Open Stack ({one.stack_size})")
        else:
            self.actions["open"].setText("Open on Canvas")
        if panel.in_stack():
            menu.addAction(self.actions["cover"])
            self.actions["cover"].setEnabled(one is not None)
            menu.addAction(self.actions["back"])
        if one is not None and panel.live_session_of(one):
            menu.addAction(self.actions["live"])

    def show_menu(self, pos: QPoint) -> None:
        index = self.panel.view.indexAt(pos)
        if index.isValid() and not self.panel.view.selectionModel().isSelected(index):
            self.panel.view.setCurrentIndex(index)  # right click selects what is under it
        if not self.selected():
            return
        self.build_menu().exec(self.panel.view.viewport().mapToGlobal(pos))

    # ---- actions -----------------------------------------------------------------------------
    def copy_image(self) -> None:
        records = self.selected()
        if len(records) != 1:
            return
        image = QImage(str(records[0].path))
        if image.isNull():
            self.message.emit(f"Cannot read {records[0].path.name}", True)
            return
        QGuiApplication.clipboard().setImage(image)
        self.message.emit("Copied the image to the clipboard", False)

    def copy_prompt(self) -> None:
        records = self.selected()
        if len(records) == 1:
            QGuiApplication.clipboard().setText(records[0].prompt)
            self.message.emit("Copied the prompt to the clipboard", False)

    def toggle_favourite(self) -> None:
        records = self.selected()
        if len(records) == 1:
            self.panel.favourite_button.setChecked(not records[0].favourite)

    def compare(self) -> CompareDialog | None:
        """Exactly two selected: show them side by side (or split) with what differs."""
        records = self.selected()
        if len(records) != 2:
            self.message.emit("Select two pictures to compare (Ctrl+click the second)", False)
            return None
        self._compare = CompareDialog(records[0], records[1], self.panel.window())
        self._compare.show()
        self._compare.raise_()
        self._compare.activateWindow()  # keys (Escape closes it) go to the comparison, not the grid
        return self._compare

    def add_to_board(self, name: str) -> int:
        return self.panel.boards.add_to_board(name, [r.id for r in self.selected()])

    def add_to_new_board(self, name: str | None = None) -> None:
        made = self.panel.boards.new_board(name)
        if made:
            self.add_to_board(made)

    def export_board(self, name: str, folder: str | Path | None = None) -> None:
        """Export every picture on a board (the stacks' members too) through the usual export."""
        gallery = self.panel.gallery
        try:
            records = gallery.list(0, 1_000_000, Filters(board=name, stacks=False))
        except GalleryError as exc:
            self.message.emit(str(exc), True)
            return
        if not records:
            self.message.emit(f"The board “{name}” is empty", False)
            return
        self.export_records(records, folder)

    def edit_tags(self) -> None:
        self.panel.tags.setFocus(Qt.FocusReason.ShortcutFocusReason)
        self.panel.tags.selectAll()

    # ---- export ------------------------------------------------------------------------------
    def export_selected(self, folder: str | Path | None = None) -> None:
        """Every selected entry into one folder (chosen in a dialog), with progress; names from
        the prompt, parameters embedded, nothing overwritten."""
        self.export_records(self.selected(), folder)

    def export_records(self, records: list[Record], folder: str | Path | None = None) -> None:
        if not records:
            return
        default_folder, fmt, quality = self._export_settings()
        if folder is None:
            folder = QFileDialog.getExistingDirectory(self.panel, f"Export {len(records)} image"
                                                      f"{'s' if len(records) > 1 else ''} to",
                                                      str(default_folder))
            self.panel.window().activateWindow()  # the keyboard back, with or without a window manager
            if not folder:
                return
        folder = Path(folder)
        self._settings.setValue("export/folder", str(folder))
        self._settings.sync()
        self._cancelled, self._failures, self._written = False, [], []
        self._dialog = QProgressDialog(f"Exporting to {folder}…", "Stop", 0, len(records), self.panel)
        self._dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self._dialog.setMinimumDuration(400)  # only shown when it takes a while
        self._dialog.canceled.connect(self._cancel)
        gallery = self.panel.gallery

        def run() -> None:
            for done, record in enumerate(records, start=1):
                if self._cancelled:
                    break
                try:
                    result: object = export_record(gallery, record, folder, fmt, quality=quality)
                except (GalleryError, OSError) as exc:
                    result = exc
                self._progress.emit(done, result)
            self._progress.emit(-1, None)

        self._writer.submit(run)

    def export_if_focused(self) -> bool:
        """The window's Export As (Ctrl+Shift+E) while the grid has focus exports the selection
        instead of the canvas: the shortcut acts on what the artist is looking at."""
        if not self.panel.view.hasFocus() or not self.selected():
            return False
        self.export_selected()
        return True

    def _cancel(self) -> None:
        self._cancelled = True

    def wait_exported(self) -> None:
        self._writer.wait()

    def _on_progress(self, done: int, result: object) -> None:
        if done >= 0:
            if isinstance(result, Exception):
                self._failures.append(str(result))
            elif isinstance(result, Path):
                self._written.append(result)
            if self._dialog is not None:
                self._dialog.setValue(done)
            return
        if self._dialog is not None:
            self._dialog.reset()
            self._dialog = None
        if self._failures:
            self.message.emit(f"Exported {len(self._written)}; {len(self._failures)} failed: "
                              f"{self._failures[0]}", True)
        elif self._written:
            where = self._written[0].parent
            self.message.emit(f"Exported {len(self._written)} image{'s' if len(self._written) != 1 else ''} "
                              f"to {where}", False)
