"""The gallery's SQLite file: one connection per thread, a cursor per transaction, migrations.

Settings and why:
- WAL: the window reads while the inference thread (or a `studio generate` in a terminal) writes.
- synchronous=NORMAL: in WAL mode a commit survives a crash or kill of the process; only a power
  cut can drop the last few commits, and it never corrupts the file. Image files are fsynced
  (file and folder) before their row commits, so a dropped row leaves an orphan file that start-up
  cleans, never a row that points at a missing file. FULL would fsync on every commit for nothing
  an artist can see.
- foreign_keys=ON (tags, lineage) and a busy timeout so that two processes wait instead of failing.
"""

from __future__ import annotations

import functools
import logging
import sqlite3
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from studio.gallery.schema import MIGRATIONS

log = logging.getLogger(__name__)

BUSY_TIMEOUT_MS = 10_000
_CORRUPT = {"SQLITE_CORRUPT", "SQLITE_NOTADB"}


class GalleryError(Exception):
    """A gallery failure; the message is one line an artist can act on."""


class DatabaseDamaged(GalleryError):
    """The database file cannot be read as a whole (the gallery heals it from its files)."""


def is_corruption(exc: BaseException) -> bool:
    return isinstance(exc, sqlite3.DatabaseError) and (
        getattr(exc, "sqlite_errorname", "") in _CORRUPT
        or "malformed" in str(exc)
        or "not a database" in str(exc)
    )


class Database:
    """A gallery database file. Each thread gets its own connection (sqlite3 objects must not
    cross threads); `transaction()` hands out a fresh cursor for one write transaction."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.notice: str | None = None  # one line for the artist, e.g. a corrupt file moved aside
        self.was_empty = False  # True when migrate() found no schema (a new or zero-length file)
        self._local = threading.local()
        self._lock = threading.Lock()
        self._connections: list[sqlite3.Connection] = []
        self._closed = False

    @classmethod
    def open(cls, path: Path) -> Database:
        """Open (creating or migrating) the file. DatabaseDamaged when it cannot be read: the
        caller (Gallery) heals it; nothing here moves or deletes a file."""
        path.parent.mkdir(parents=True, exist_ok=True)
        db = cls(path)
        try:
            db.migrate()
            repaired = db.repair_schema()
        except sqlite3.DatabaseError as exc:
            db.close()
            if not is_corruption(exc):
                raise GalleryError(f"cannot open the gallery database {path}: {exc}") from None
            raise DatabaseDamaged(str(exc)) from None
        if repaired:
            db.notice = describe_repair(repaired)
        return db

    # ---- connections -------------------------------------------------------------------------
    def connection(self) -> sqlite3.Connection:
        """This thread's connection, opened on first use."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            if self._closed:
                raise GalleryError("the gallery is closed")
            # check_same_thread=False only so close() can close every thread's connection;
            # each connection is still used by the one thread that opened it.
            conn = sqlite3.connect(self.path, isolation_level=None, check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
            conn.execute("PRAGMA journal_mode = WAL")
            conn.execute("PRAGMA synchronous = NORMAL")
            conn.execute("PRAGMA foreign_keys = ON")
            conn.row_factory = sqlite3.Row
            # A damaged byte inside a text cell reads as U+FFFD instead of failing the whole query;
            # the request JSON it breaks is then read back from the image file.
            conn.text_factory = _lenient_text
            self._local.conn = conn
            with self._lock:
                self._connections.append(conn)
        return conn

    @contextmanager
    def transaction(self) -> Iterator[sqlite3.Cursor]:
        """A write transaction on this thread's connection with its own cursor; commits at the end
        of the block, rolls back if it raises. Takes the write lock up front (BEGIN IMMEDIATE) so
        that a busy database waits at the start instead of failing half-way."""
        conn = self.connection()
        cur = conn.cursor()
        cur.execute("BEGIN IMMEDIATE")
        try:
            yield cur
        except BaseException:
            if conn.in_transaction:
                cur.execute("ROLLBACK")
            raise
        else:
            cur.execute("COMMIT")
        finally:
            cur.close()

    @contextmanager
    def reading(self) -> Iterator[sqlite3.Cursor]:
        """A read snapshot: every query in the block sees the same committed state."""
        conn = self.connection()
        cur = conn.cursor()
        cur.execute("BEGIN")
        try:
            yield cur
        finally:
            if conn.in_transaction:
                cur.execute("COMMIT")
            cur.close()

    def close(self) -> None:
        self._closed = True
        with self._lock:
            connections, self._connections = self._connections, []
        for conn in connections:
            try:
                conn.close()
            except sqlite3.Error:
                pass
        self._local = threading.local()

    # ---- schema ------------------------------------------------------------------------------
    def user_version(self) -> int:
        return int(self.connection().execute("PRAGMA user_version").fetchone()[0])

    def migrate(self, migrations: list | None = None) -> None:
        """Bring the schema up to date, one transaction per migration, after a backup of an
        existing database. Safe when two processes start at once: each step re-reads the version
        under the write lock."""
        migrations = MIGRATIONS if migrations is None else migrations
        conn = self.connection()
        conn.execute("SELECT count(*) FROM sqlite_master").fetchone()  # reads the header: NOTADB here
        version = self.user_version()
        if version > len(migrations):
            raise GalleryError(
                f"the gallery was written by a newer Studio (schema {version}, this one knows "
                f"{len(migrations)}); update Studio to open it"
            )
        if version == len(migrations):
            return
        self.was_empty = version == 0
        if version > 0:
            self.backup(self.path.with_name(f"{self.path.name}.v{version}-{_stamp()}.bak"))
        for target, migration in enumerate(migrations[version:], start=version + 1):
            with self.transaction() as cur:
                current = int(cur.execute("PRAGMA user_version").fetchone()[0])
                if current >= target:
                    continue  # another process got there first
                migration(cur)
                cur.execute(f"PRAGMA user_version = {int(target)}")
            log.info("gallery schema migrated to version %d", target)

    def backup(self, dest: Path) -> Path:
        """A consistent copy of the database through SQLite's online backup API."""
        target = sqlite3.connect(dest)
        try:
            self.connection().backup(target)
        finally:
            target.close()
        return dest

    def integrity(self, quick: bool = False) -> str:
        """"ok", or SQLite's first finding. quick: skips index-vs-table checks (several times faster)."""
        pragma = "quick_check" if quick else "integrity_check"
        return str(self.connection().execute(f"PRAGMA {pragma}").fetchone()[0])

    def repair_schema(self) -> list[str]:
        """Recreate indexes, triggers and tables of the current schema that are missing (e.g. a
        dropped search index), rebuilding the search index if it was one. Returns their names.
        A missing `images` table is damage, not something to recreate empty: DatabaseDamaged."""
        expected = _reference_schema()
        conn = self.connection()
        present = {r[0] for r in conn.execute("SELECT name FROM sqlite_master")}
        missing = [(name, sql) for name, sql in expected if name not in present]
        if not missing:
            return []
        if any(name == "images" for name, _ in missing):
            raise DatabaseDamaged("the images table is missing")
        virtual = {name for name, sql in expected if sql.upper().startswith("CREATE VIRTUAL TABLE")}
        with self.transaction() as cur:
            for name, sql in missing:
                shadow = any(name.startswith(f"{v}_") for v in virtual) and sql.upper().startswith(
                    "CREATE TABLE")
                if not shadow:  # an FTS table's shadow tables come with it
                    cur.execute(sql)
            if any(name in virtual for name, _ in missing):
                for name in sorted(virtual):
                    cur.execute(f"INSERT INTO {name}({name}) VALUES ('rebuild')")
        names = [name for name, _ in missing]
        log.info("gallery schema repaired: recreated %s", ", ".join(names))
        return names


def describe_repair(names: list[str]) -> str:
    if any(name.endswith("_fts") for name in names):
        return "The gallery's search index was missing and has been rebuilt."
    return f"Missing parts of the gallery database were recreated ({', '.join(names)})."


def _lenient_text(data: bytes) -> str:
    return data.decode("utf-8", "replace")


@functools.cache
def _reference_schema() -> tuple[tuple[str, str], ...]:
    """(name, sql) of every table, index and trigger the migrations create, in creation order
    (built once per process in memory; every open compares the file with it)."""
    conn = sqlite3.connect(":memory:", isolation_level=None)
    try:
        cur = conn.cursor()
        for migration in MIGRATIONS:
            migration(cur)
        return tuple((r[0], r[1]) for r in conn.execute(
            "SELECT name, sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid"))
    finally:
        conn.close()


def _stamp() -> str:
    return time.strftime("%Y%m%d-%H%M%S")


def move_aside(path: Path) -> Path:
    """Rename a damaged database (and its -wal/-shm) to gallery.db.corrupt-<time>; kept, never deleted."""
    aside = path.with_name(f"{path.name}.corrupt-{_stamp()}")
    n = 1
    while aside.exists():
        n += 1
        aside = path.with_name(f"{path.name}.corrupt-{_stamp()}-{n}")
    path.replace(aside)
    for suffix in ("-wal", "-shm"):
        side = path.with_name(path.name + suffix)
        if side.exists():
            side.replace(aside.with_name(aside.name + suffix))
    return aside

