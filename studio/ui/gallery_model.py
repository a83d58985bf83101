"""The gallery as a Qt list model that scales to 100,000 entries: the row count is the number
of matching entries, records are read a page at a time only for the rows the view asks about
(a bounded number kept), and thumbnails are decoded off the GUI thread (studio/ui/thumb_loader)
into a bounded cache; a tile shows grey until its thumbnail arrives.

Counting the matches of a filter costs up to a few hundred ms at 100,000 entries, so a reload
shows the first page at once and counts off the GUI thread: the rows (and the scrollbar) grow to
the total when it arrives; a count for an earlier filter is dropped. Counts are cached per filter
(shown at once, then checked by the same background count), and forgotten on any edit."""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor

from PySide6.QtCore import (
    QAbstractListModel,
    QMimeData,
    QModelIndex,
    QObject,
    QPersistentModelIndex,
    Qt,
    QUrl,
    Signal,
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
    pixels) and at most `cache_size` decoded thumbnails. `counted` fires when a background count
    has set the total (tests wait on `counting()`)."""

    counted = Signal(int)  # the total, once the background count is in

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
        self._cover_prompts: dict[int, str] = {}  # a stack's cover id -> its prompt
        self._placeholder = QPixmap(THUMB, THUMB)
        self._placeholder.fill(QColor(60, 60, 60))
        self.loader = loader if loader is not None else ThumbLoader(gallery, parent=self)
        self.loader.loaded.connect(self._on_thumb)
        self._generation = 0  # which reload a background count belongs to
        self._counting = False
        self._counts: dict[Filters, int] = {}
        self._count_job: Future | None = None
        # A parentless relay the counting thread keeps alive: a count finishing after the model
        # was deleted then emits into nothing instead of into a deleted object.
        self._relay = _CountRelay()
        self._relay.done.connect(self._on_counted)
        self.reload()

    # ---- loading -----------------------------------------------------------------------------
    def reload(self, filters: Filters | None = None) -> None:
        """Start over (new filters or search): the first page now, the total when counted."""
        if filters is not None:
            self.filters = filters
            self.fixed = None
        self.loader.forget_pending()
        self._generation += 1
        self._counting = False
        if self._count_job is not None:
            self._count_job.cancel()  # a count not started yet is for a filter no longer shown
        self.beginResetModel()
        self._pages.clear()
        self._cover_prompts.clear()
        if self.fixed is not None:
            self._rows = list(self.fixed)
        else:
            self._rows = self._first_rows()
        self.endResetModel()

    def _first_rows(self) -> list[Record | None]:
        """The first page, padded to the cached total if any; counts in the background unless
        the first page is short (then it is everything)."""
        try:
            first: list[Record | None] = list(self.gallery.list(0, self.page_size, self.filters))
        except GalleryError:
            return []
        if len(first) < self.page_size:
            self._counts[self.filters] = len(first)
            return first
        self._pages[0] = None
        known = self._counts.get(self.filters)
        if known is not None and known >= len(first):
            first += [None] * (known - len(first))
        self._submit_count()
        return first

    def _submit_count(self) -> None:
        self._counting = True
        self._count_job = in_background(_count, self.gallery, self._relay, self._generation,
                                        self.filters)

    def _on_counted(self, generation: int, total: int) -> None:
        if generation != self._generation or self.fixed is not None:
            return  # a count for an earlier filter
        self._counting = False
        if total < 0:
            self.counted.emit(len(self._rows))
            return
        self._counts[self.filters] = total
        if len(self._counts) > 64:  # every search typed is a filter: keep the recent ones
            del self._counts[next(iter(self._counts))]
        have = len(self._rows)
        if total > have:
            self.beginInsertRows(QModelIndex(), have, total - 1)
            self._rows.extend([None] * (total - have))
            self.endInsertRows()
        elif total < have:
            self.beginRemoveRows(QModelIndex(), total, have - 1)
            del self._rows[total:]
            self.endRemoveRows()
        self.counted.emit(total)

    def counting(self) -> bool:
        """Whether the total is still being counted (total() is then the rows known so far)."""
        return self._counting

    def wait_counted(self) -> None:
        """Block until a running count finished (closing); its result arrives as an event."""
        if self._count_job is not None:
            try:
                self._count_job.result(timeout=30)
            except Exception:  # noqa: BLE001 - cancelled or failed: nothing to wait for
                pass

    def forget_counts(self) -> None:
        """The gallery changed: cached totals may be wrong, and so may a count under way."""
        self._counts.clear()
        if self._counting:
            self._generation += 1
            self._submit_count()

    def close(self) -> None:
        """Stop counting (the panel closes): a count under way finishes, its result is dropped."""
        self._generation += 1
        self._counting = False
        if self._count_job is not None:
            self._count_job.cancel()
        self.wait_counted()

    def show_only(self, records: list[Record]) -> None:
        """Show exactly these entries (an expanded stack) until the next reload(filters)."""
        self.fixed = list(records)
        self.reload()

    def total(self) -> int:
        """How many entries match, loaded or not (while counting(): those known so far)."""
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
        if start > total // 2 and not self._counting:
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
            return self.caption_of(record)
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

    def caption_of(self, record: Record) -> str:
        """The tile's text; a stack whose cover is another picture shows the cover's prompt."""
        cover = cover_of(record)[0]
        if cover == record.id:
            return caption(record)
        prompt = self._cover_prompts.get(cover)
        if prompt is None:  # covers chosen by hand are few: read each once
            try:
                prompt = self.gallery.get(cover).prompt
            except GalleryError:
                prompt = record.prompt
            self._cover_prompts[cover] = prompt
        return caption(record, prompt)

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
        self.forget_counts()  # a rating or favourite changes what a filter counts
        self._rows[row] = self.gallery.get(record_id)
        if self.fixed is not None:
            self.fixed[row] = self._rows[row]
        index = self.index(row)
        self.dataChanged.emit(index, index)
        return self._rows[row]

    def take(self, record_id: int) -> int:
        """Remove an entry's row (deleted, or no longer matching); returns the row or -1."""
        self.forget_counts()
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
        self.forget_counts()
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


_pool: ThreadPoolExecutor | None = None


def in_background(work: Callable[..., object], *args: object) -> Future:
    """Run a gallery read on the one shared reading thread (started once: a thread start costs
    milliseconds the artist would wait for)."""
    global _pool
    if _pool is None:
        _pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="gallery-read")
    return _pool.submit(work, *args)


class _CountRelay(QObject):
    done = Signal(int, int)  # counting thread -> GUI thread: (generation, total or -1)


def _count(gallery: Gallery, relay: _CountRelay, generation: int, filters: Filters) -> None:
    """On the counting thread: count, and hand the total to the GUI thread."""
    try:
        total = gallery.count(filters)
    except GalleryError:
        total = -1
    relay.done.emit(generation, total)


def caption(record: Record, prompt: str | None = None) -> str:
    """A tile's text: favourite and rating marks, then the first line of the prompt (`prompt`,
    else the record's; a stack's size is a badge the grid draws on the picture)."""
    first = (record.prompt if prompt is None else prompt).strip().split("\n")[0]
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
