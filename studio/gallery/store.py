"""The gallery: every finished job, its image file and parameters, searchable. No Qt.

Files live in STUDIO_HOME/gallery/images/YYYY/MM/ and are written durably BEFORE their row
commits, so a row never points at a missing or half-written file. Each file carries everything
needed to list it again, so the files are the gallery's ground truth: a damaged database is healed
from them (studio.gallery.heal) and a file no row knows is adopted, never deleted. Safe to use from
several threads (each gets its own SQLite connection) and several processes (WAL, busy timeout).
"""

from __future__ import annotations

import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.core.metadata import image_info, model_hash, model_name
from studio.core.paths import studio_home
from studio.core.request import GenerationRequest
from studio.gallery import files, heal, marks, rows
from studio.gallery.boards import BoardsMixin
from studio.gallery.db import (
    Database,
    DatabaseDamaged,
    GalleryError,
    describe_repair,
    is_corruption,
    move_aside,
)
from studio.gallery.query import (  # noqa: F401 (Filters, Record, where_clause re-exported)
    Filters,
    Record,
    after_clause,
    check_filters,
    key_select,
    order_clause,
    select_sql,
    where_clause,
)
from studio.gallery.scratch import SCRATCH_KEEP_S, ScratchMixin, session_id
from studio.gallery.stacks import StacksMixin
from studio.gallery.upkeep import UpkeepMixin

if TYPE_CHECKING:
    from PIL.Image import Image

    from studio.core.events import Finished

log = logging.getLogger(__name__)

MAX_TAG_LENGTH = 64


class GalleryHealed(GalleryError):
    """Damage was found and healed during an operation; the message says what was restored."""


def _schema_gone(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.OperationalError) and "no such table" in str(exc)


class Gallery(BoardsMixin, StacksMixin, ScratchMixin, UpkeepMixin):
    """Open with `Gallery.open()`; close() when done (the app does at exit)."""

    def __init__(self, root: Path, db: Database) -> None:
        self.root = root
        self.images_dir = root / "images"
        self._db = db
        self._notice: str | None = db.notice
        self._opened_cleanly = True
        self._heal_lock = threading.RLock()  # a heal in use rebuilds under it too
        self._pending_heal = False
        self._aside: Path | None = None
        # Called (on the thread that met the damage) with the one-line notice after a rebuild in
        # use, so that a window can reload what it shows: ids may have changed.
        self.on_healed: Callable[[str], None] | None = None

    @classmethod
    def open(cls, home: Path | None = None, clean_min_age: float | None = 600.0,
             heal_later: bool = False) -> Gallery:
        """Open STUDIO_HOME/gallery (or home/gallery): create or migrate the database; heal a
        damaged or empty one from the image files (see `notice`); then adopt image files no row
        knows and remove temp files a crashed writer left. `clean_min_age=None` skips that scan
        (the window runs it on a worker thread instead: it walks every image file).
        `heal_later`: a damaged database is only set aside here, and the rows are restored by
        the first `clean_orphans()` (the window's worker thread: thousands of files take seconds)."""
        root = (Path(home) if home is not None else studio_home()) / "gallery"
        try:
            (root / "images").mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GalleryError(f"cannot create the gallery folder {root} ({exc.strerror or exc})") from None
        try:
            db = Database.open(root / "gallery.db")
        except DatabaseDamaged:
            gallery = cls(root, Database(root / "gallery.db"))
            gallery._set_aside()
        else:
            gallery = cls(root, db)
            if db.was_empty and heal.image_files(gallery.images_dir):
                gallery._pending_heal = True
            elif marks.needs_compacting(root) or not marks.exists(root):
                gallery._compact_marks()  # also seeds the journal of a gallery made before it
        if gallery._pending_heal:
            if heal_later:
                gallery._notice = ("The gallery database was damaged or empty; your pictures are "
                                   "being restored from the image files.")
            else:
                gallery.finish_healing()
        if clean_min_age is not None:
            gallery.clean_orphans(clean_min_age)
        return gallery

    @property
    def notice(self) -> str | None:
        """A one-line message for the artist from opening (e.g. a damaged database rebuilt)."""
        return self._notice

    @property
    def db_path(self) -> Path:
        return self._db.path

    def close(self) -> None:
        self._db.close()

    def __enter__(self) -> Gallery:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        with self._guard(), self._db.transaction() as cur:
            yield cur

    @contextmanager
    def _guard(self) -> Iterator[None]:
        """Turn SQLite failures into one-line GalleryErrors; damage found in use is healed at once
        (the message says so, and the artist's next try works on the rebuilt gallery)."""
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if is_corruption(exc) or _schema_gone(exc):
                raise GalleryHealed(self._heal_in_use(exc)) from None
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise GalleryError("the gallery is busy in another program; try again in a moment") from None
            raise

    def _fetch(self, sql: str, args: tuple | list = (), one: bool = False) -> Any:
        """A read on this thread's connection; after healing damage it reads once more."""
        try:
            return self._fetch_once(sql, args, one)
        except GalleryHealed:
            return self._fetch_once(sql, args, one)

    def _fetch_once(self, sql: str, args: tuple | list, one: bool) -> Any:
        with self._guard():
            cursor = self._db.connection().execute(sql, args)
            return cursor.fetchone() if one else cursor.fetchall()

    # ---- healing -----------------------------------------------------------------------------
    def _set_aside(self) -> None:
        """Move the damaged file aside (kept) and start a new, empty database in its place."""
        self._db.close()
        path = self._db.path
        self._aside = move_aside(path) if path.exists() else None
        self._db = Database.open(path)
        self._pending_heal = True
        self._opened_cleanly = False

    def finish_healing(self) -> str | None:
        """Fill the new database from the damaged one set aside and from the image files; the
        notice says what was restored. None when there was nothing to heal."""
        with self._heal_lock:
            if not self._pending_heal:
                return None
            salvaged = heal.salvage(self._aside) if self._aside is not None else None
            with self._db.transaction() as cur:
                report = heal.fill(cur, self.root, salvaged)
            self._pending_heal = False
            self._opened_cleanly = False
            self._notice = heal.describe(report, self._aside)
        log.info("%s (rows read by: %s)", self._notice, report.how or "none readable")
        if self.on_healed is not None:
            self.on_healed(self._notice)
        return self._notice

    def _rebuild(self) -> None:
        """Set the damaged file aside and restore what it held at once."""
        with self._heal_lock:
            self._set_aside()
            self.finish_healing()

    def _heal_in_use(self, exc: BaseException) -> str:
        with self._heal_lock:
            if _schema_gone(exc):
                try:
                    return f"{describe_repair(self._db.repair_schema())} Try again."
                except (sqlite3.DatabaseError, GalleryError):
                    pass
            log.info("gallery database damaged in use (%s): rebuilding", exc)
            self._rebuild()
            return f"{self._notice} Try again."

    # ---- adding ------------------------------------------------------------------------------
    def add(
        self,
        item: Finished | GenerationRequest,
        image: Image | None = None,
        timings: dict[str, float] | None = None,
        info: dict[str, Any] | None = None,
        *,
        parent_id: int | None = None,
        created: float | None = None,
        scratch: str | None = None,
    ) -> Record:
        """Record a finished job: a Finished event, or (request, image, timings, info).

        The image file (PNG with the same embedded parameters as an export) is written and
        fsynced first; only then does the row commit. An edit (a `parent_id`) joins its parent's
        stack. `scratch`: a live slider frame of that session, hidden from listings until kept.
        """
        if isinstance(item, GenerationRequest):
            request = item
        else:
            request, image = item.request, item.image
            timings = item.timings if timings is None else timings
            info = item.info if info is None else info
        if image is None:
            raise GalleryError("nothing to record: the job has no image")
        timings, info = dict(timings or {}), dict(info or {})
        created = time.time() if created is None else created
        parent_sha = stack_id = None
        scratch = None if scratch is None else session_id(scratch)
        if parent_id is not None:
            found = self._fetch("SELECT sha256, stack_id FROM images WHERE id = ?", (parent_id,), one=True)
            if found is None:
                raise GalleryError(f"gallery entry {parent_id} does not exist (parent)")
            parent_sha, stack_id = found[0], found[1] if found[1] is not None else parent_id
        text = {**image_info(request, info),
                rows.RECORD_KEY: rows.record_chunk(created, timings, info, parent_sha, scratch)}
        data = files.png_bytes(image, text)
        path = files.new_image_path(self.images_dir, created, request.seed)
        try:
            files.write_durably(path, data)
        except OSError as exc:
            raise GalleryError(f"could not save the image to the gallery ({exc.strerror or exc})") from None
        relative = path.relative_to(self.root).as_posix()
        row = rows.image_row(request, image, relative, data, created, timings, info, parent_id)
        row.stack_id, row.scratch, row.session = stack_id, scratch, scratch
        # If the commit fails the file stays: the next upkeep adopts it from its own metadata.
        try:
            with self.transaction() as cur:
                new_id = rows.insert(cur, row)
        except GalleryHealed:
            adopted = self.find_by_path(path)  # the rebuild read it back from the file
            if adopted is None:
                raise
            return adopted
        if stack_id is not None or scratch is not None:
            self._journal(new_id)
        return Record(new_id, created, request, path, row.sha256, model_name(request, info),
                      model_hash(info), request.mode, timings, info, False, (), parent_id, False,
                      stack_id=stack_id, cover_id=new_id if stack_id is None else None, scratch=scratch)

    # ---- reading -----------------------------------------------------------------------------
    def _record(self, row: sqlite3.Row) -> Record:
        return rows.record_from_row(self.root, row)

    def _select(self, where: str, args: tuple | list = (), one: bool = False) -> Any:
        """Rows read as records are (`where` and what follows it, over `images`)."""
        select, select_args = select_sql()
        return self._fetch(f"SELECT {select} FROM images WHERE {where}", (*select_args, *args), one)

    def get(self, record_id: int) -> Record:
        """The entry with this id (deleted ones too); GalleryError if there is none."""
        row = self._select("images.id = ?", (record_id,), one=True)
        if row is None:
            raise GalleryError(f"there is no gallery entry {record_id}")
        return self._record(row)

    def list(self, offset: int = 0, limit: int = 100, filters: Filters | None = None, *,
             after: int | None = None) -> list[Record]:
        """Entries in `filters.sort` order (newest first by default). `after`: the id of the last
        entry of the previous page; the page then starts right after it, in time that does not
        grow with the depth of the page (`offset` is ignored)."""
        filters = self._checked(filters)
        select, select_args = select_sql(filters)
        return [self._record(r) for r in self._page(select, select_args, filters, offset, limit, after)]

    def _checked(self, filters: Filters | None) -> Filters:
        filters = filters or Filters()
        problem = check_filters(filters)
        if problem:
            raise GalleryError(problem)
        return filters

    def _page(self, select: str, select_args: list, filters: Filters, offset: int, limit: int,
              after: int | None) -> list:
        where, args = where_clause(filters)
        if after is not None:
            key = self._fetch(f"SELECT {key_select(filters)} FROM images WHERE id = ?", (int(after),), one=True)
            if key is None:
                raise GalleryError(f"there is no gallery entry {after}")
            where += " AND " + after_clause(filters, tuple(key))
            args, offset = [*args, *key], 0
        return self._fetch(f"SELECT {select} FROM images WHERE {where} ORDER BY {order_clause(filters)} "
                           "LIMIT ? OFFSET ?", (*select_args, *args, int(limit), int(offset)))

    def count(self, filters: Filters | None = None) -> int:
        where, args = where_clause(self._checked(filters))
        return int(self._fetch(f"SELECT count(*) FROM images WHERE {where}", args, one=True)[0])

    def matches(self, record_id: int, filters: Filters) -> bool:
        """Whether the entry is among those `filters` select."""
        where, args = where_clause(filters)
        return self._fetch(f"SELECT 1 FROM images WHERE id = ? AND {where}", (record_id, *args),
                           one=True) is not None

    def search(self, query: str, offset: int = 0, limit: int = 100,
               filters: Filters | None = None) -> list[Record]:
        """Full-text search over prompt, negative prompt and tags, newest first."""
        return self.list(offset, limit, (filters or Filters()).replace(text=query))

    def ids(self, offset: int = 0, limit: int = 100, filters: Filters | None = None, *,
            after: int | None = None) -> list[int]:
        """Just the ids, in list() order (cheap paging for views)."""
        found = self._page("images.id", [], self._checked(filters), offset, limit, after)
        return [int(r[0]) for r in found]

    def find_by_path(self, path: str | Path) -> Record | None:
        """The entry whose image file is `path` (e.g. a request's init_image), if any."""
        try:
            relative = Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        except (OSError, ValueError):
            return None
        row = self._select("images.path = ? ORDER BY images.id DESC LIMIT 1", (relative,), one=True)
        return None if row is None else self._record(row)

    def find_source(self, path: str | Path) -> Record | None:
        """The live entry an img2img/inpaint source image came from: the gallery file itself, or
        any copy with the same pixels (the UI saves sources to STUDIO_HOME/inputs). None if none."""
        found = self.find_by_path(path)
        if found is not None:
            return found
        from PIL import Image

        try:
            with Image.open(path) as image:
                pixels = files.pixels_sha256(image)
        except (OSError, ValueError, SyntaxError):
            return None
        row = self._select("images.pixels_sha256 = ? AND images.deleted_at IS NULL "
                           "ORDER BY images.id DESC LIMIT 1", (pixels,), one=True)
        return None if row is None else self._record(row)

    def thumbnail(self, record_id: int) -> bytes | None:
        """The WebP thumbnail bytes (about 128 px), or None."""
        row = self._fetch("SELECT thumbnail FROM images WHERE id = ?", (record_id,), one=True)
        return None if row is None else row[0]

    def models(self) -> list[str]:
        """Model names that have live entries, for the filter menu."""
        found = self._fetch(
            "SELECT DISTINCT model_name FROM images WHERE deleted_at IS NULL AND scratch IS NULL "
            "ORDER BY model_name")
        return [r[0] for r in found]

    def children(self, record_id: int) -> list[Record]:
        """Live entries made from this one (variations, inpaints), oldest first."""
        found = self._select("images.parent_id = ? AND images.deleted_at IS NULL AND images.scratch IS NULL "
                             "ORDER BY images.created, images.id", (record_id,))
        return [self._record(r) for r in found]

    def parent(self, record_id: int) -> Record | None:
        parent_id = self.get(record_id).parent_id
        return None if parent_id is None else self.get(parent_id)

    def set_parent(self, record_ids: Iterable[int], parent_id: int) -> None:
        """Make `parent_id` the parent of each entry (lineage), e.g. a grid of its cells."""
        self.get(parent_id)  # GalleryError, one line, for an unknown parent
        with self.transaction() as cur:
            cur.executemany("UPDATE images SET parent_id = ? WHERE id = ?",
                            [(int(parent_id), int(i)) for i in record_ids if int(i) != parent_id])

    # ---- changing ----------------------------------------------------------------------------
    def _update(self, sql: str, args: tuple, record_id: int) -> None:
        with self.transaction() as cur:
            cur.execute(sql, args)
            if cur.rowcount == 0:
                raise GalleryError(f"there is no gallery entry {record_id}")
        self._journal(record_id)

    def _journal(self, record_id: int) -> None:
        """Mirror an entry's marks into the journal beside the files (after the commit)."""
        row = self._fetch(f"{marks.SELECT} WHERE images.id = ?", (record_id,), one=True)
        if row is not None:
            marks.append(self.root, row[0], marks.from_row(row))

    def _journal_many(self, record_ids: list[int]) -> None:
        for record_id in record_ids:
            self._journal(record_id)

    def _compact_marks(self) -> None:
        found = self._fetch(f"{marks.SELECT} WHERE {marks.NOT_DEFAULT}")
        try:
            marks.rewrite(self.root, ((r[0], marks.from_row(r)) for r in found))
        except OSError as exc:
            log.warning("could not compact the gallery's marks journal: %s", exc)

    def set_favourite(self, record_id: int, favourite: bool = True) -> None:
        self._update("UPDATE images SET favourite = ? WHERE id = ?", (int(favourite), record_id), record_id)

    def add_tag(self, record_id: int, tag: str) -> str:
        """Tag an entry; returns the tag as stored (trimmed, inner whitespace collapsed)."""
        clean = " ".join(str(tag).split())
        if not clean:
            raise GalleryError("a tag cannot be empty")
        if len(clean) > MAX_TAG_LENGTH:
            raise GalleryError(f"a tag can be at most {MAX_TAG_LENGTH} characters")
        with self.transaction() as cur:
            if cur.execute("SELECT 1 FROM images WHERE id = ?", (record_id,)).fetchone() is None:
                raise GalleryError(f"there is no gallery entry {record_id}")
            cur.execute("INSERT OR IGNORE INTO tags (image_id, tag) VALUES (?, ?)", (record_id, clean))
        self._journal(record_id)
        return clean

    def remove_tag(self, record_id: int, tag: str) -> None:
        with self.transaction() as cur:
            cur.execute("DELETE FROM tags WHERE image_id = ? AND tag = ?",
                        (record_id, " ".join(str(tag).split())))
        self._journal(record_id)

    def delete(self, record_id: int) -> None:
        """Soft delete: hidden from lists and search, file kept, undone by undelete()."""
        self.get(record_id)  # raises for an unknown id
        with self.transaction() as cur:
            cur.execute("UPDATE images SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                        (time.time(), record_id))
        self._journal(record_id)

    def undelete(self, record_id: int) -> None:
        self.get(record_id)  # raises for an unknown id
        with self.transaction() as cur:
            cur.execute("UPDATE images SET deleted_at = NULL WHERE id = ?", (record_id,))
        self._journal(record_id)

    def purge_deleted(self, older_than: float = 30 * 86400,
                      scratch_older_than: float | None = SCRATCH_KEEP_S) -> int:
        """Remove entries deleted more than `older_than` seconds ago, rows first, then files. A
        crash in between leaves a file that upkeep adopts again, still deleted (the marks journal
        says so), and purges next time: never a row without its file. Scratch frames never kept
        and older than `scratch_older_than` go too (None: they stay). Returns how many went."""
        purged = self.purge_scratch(scratch_older_than) if scratch_older_than is not None else 0
        cutoff = time.time() - older_than
        with self.transaction() as cur:
            found = cur.execute(
                "SELECT id, path FROM images WHERE deleted_at IS NOT NULL AND deleted_at <= ?",
                (cutoff,)).fetchall()
            cur.executemany("DELETE FROM images WHERE id = ?", [(r[0],) for r in found])
        for row in found:
            (self.root / row[1]).unlink(missing_ok=True)
        return purged + len(found)

    # ---- upkeep ------------------------------------------------------------------------------
    def clean_orphans(self, min_age: float = 600.0) -> list[Path]:
        """Upkeep after opening: adopt image files no row knows (a writer killed between its file
        and its commit, or a rebuilt gallery) and remove temp files a killed writer left, both
        only when older than `min_age` seconds, so that a writer in another process keeps its
        file. Image files are never deleted here. Returns the adopted files. A database set
        aside by `open(heal_later=True)` is restored first."""
        self.finish_healing()
        cutoff = time.time() - min_age
        known = {r[0] for r in self._fetch("SELECT path FROM images")}
        strays = [p for p in heal.image_files(self.images_dir)
                  if p.relative_to(self.root).as_posix() not in known and heal.older_than(p, cutoff)]
        if strays:
            with self.transaction() as cur:
                report = heal.fill(cur, self.root, only=strays)
            log.info("adopted %d gallery files the database did not know", report.from_files)
        if self._opened_cleanly:
            files.remove_temp_files(self.images_dir, min_age)
        return strays
