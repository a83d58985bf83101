"""The gallery as a Qt list model: pages of records fetched as the view scrolls (fetchMore), and
thumbnails decoded only for the items the view paints, kept in a bounded cache."""

from __future__ import annotations

from collections import OrderedDict

from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QPersistentModelIndex,
    Qt,
    QUrl,
)
from PySide6.QtGui import QColor, QPixmap

from studio.gallery import Filters, Gallery, GalleryError, Record

RecordRole = Qt.ItemDataRole.UserRole + 1
THUMB = 128

Index = QModelIndex | QPersistentModelIndex


class GalleryModel(QAbstractListModel):
    """Newest first. Holds the records loaded so far (small: no pixels) and at most `cache_size`
    decoded thumbnails; the view pulls more pages through canFetchMore/fetchMore."""

    def __init__(self, gallery: Gallery, page_size: int = 100, cache_size: int = 600,
                 parent=None) -> None:
        super().__init__(parent)
        self.gallery = gallery
        self.page_size = page_size
        self.cache_size = cache_size
        self.filters = Filters()
        self._records: list[Record] = []
        self._total = 0
        self._thumbs: OrderedDict[int, QPixmap] = OrderedDict()
        self._placeholder = QPixmap(THUMB, THUMB)
        self._placeholder.fill(QColor(60, 60, 60))
        self.reload()

    # ---- loading -----------------------------------------------------------------------------
    def reload(self, filters: Filters | None = None) -> None:
        """Start over (new filters or search); loads the first page at once."""
        if filters is not None:
            self.filters = filters
        self.beginResetModel()
        self._records = []
        try:
            self._total = self.gallery.count(self.filters)
        except GalleryError:
            self._total = 0
        self.endResetModel()
        self.fetchMore(QModelIndex())

    def total(self) -> int:
        """How many entries match, loaded or not."""
        return self._total

    def canFetchMore(self, parent: Index = QModelIndex()) -> bool:  # noqa: B008 - Qt's signature
        return not parent.isValid() and len(self._records) < self._total

    def fetchMore(self, parent: Index = QModelIndex()) -> None:  # noqa: B008
        if parent.isValid():
            return
        try:
            page = self.gallery.list(len(self._records), self.page_size, self.filters)
        except GalleryError:
            page = []
        if not page:
            self._total = len(self._records)  # entries vanished meanwhile: stop asking
            return
        start = len(self._records)
        self.beginInsertRows(QModelIndex(), start, start + len(page) - 1)
        self._records.extend(page)
        self.endInsertRows()

    # ---- Qt model API ------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008
        return 0 if parent.isValid() else len(self._records)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._records):
            return None
        record = self._records[index.row()]
        if role == Qt.ItemDataRole.DisplayRole:
            first = record.prompt.strip().split("\n")[0]
            return ("★ " if record.favourite else "") + (first[:28] + "…" if len(first) > 28 else first)
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbnail(record.id)
        if role == Qt.ItemDataRole.ToolTipRole:
            return f"{record.prompt}\nseed {record.request.seed} · {record.mode} · {record.model_name}"
        if role == RecordRole:
            return record
        return None

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list"]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:
        """Dragged thumbnails leave as file URLs, so any app or file manager takes the images."""
        mime = QMimeData()
        rows = sorted({i.row() for i in indexes if i.isValid()})
        mime.setUrls([QUrl.fromLocalFile(str(self._records[r].path)) for r in rows])
        return mime

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    # ---- thumbnails --------------------------------------------------------------------------
    def thumbnail(self, record_id: int) -> QPixmap:
        pixmap = self._thumbs.get(record_id)
        if pixmap is not None:
            self._thumbs.move_to_end(record_id)
            return pixmap
        pixmap = QPixmap()
        try:
            data = self.gallery.thumbnail(record_id)
        except GalleryError:
            data = None
        if not data or not pixmap.loadFromData(data):
            return self._placeholder
        self._thumbs[record_id] = pixmap
        while len(self._thumbs) > self.cache_size:
            self._thumbs.popitem(last=False)
        return pixmap

    def cached_thumbnails(self) -> int:
        return len(self._thumbs)

    # ---- edits -------------------------------------------------------------------------------
    def record_at(self, row: int) -> Record | None:
        return self._records[row] if 0 <= row < len(self._records) else None

    def row_of(self, record_id: int) -> int:
        for row, record in enumerate(self._records):
            if record.id == record_id:
                return row
        return -1

    def refresh(self, record_id: int) -> Record | None:
        """Re-read one entry after a change (favourite, tags) and repaint it."""
        row = self.row_of(record_id)
        if row < 0:
            return None
        self._records[row] = self.gallery.get(record_id)
        index = self.index(row)
        self.dataChanged.emit(index, index)
        return self._records[row]

    def take(self, record_id: int) -> int:
        """Remove an entry's row (deleted, or no longer matching); returns the row or -1."""
        row = self.row_of(record_id)
        if row >= 0:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._records[row]
            self._total -= 1
            self.endRemoveRows()
        return row

    def put(self, row: int, record: Record) -> None:
        """Insert an entry at `row` (undo of a delete; row 0 for a new image)."""
        row = max(0, min(row, len(self._records)))
        self.beginInsertRows(QModelIndex(), row, row)
        self._records.insert(row, record)
        self._total += 1
        self.endInsertRows()

    def matches(self, record: Record) -> bool:
        """Whether an entry belongs in the current view (search and filters)."""
        try:
            return self.gallery.matches(record.id, self.filters)
        except GalleryError:
            return False
