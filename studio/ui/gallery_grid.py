"""The gallery's grid of tiles: a QTableView whose rows are lines of tiles over the flat
GalleryModel, laid out in constant time whatever the number of pictures.

Why not a QListView in icon mode: it lays out every item (and asks the model's rowCount a few
times per item) on each reset, about a second for 100,000 pictures; a table's fixed-size
sections are arithmetic. `TileTable` maps cell (r, c) to flat row r * columns + c; the view
re-flows the columns to its width. `TileGrid` speaks flat rows to the panel (`selected_rows`,
`current_row`, `select_row`) and accepts flat indexes in setCurrentIndex/scrollTo.
"""

from __future__ import annotations

from PySide6.QtCore import (
    QAbstractTableModel,
    QItemSelectionModel,
    QModelIndex,
    QPersistentModelIndex,
    QRect,
    QSize,
    Qt,
    Signal,
)
from PySide6.QtGui import QColor, QPainter
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHeaderView,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
)

from studio.ui.gallery_model import THUMB, GalleryModel, RecordRole

CELL = QSize(THUMB + 16, THUMB + 28)
_ROLES = frozenset((Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.DecorationRole,
                    Qt.ItemDataRole.ToolTipRole, RecordRole))
Index = QModelIndex | QPersistentModelIndex


class TileTable(QAbstractTableModel):
    """The flat model seen as lines of `columns` tiles."""

    reflowed = Signal()  # a reset that moved tiles, not one that changed what is listed

    def __init__(self, flat: GalleryModel, columns: int = 4) -> None:
        super().__init__(flat)
        self.flat = flat
        self.columns = max(1, columns)
        flat.modelAboutToBeReset.connect(self.beginResetModel)
        flat.modelReset.connect(self.endResetModel)
        # Inserting one picture shifts every tile after it: a reset is as cheap and simpler.
        for signal in (flat.rowsInserted, flat.rowsRemoved):
            signal.connect(self._reflow)
        flat.dataChanged.connect(self._changed)

    def set_columns(self, columns: int) -> None:
        columns = max(1, columns)
        if columns != self.columns:
            self.beginResetModel()
            self.columns = columns
            self.endResetModel()
            self.reflowed.emit()

    def _reflow(self, *_args: object) -> None:
        self.beginResetModel()
        self.endResetModel()
        self.reflowed.emit()

    def _changed(self, top: QModelIndex, bottom: QModelIndex, roles=()) -> None:
        if self.rowCount() == 0:
            return
        first, last = top.row() // self.columns, bottom.row() // self.columns
        self.dataChanged.emit(self.index(first, 0), self.index(min(last, self.rowCount() - 1),
                                                               self.columns - 1), roles)

    def flat_row(self, index: Index) -> int:
        """The flat row of a cell, or -1 for an empty cell past the last picture."""
        if not index.isValid():
            return -1
        row = index.row() * self.columns + index.column()
        return row if row < self.flat.rowCount() else -1

    def cell(self, row: int) -> QModelIndex:
        if not 0 <= row < self.flat.rowCount():
            return QModelIndex()
        return self.index(row // self.columns, row % self.columns)

    # ---- Qt model API ------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else -(-self.flat.rowCount() // self.columns)

    def columnCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else self.columns

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if role not in _ROLES:  # a tile is painted asking ~8 roles: answer the unused at once
            return None
        row = self.flat_row(index)
        return None if row < 0 else self.flat.data(self.flat.index(row), role)

    def flags(self, index: Index) -> Qt.ItemFlag:
        row = self.flat_row(index)
        return Qt.ItemFlag.NoItemFlags if row < 0 else self.flat.flags(self.flat.index(row))

    def mimeTypes(self) -> list[str]:
        return self.flat.mimeTypes()

    def mimeData(self, indexes: list[QModelIndex]):
        rows = [r for r in (self.flat_row(i) for i in indexes) if r >= 0]
        return self.flat.mimeData([self.flat.index(r) for r in rows])

    def supportedDragActions(self) -> Qt.DropAction:
        return self.flat.supportedDragActions()


class TileDelegate(QStyledItemDelegate):
    """The thumbnail centred above its caption; a stack's size in a badge on its corner (not
    inside an opened stack). Painted directly from the record: the stock delegate asks the model
    for about eight roles per tile, Python calls that cost most of a screenful's paint."""

    def __init__(self, flat: GalleryModel, parent=None) -> None:
        super().__init__(parent)
        self.flat = flat

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        record = index.data(RecordRole)
        if record is None:
            return
        rect = option.rect
        if option.state & QStyle.StateFlag.State_Selected:
            painter.fillRect(rect, option.palette.highlight())
            painter.setPen(option.palette.highlightedText().color())
        else:
            painter.setPen(option.palette.text().color())
        pixmap = self.flat.thumbnail(record)
        size = pixmap.size().scaled(THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio)
        painter.drawPixmap(QRect(rect.left() + (rect.width() - size.width()) // 2,
                                 rect.top() + 4 + (THUMB - size.height()) // 2, size.width(), size.height()),
                           pixmap)
        text = QRect(rect.left() + 2, rect.top() + THUMB + 6, rect.width() - 4, rect.height() - THUMB - 6)
        painter.drawText(text, Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop,
                         option.fontMetrics.elidedText(self.flat.caption_of(record),
                                                       Qt.TextElideMode.ElideRight, text.width()))
        if record.stack_size > 1 and self.flat.fixed is None:
            badge = QRect(rect.right() - 34, rect.top() + 6, 28, 18)
            painter.save()
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            painter.setBrush(QColor(20, 20, 20, 200))
            painter.setPen(QColor(230, 230, 230))
            painter.drawRoundedRect(badge, 6, 6)
            painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, str(record.stack_size))
            painter.restore()


class TileGrid(QTableView):
    """A grid of gallery tiles over `flat`, re-flowed to its width."""

    def __init__(self, flat: GalleryModel) -> None:
        super().__init__()
        self.flat = flat
        self.tiles = TileTable(flat)
        for header, size in ((self.horizontalHeader(), CELL.width()), (self.verticalHeader(), CELL.height())):
            header.setSectionResizeMode(QHeaderView.ResizeMode.Fixed)
            header.setDefaultSectionSize(size)
            header.setMinimumSectionSize(8)
            header.hide()
        self.setShowGrid(False)
        self.setWordWrap(False)
        self.setIconSize(QSize(THUMB, THUMB))
        self.setItemDelegate(TileDelegate(flat, self))
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectItems)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setModel(self.tiles)
        self._keep: int | None = None  # the current picture's id across a re-flow
        self.tiles.modelAboutToBeReset.connect(self._remember)
        self.tiles.reflowed.connect(self._restore)
    # ---- flat rows ---------------------------------------------------------------------------
    def selected_rows(self) -> list[int]:
        return sorted({r for r in (self.tiles.flat_row(i) for i in self.selectionModel().selectedIndexes())
                       if r >= 0})

    def current_row(self) -> int:
        return self.tiles.flat_row(self.currentIndex())

    def select_row(self, row: int, flags=QItemSelectionModel.SelectionFlag.ClearAndSelect) -> None:
        cell = self.tiles.cell(row)
        if cell.isValid():
            self.selectionModel().setCurrentIndex(cell, flags)
            self.scrollTo(cell)

    def _cell(self, index: Index) -> QModelIndex:
        if index.isValid() and index.model() is self.flat:
            return self.tiles.cell(index.row())
        return QModelIndex(index) if isinstance(index, QPersistentModelIndex) else index

    def setCurrentIndex(self, index: Index) -> None:  # flat or cell indexes both
        super().setCurrentIndex(self._cell(index))

    def scrollTo(self, index: Index, hint=QAbstractItemView.ScrollHint.EnsureVisible) -> None:
        super().scrollTo(self._cell(index), hint)

    # ---- layout ------------------------------------------------------------------------------
    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self.tiles.set_columns(max(1, self.viewport().width() // CELL.width()))

    def sizeHint(self) -> QSize:
        return QSize(CELL.width() * 3 + 24, CELL.height() * 2)

    def _remember(self) -> None:
        record = self.currentIndex().data(RecordRole)
        self._keep = record.id if record is not None else None

    def _restore(self) -> None:
        """A re-flow (a new width, a picture added or removed) keeps the current picture."""
        if self._keep is not None:
            row = self.flat.row_of(self._keep)
            if row >= 0:
                self.selectionModel().setCurrentIndex(self.tiles.cell(row),
                                                      QItemSelectionModel.SelectionFlag.ClearAndSelect)
