"""The gallery as a Qt list model that scales to 100,000 entries: the row count is the number
of matching entries, records are read a page at a time only for the rows the view asks about
(a bounded number kept), and thumbnails are decoded off the GUI thread (studio/ui/thumb_loader)
into a bounded cache; a tile shows grey until its thumbnail arrives."""

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
from PySide6.QtGui import QColor, QImage, QPixmap

from studio.gallery import Filters, Gallery, GalleryError, Record
from studio.ui.thumb_loader import ThumbLoader

RecordRole = Qt.ItemDataRole.UserRole + 1
IdsMime = "application/x-studio-record-ids"  # dragged tiles: their ids, for boards
THUMB = 128

Index = QModelIndex | QPersistentModelIndex


class GalleryModel(QAbstractListModel):
    """Entries in the filters' order. Holds at most `max_pages` pages of records (small: no
    pixels) and at most `cache_size` decoded thumbnails."""

    def __init__(self, gallery: Gallery, page_size: int = 100, cache_size: int = 600,
                 parent=None, loader: ThumbLoader | None = None, max_pages: int = 40) -> None:
        super().__init__(parent)
        self.gallery = gallery
        self.page_size = page_size
        self.cache_size = cache_size
        self.max_pages = max_pages
        self.filters = Filters()
        self.fixed: list[Record] | None = None  # a stack's members shown instead of a listing
        self._rows: list[Record | None] = []
        self._pages: OrderedDict[int, None] = OrderedDict()  # first rows of loaded pages, LRU
        self._thumbs: OrderedDict[int, QPixmap] = OrderedDict()
        self._placeholder = QPixmap(THUMB, THUMB)
        self._placeholder.fill(QColor(60, 60, 60))
        self.loader = loader if loader is not None else ThumbLoader(gallery, parent=self)
        self.loader.loaded.connect(self._on_thumb)
        self.reload()

    # ---- loading -----------------------------------------------------------------------------
    def reload(self, filters: Filters | None = None) -> None:
        """Start over (new filters or search): one count, then the first page."""
        if filters is not None:
            self.filters = filters
            self.fixed = None
        self.loader.forget_pending()
        self.beginResetModel()
        self._pages.clear()
        if self.fixed is not None:
            self._rows = list(self.fixed)
        else:
            try:
                total = self.gallery.count(self.filters)
            except GalleryError:
                total = 0
            self._rows = [None] * total
        self.endResetModel()
        if self._rows:
            self._record(0)

    def show_only(self, records: list[Record]) -> None:
        """Show exactly these entries (an expanded stack) until the next reload(filters)."""
        self.fixed = list(records)
        self.reload()

    def total(self) -> int:
        """How many entries match, loaded or not."""
        return len(self._rows)

    def loaded_rows(self) -> int:
        return sum(r is not None for r in self._rows)

    def _record(self, row: int) -> Record | None:
        record = self._rows[row]
        if record is not None or self.fixed is not None:
            return record
        start = row - row % self.page_size
        try:
            page = self._read_page(start)
        except GalleryError:
            page = []
        for offset, found in enumerate(page):
            if start + offset < len(self._rows):
                self._rows[start + offset] = found
        self._pages[start] = None
        self._pages.move_to_end(start)
        while len(self._pages) > self.max_pages:  # forget the least recently viewed page
            old, _ = self._pages.popitem(last=False)
            for r in range(old, min(old + self.page_size, len(self._rows))):
                if abs(r - row) >= self.page_size:
                    self._rows[r] = None
        return self._rows[row]

    def _read_page(self, start: int) -> list[Record]:
        """Rows start.. of the listing, read the cheapest way: after the row before it when that
        is loaded (no OFFSET scan), from the far end in reverse for the later half (scrolling to
        the end reads one short page), else by offset."""
        total, size = len(self._rows), self.page_size
        limit = min(size, total - start)
        before = self._rows[start - 1] if start > 0 else None
        if before is not None:
            return self.gallery.list(0, limit, self.filters, after=before.id)
        if start > total // 2:
            backwards = self.filters.replace(descending=not self.filters.descending)
            return self.gallery.list(total - start - limit, limit, backwards)[::-1]
        return self.gallery.list(start, limit, self.filters)

    # ---- Qt model API ------------------------------------------------------------------------
    def rowCount(self, parent: Index = QModelIndex()) -> int:  # noqa: B008 - Qt's signature
        return 0 if parent.isValid() else len(self._rows)

    def data(self, index: Index, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._rows):
            return None
        if role not in (Qt.ItemDataRole.DisplayRole, Qt.ItemDataRole.DecorationRole,
                        Qt.ItemDataRole.ToolTipRole, RecordRole):
            return None
        record = self._record(index.row())
        if record is None:
            return None
        if role == Qt.ItemDataRole.DisplayRole:
            return caption(record)
        if role == Qt.ItemDataRole.DecorationRole:
            return self.thumbnail(record)
        if role == Qt.ItemDataRole.ToolTipRole:
            stack = f"\nstack of {record.stack_size}: Enter opens it" if record.stack_size > 1 else ""
            return f"{record.prompt}\nseed {record.request.seed} · {record.mode} · {record.model_name}{stack}"
        return record

    def flags(self, index: Index) -> Qt.ItemFlag:
        base = super().flags(index)
        return base | Qt.ItemFlag.ItemIsDragEnabled if index.isValid() else base

    def mimeTypes(self) -> list[str]:
        return ["text/uri-list", IdsMime]

    def mimeData(self, indexes: list[QModelIndex]) -> QMimeData:
        """Dragged thumbnails leave as file URLs, so any app or file manager takes the images,
        and as record ids, so a board takes them."""
        mime = QMimeData()
        records = [r for r in (self.record_at(row) for row in sorted({i.row() for i in indexes
                                                                         if i.isValid()})) if r]
        mime.setUrls([QUrl.fromLocalFile(str(r.path)) for r in records])
        mime.setData(IdsMime, ",".join(str(r.id) for r in records).encode())
        return mime

    def supportedDragActions(self) -> Qt.DropAction:
        return Qt.DropAction.CopyAction

    # ---- thumbnails --------------------------------------------------------------------------
    def thumbnail(self, record: Record) -> QPixmap:
        """The tile's picture if decoded; else grey now, and a decode queued off the GUI thread."""
        shown = cover_of(record)
        pixmap = self._thumbs.get(shown[0])
        if pixmap is not None:
            self._thumbs.move_to_end(shown[0])
            return pixmap
        self.loader.request(*shown)
        return self._placeholder

    def _on_thumb(self, record_id: int, image: QImage) -> None:
        pixmap = QPixmap.fromImage(image) if not image.isNull() else self._placeholder
        self._thumbs[record_id] = pixmap
        while len(self._thumbs) > self.cache_size:
            self._thumbs.popitem(last=False)
        if self._rows:  # the view repaints what it shows: cheaper than finding the rows
            self.dataChanged.emit(self.index(0), self.index(len(self._rows) - 1),
                                  [Qt.ItemDataRole.DecorationRole])

    def cached_thumbnails(self) -> int:
        return len(self._thumbs)

    # ---- edits -------------------------------------------------------------------------------
    def record_at(self, row: int) -> Record | None:
        return self._record(row) if 0 <= row < len(self._rows) else None

    def row_of(self, record_id: int) -> int:
        """The row of a loaded entry, or -1."""
        for row, record in enumerate(self._rows):
            if record is not None and record.id == record_id:
                return row
        return -1

    def refresh(self, record_id: int) -> Record | None:
        """Re-read one entry after a change (favourite, tags, rating) and repaint it."""
        row = self.row_of(record_id)
        if row < 0:
            return None
        self._rows[row] = self.gallery.get(record_id)
        if self.fixed is not None:
            self.fixed[row] = self._rows[row]
        index = self.index(row)
        self.dataChanged.emit(index, index)
        return self._rows[row]

    def take(self, record_id: int) -> int:
        """Remove an entry's row (deleted, or no longer matching); returns the row or -1."""
        row = self.row_of(record_id)
        if row >= 0:
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._rows[row]
            if self.fixed is not None:
                del self.fixed[row]
            self.endRemoveRows()
        return row

    def put(self, row: int, record: Record) -> None:
        """Insert an entry at `row` (undo of a delete; row 0 for a new image)."""
        row = max(0, min(row, len(self._rows)))
        self.beginInsertRows(QModelIndex(), row, row)
        self._rows.insert(row, record)
        if self.fixed is not None:
            self.fixed.insert(row, record)
        self.endInsertRows()

    def matches(self, record: Record) -> bool:
        """Whether an entry belongs in the current view (search and filters)."""
        if self.fixed is not None:
            return any(r.id == record.id for r in self.fixed)
        try:
            return self.gallery.matches(record.id, self.filters)
        except GalleryError:
            return False


def caption(record: Record) -> str:
    """A tile's text: favourite and rating marks, then the prompt's first line (a stack's size
    is a badge the grid draws on the picture)."""
    first = record.prompt.strip().split("\n")[0]
    marks = "★ " if record.favourite else ""
    rating = int(getattr(record, "rating", 0) or 0)
    if rating:
        marks += f"{rating}✦ "
    return marks + (first[:28] + "…" if len(first) > 28 else first)


def cover_of(record: Record) -> tuple[int, str]:
    """(id, sha256) of the picture a tile shows: a stack's cover, else the entry itself."""
    cover = getattr(record, "cover_id", None)
    if cover is not None and cover != record.id:
        return cover, ""  # the loader looks its file up
    return record.id, record.sha256
