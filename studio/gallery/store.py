"""The gallery: every finished job, its image file and parameters, searchable. No Qt.

Files live in STUDIO_HOME/gallery/images/YYYY/MM/ and are written durably BEFORE their row
commits, so a row never points at a missing or half-written file. Safe to use from several
threads (each gets its own SQLite connection) and several processes (WAL, busy timeout).
"""

from __future__ import annotations

import dataclasses
import json
import re
import sqlite3
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.core.metadata import image_info, model_hash, model_name
from studio.core.paths import studio_home
from studio.core.request import GenerationRequest, RequestError
from studio.gallery import files
from studio.gallery.db import Database, GalleryError, is_corruption

if TYPE_CHECKING:
    from PIL.Image import Image

    from studio.core.events import Finished

MAX_TAG_LENGTH = 64

_COLUMNS = (
    "id, created, request_json, model_name, model_hash, mode, timings_json, info_json, path, "
    "sha256, favourite, parent_id, deleted_at, tags_text"
)


@dataclass(frozen=True)
class Record:
    """One gallery entry. `request` is the full request that made the image."""

    id: int
    created: float  # seconds since the epoch
    request: GenerationRequest
    path: Path  # absolute path of the image file
    sha256: str
    model_name: str = ""
    model_hash: str = ""
    mode: str = "txt2img"
    timings: dict[str, float] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    favourite: bool = False
    tags: tuple[str, ...] = ()
    parent_id: int | None = None
    deleted: bool = False

    @property
    def prompt(self) -> str:
        return self.request.prompt


@dataclass(frozen=True)
class Filters:
    """What list()/count() show. `text` is a full-text query over prompt, negative and tags."""

    text: str = ""
    favourites_only: bool = False
    model: str | None = None
    mode: str | None = None
    tag: str | None = None
    deleted: bool = False  # True: only the soft-deleted (the bin); False: only the live ones

    def replace(self, **changes: Any) -> Filters:
        return dataclasses.replace(self, **changes)


def fts_query(text: str) -> str:
    """Artist text -> a safe FTS5 query: every word must match, the last one as a prefix (so the
    grid narrows while typing). Quotes keep FTS operators in the text from being interpreted."""
    words = re.findall(r"\w+", text, flags=re.UNICODE)
    if not words:
        return ""
    quoted = [f'"{w}"' for w in words]
    quoted[-1] += "*"
    return " AND ".join(quoted)


class Gallery:
    """Open with `Gallery.open()`; close() when done (the app does at exit)."""

    def __init__(self, root: Path, db: Database) -> None:
        self.root = root
        self.images_dir = root / "images"
        self._db = db

    @classmethod
    def open(cls, home: Path | None = None, clean_min_age: float | None = 600.0) -> Gallery:
        """Open STUDIO_HOME/gallery (or home/gallery): create or migrate the database, move an
        unreadable one aside (see `notice`), and remove files a crashed writer left behind.
        `clean_min_age=None` skips that scan (the window runs it on a worker thread instead:
        it walks every image file, a few hundred ms for 10,000)."""
        root = (Path(home) if home is not None else studio_home()) / "gallery"
        (root / "images").mkdir(parents=True, exist_ok=True)
        gallery = cls(root, Database.open(root / "gallery.db"))
        if clean_min_age is not None:
            gallery.clean_orphans(clean_min_age)
        return gallery

    @property
    def notice(self) -> str | None:
        """A one-line message for the artist from opening (e.g. a corrupt database replaced)."""
        return self._db.notice

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
        try:
            yield
        except sqlite3.DatabaseError as exc:
            if is_corruption(exc):
                raise GalleryError(
                    "the gallery database is damaged; restart Studio to move it aside and start a new one"
                ) from None
            if isinstance(exc, sqlite3.OperationalError) and "locked" in str(exc):
                raise GalleryError("the gallery is busy in another program; try again in a moment") from None
            raise

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
    ) -> Record:
        """Record a finished job: a Finished event, or (request, image, timings, info).

        The image file (PNG with the same embedded parameters as an export) is written and
        fsynced first; only then does the row commit. If the commit fails the file is removed.
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
        data = files.png_bytes(image, image_info(request, info))
        digest = files.sha256_bytes(data)
        thumb = files.thumbnail_bytes(image)
        pixels = files.pixels_sha256(image)
        path = files.new_image_path(self.images_dir, created, request.seed)
        try:
            files.write_durably(path, data)
        except OSError as exc:
            raise GalleryError(f"could not save the image to the gallery ({exc.strerror or exc})") from None
        relative = path.relative_to(self.root).as_posix()
        name, mhash = model_name(request, info), model_hash(info)
        try:
            with self.transaction() as cur:
                if parent_id is not None:
                    if cur.execute("SELECT 1 FROM images WHERE id = ?", (parent_id,)).fetchone() is None:
                        raise GalleryError(f"gallery entry {parent_id} does not exist (parent)")
                cur.execute(
                    """INSERT INTO images (created, request_json, prompt, negative, seed, steps,
                    guidance, width, height, scheduler, model_name, model_hash, mode, timings_json,
                    info_json, path, sha256, thumbnail, parent_id, pixels_sha256)
                    VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
                    (created, request.to_json(), request.prompt, request.negative_prompt,
                     request.seed, request.steps, float(request.guidance_scale), image.width,
                     image.height, request.scheduler, name, mhash, request.mode,
                     json.dumps(timings, default=str), json.dumps(info, default=str), relative, digest, thumb,
                     parent_id, pixels),
                )
                new_id = int(cur.lastrowid)
        except BaseException:
            path.unlink(missing_ok=True)
            raise
        return Record(new_id, created, request, path, digest, name, mhash, request.mode, timings,
                      info, False, (), parent_id, False)

    # ---- reading -----------------------------------------------------------------------------
    def _record(self, row: sqlite3.Row) -> Record:
        try:
            request = GenerationRequest.from_json(row["request_json"])
        except (RequestError, TypeError):
            request = GenerationRequest(prompt="(unreadable request)")
        tags = tuple(sorted(t for t in row["tags_text"].split("\n") if t))
        return Record(
            id=row["id"], created=row["created"], request=request,
            path=self.root / row["path"], sha256=row["sha256"], model_name=row["model_name"],
            model_hash=row["model_hash"], mode=row["mode"], timings=json.loads(row["timings_json"]),
            info=json.loads(row["info_json"]), favourite=bool(row["favourite"]), tags=tags,
            parent_id=row["parent_id"], deleted=row["deleted_at"] is not None,
        )

    def get(self, record_id: int) -> Record:
        """The entry with this id (deleted ones too); GalleryError if there is none."""
        with self._guard():
            row = self._db.connection().execute(
                f"SELECT {_COLUMNS} FROM images WHERE id = ?", (record_id,)
            ).fetchone()
        if row is None:
            raise GalleryError(f"there is no gallery entry {record_id}")
        return self._record(row)

    def _where(self, filters: Filters) -> tuple[str, list[Any]]:
        clauses = ["deleted_at IS NOT NULL" if filters.deleted else "deleted_at IS NULL"]
        args: list[Any] = []
        query = fts_query(filters.text)
        if filters.text.strip() and not query:
            clauses.append("0")  # only punctuation: nothing can match
        elif query:
            clauses.append("id IN (SELECT rowid FROM images_fts WHERE images_fts MATCH ?)")
            args.append(query)
        if filters.favourites_only:
            clauses.append("favourite = 1")
        if filters.model:
            clauses.append("model_name = ?")
            args.append(filters.model)
        if filters.mode:
            clauses.append("mode = ?")
            args.append(filters.mode)
        if filters.tag:
            clauses.append("id IN (SELECT image_id FROM tags WHERE tag = ?)")
            args.append(filters.tag)
        return " AND ".join(clauses), args

    def list(self, offset: int = 0, limit: int = 100, filters: Filters | None = None) -> list[Record]:
        """Entries newest first."""
        where, args = self._where(filters or Filters())
        with self._guard():
            rows = self._db.connection().execute(
                f"SELECT {_COLUMNS} FROM images WHERE {where} "
                "ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",
                (*args, int(limit), int(offset)),
            ).fetchall()
        return [self._record(r) for r in rows]

    def count(self, filters: Filters | None = None) -> int:
        where, args = self._where(filters or Filters())
        with self._guard():
            return int(self._db.connection().execute(
                f"SELECT count(*) FROM images WHERE {where}", args).fetchone()[0])

    def matches(self, record_id: int, filters: Filters) -> bool:
        """Whether the entry is among those `filters` select."""
        where, args = self._where(filters)
        with self._guard():
            return self._db.connection().execute(
                f"SELECT 1 FROM images WHERE id = ? AND {where}", (record_id, *args)).fetchone() is not None

    def search(self, query: str, offset: int = 0, limit: int = 100,
               filters: Filters | None = None) -> list[Record]:
        """Full-text search over prompt, negative prompt and tags, newest first."""
        return self.list(offset, limit, (filters or Filters()).replace(text=query))

    def ids(self, offset: int = 0, limit: int = 100, filters: Filters | None = None) -> list[int]:
        """Just the ids, newest first (cheap paging for views)."""
        where, args = self._where(filters or Filters())
        with self._guard():
            rows = self._db.connection().execute(
                f"SELECT id FROM images WHERE {where} ORDER BY created DESC, id DESC LIMIT ? OFFSET ?",
                (*args, int(limit), int(offset)),
            ).fetchall()
        return [int(r[0]) for r in rows]

    def find_by_path(self, path: str | Path) -> Record | None:
        """The entry whose image file is `path` (e.g. a request's init_image), if any."""
        try:
            relative = Path(path).resolve().relative_to(self.root.resolve()).as_posix()
        except (OSError, ValueError):
            return None
        with self._guard():
            row = self._db.connection().execute(
                f"SELECT {_COLUMNS} FROM images WHERE path = ? ORDER BY id DESC LIMIT 1", (relative,)
            ).fetchone()
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
        with self._guard():
            row = self._db.connection().execute(
                f"SELECT {_COLUMNS} FROM images WHERE pixels_sha256 = ? AND deleted_at IS NULL "
                "ORDER BY id DESC LIMIT 1", (pixels,)).fetchone()
        return None if row is None else self._record(row)

    def thumbnail(self, record_id: int) -> bytes | None:
        """The WebP thumbnail bytes (about 128 px), or None."""
        with self._guard():
            row = self._db.connection().execute(
                "SELECT thumbnail FROM images WHERE id = ?", (record_id,)).fetchone()
        return None if row is None else row[0]

    def models(self) -> list[str]:
        """Model names that have live entries, for the filter menu."""
        with self._guard():
            rows = self._db.connection().execute(
                "SELECT DISTINCT model_name FROM images WHERE deleted_at IS NULL ORDER BY model_name"
            ).fetchall()
        return [r[0] for r in rows]

    def children(self, record_id: int) -> list[Record]:
        """Live entries made from this one (variations, inpaints), oldest first."""
        with self._guard():
            rows = self._db.connection().execute(
                f"SELECT {_COLUMNS} FROM images WHERE parent_id = ? AND deleted_at IS NULL "
                "ORDER BY created, id", (record_id,)).fetchall()
        return [self._record(r) for r in rows]

    def parent(self, record_id: int) -> Record | None:
        parent_id = self.get(record_id).parent_id
        return None if parent_id is None else self.get(parent_id)

    # ---- changing ----------------------------------------------------------------------------
    def _update(self, sql: str, args: tuple, record_id: int) -> None:
        with self.transaction() as cur:
            cur.execute(sql, args)
            if cur.rowcount == 0:
                raise GalleryError(f"there is no gallery entry {record_id}")

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
        return clean

    def remove_tag(self, record_id: int, tag: str) -> None:
        with self.transaction() as cur:
            cur.execute("DELETE FROM tags WHERE image_id = ? AND tag = ?",
                        (record_id, " ".join(str(tag).split())))

    def delete(self, record_id: int) -> None:
        """Soft delete: hidden from lists and search, file kept, undone by undelete()."""
        self.get(record_id)  # raises for an unknown id
        with self.transaction() as cur:
            cur.execute("UPDATE images SET deleted_at = ? WHERE id = ? AND deleted_at IS NULL",
                        (time.time(), record_id))

    def undelete(self, record_id: int) -> None:
        self.get(record_id)  # raises for an unknown id
        with self.transaction() as cur:
            cur.execute("UPDATE images SET deleted_at = NULL WHERE id = ?", (record_id,))

    def purge_deleted(self, older_than: float = 30 * 86400) -> int:
        """Remove entries deleted more than `older_than` seconds ago, rows first, then files
        (a crash in between leaves an orphan file, never a row without its file)."""
        cutoff = time.time() - older_than
        with self.transaction() as cur:
            rows = cur.execute(
                "SELECT id, path FROM images WHERE deleted_at IS NOT NULL AND deleted_at <= ?",
                (cutoff,)).fetchall()
            cur.executemany("DELETE FROM images WHERE id = ?", [(r[0],) for r in rows])
        for row in rows:
            (self.root / row[1]).unlink(missing_ok=True)
        return len(rows)

    # ---- upkeep ------------------------------------------------------------------------------
    def clean_orphans(self, min_age: float = 600.0) -> list[Path]:
        """Remove temp files and unrecorded image files older than `min_age` seconds."""
        with self._guard():
            known = {r[0] for r in self._db.connection().execute("SELECT path FROM images")}
        return files.clean_orphans(self.images_dir, known, min_age)

    def integrity_check(self) -> str:
        """SQLite's full integrity check: "ok" when the file is sound."""
        return self._db.integrity()

    def verify_files(self) -> list[int]:
        """Ids whose image file is missing or does not hash to the recorded sha256."""
        bad = []
        with self._guard():
            rows = self._db.connection().execute("SELECT id, path, sha256 FROM images").fetchall()
        for record_id, rel, digest in rows:
            path = self.root / rel
            if not path.is_file() or files.sha256_file(path) != digest:
                bad.append(int(record_id))
        return bad
