"""Boards beside the gallery grid: named sets of pictures (a record can be on many). The list
shows each board with its count; clicking one filters the grid to it ("All pictures" shows
everything); thumbnails dragged onto a board join it. New, Rename, Delete and Export… act on
the selected board; Export hands the board's name to GalleryMenu (the existing export code).
"""

from __future__ import annotations

import logging

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QInputDialog,
    QListWidget,
    QListWidgetItem,
    QMessageBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.gallery import Gallery, GalleryError
from studio.ui.gallery_model import IdsMime
from studio.ui.serial_worker import SerialWorker

_NAME = Qt.ItemDataRole.UserRole
log = logging.getLogger(__name__)


def dropped_ids(mime) -> list[int]:
    """Record ids carried by dragged gallery tiles (none for other drags)."""
    if not mime.hasFormat(IdsMime):
        return []
    text = bytes(mime.data(IdsMime)).decode(errors="replace")
    return [int(part) for part in text.split(",") if part.strip().isdigit()]


class _BoardList(QListWidget):
    """The list itself: it takes dragged tiles onto the board under the pointer."""

    dropped = Signal(str, list)  # board name, record ids

    def __init__(self) -> None:
        super().__init__()
        self.setAcceptDrops(True)
        self.setDropIndicatorShown(True)
        self.setDragDropMode(QListWidget.DragDropMode.DropOnly)

    def _board_at(self, event) -> str | None:
        item = self.itemAt(event.position().toPoint())
        return item.data(_NAME) if item is not None else None

    def dragEnterEvent(self, event) -> None:
        if dropped_ids(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if dropped_ids(event.mimeData()) and self._board_at(event):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event) -> None:
        name, ids = self._board_at(event), dropped_ids(event.mimeData())
        if name and ids:
            event.acceptProposedAction()
            self.dropped.emit(name, ids)
        else:
            event.ignore()


class BoardsPanel(QWidget):
    boardChosen = Signal(object)  # str, or None for the whole gallery
    exportRequested = Signal(str)  # board name
    message = Signal(str)  # one line: what happened or went wrong
    _read = Signal(int, object)  # reader thread -> GUI: generation, boards or GalleryError

    def __init__(self, gallery: Gallery, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.gallery = gallery
        self.list = _BoardList()
        self.list.setToolTip("Click a board to show its pictures; drag pictures onto a board to add them")
        self.new_button = QToolButton(text="+", toolTip="New board")
        self.rename_button = QToolButton(text="✎", toolTip="Rename the board")
        self.delete_button = QToolButton(text="−", toolTip="Delete the board (its pictures stay)")
        self.export_button = QToolButton(text="⇪", toolTip="Export every picture on the board…")
        buttons = QHBoxLayout()
        buttons.setContentsMargins(0, 0, 0, 0)
        for button in (self.new_button, self.rename_button, self.delete_button, self.export_button):
            buttons.addWidget(button)
        buttons.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addWidget(self.list, 1)
        layout.addLayout(buttons)
        self.list.currentItemChanged.connect(self._on_current)
        self.list.dropped.connect(self.add_to_board)
        self.new_button.clicked.connect(lambda: self.new_board())
        self.rename_button.clicked.connect(lambda: self.rename_board())
        self.delete_button.clicked.connect(lambda: self.delete_board())
        self.export_button.clicked.connect(self._export)
        self._generation = 0
        self._reader = SerialWorker("boards-reader")
        self._read.connect(self._on_read)
        self._fill([])
        self.refresh_later()

    def current_board(self) -> str | None:
        item = self.list.currentItem()
        return item.data(_NAME) if item is not None else None

    def refresh(self) -> None:
        """Re-read the boards and their counts, keeping the selection."""
        self._generation += 1
        try:
            boards = self.gallery.boards()
        except GalleryError as exc:
            boards = []
            self.message.emit(str(exc))
        self._fill(boards)

    def refresh_later(self) -> None:
        """Read the boards on a worker thread (counting members over a large gallery takes a
        moment: the panel opens without waiting for it)."""
        generation = self._generation

        def read() -> None:
            try:
                try:
                    found: object = self.gallery.boards()
                except GalleryError as exc:
                    found = exc
                self._read.emit(generation, found)
            except Exception:  # the gallery or the panel closed meanwhile: nothing to show
                log.debug("boards not read", exc_info=True)

        self._reader.submit(read)

    def _on_read(self, generation: int, boards: object) -> None:
        if generation != self._generation:
            return  # a newer refresh already showed newer counts
        if isinstance(boards, Exception):
            self.message.emit(str(boards))
            boards = []
        self._fill(boards)

    def wait_read(self) -> None:
        self._reader.wait()

    def _fill(self, boards: list) -> None:
        current = self.current_board()
        self.list.blockSignals(True)
        self.list.clear()
        everything = QListWidgetItem("All pictures")
        everything.setData(_NAME, None)
        self.list.addItem(everything)
        for name, count in boards:
            item = QListWidgetItem(f"{name}  ({count})")
            item.setData(_NAME, name)
            item.setToolTip(f"{count} picture{'s' if count != 1 else ''}")
            self.list.addItem(item)
        for row in range(self.list.count()):
            if self.list.item(row).data(_NAME) == current:
                self.list.setCurrentRow(row)
                break
        else:
            self.list.setCurrentRow(0)
        self.list.blockSignals(False)
        self._update_buttons()

    def counts(self) -> dict[str, int]:
        try:
            return dict(self.gallery.boards())
        except GalleryError:
            return {}

    def _on_current(self, *_args: object) -> None:
        self._update_buttons()
        self.boardChosen.emit(self.current_board())

    def _update_buttons(self) -> None:
        chosen = self.current_board() is not None
        for button in (self.rename_button, self.delete_button, self.export_button):
            button.setEnabled(chosen)

    # ---- actions -----------------------------------------------------------------------------
    def new_board(self, name: str | None = None) -> str | None:
        if name is None:
            name, ok = QInputDialog.getText(self, "New board", "Name:")
            if not ok:
                return None
        try:
            made = self.gallery.create_board(name)
        except GalleryError as exc:
            self.message.emit(str(exc))
            return None
        self.refresh()
        return made

    def rename_board(self, new: str | None = None) -> None:
        old = self.current_board()
        if old is None:
            return
        if new is None:
            new, ok = QInputDialog.getText(self, "Rename board", "New name:", text=old)
            if not ok:
                return
        try:
            self.gallery.rename_board(old, new)
        except GalleryError as exc:
            self.message.emit(str(exc))
            return
        self.refresh()
        for row in range(self.list.count()):
            if self.list.item(row).data(_NAME) == " ".join(new.split()):
                self.list.setCurrentRow(row)

    def delete_board(self, confirm: bool = True) -> None:
        name = self.current_board()
        if name is None:
            return
        if confirm and QMessageBox.question(
                self, "Delete board", f"Delete the board \u201c{name}\u201d? Its pictures stay in the gallery.",
        ) != QMessageBox.StandardButton.Yes:
            return
        try:
            self.gallery.delete_board(name)
        except GalleryError as exc:
            self.message.emit(str(exc))
            return
        self.list.setCurrentRow(0)
        self.refresh()

    def add_to_board(self, name: str, record_ids: list[int]) -> int:
        try:
            added = self.gallery.add_to_board(name, record_ids)
        except GalleryError as exc:
            self.message.emit(str(exc))
            return 0
        self.refresh()
        self.message.emit(f"Added {added} picture{'s' if added != 1 else ''} to \u201c{name}\u201d")
        return added

    def _export(self) -> None:
        name = self.current_board()
        if name is not None:
            self.exportRequested.emit(name)
