"""Jobs waiting to run, kept in SQLite beside the gallery (queue.db), so that a closed window, a
crash or a kill never loses them: the next launch offers to resume or discard them.

Each row is one `JobSpec.to_bytes()` (request, input pictures, model) under its spec_id, in the
order submitted. The connection settings are the gallery's (studio.gallery.db.Database: WAL,
synchronous=NORMAL, foreign keys, busy timeout, a cursor per transaction), so every add or remove
is one transaction that a kill leaves either done or not done. A row that no longer parses is
moved to the `damaged` table (kept, logged) and skipped; a file SQLite cannot read is renamed
aside and a new one started, so the window always opens.
"""

from __future__ import annotations

import logging
import sqlite3
import time
from pathlib import Path

from studio.core.jobspec import JobSpec
from studio.core.paths import studio_home
from studio.core.request import RequestError
from studio.gallery.db import Database, GalleryError, is_corruption, move_aside

log = logging.getLogger(__name__)

FILE_NAME = "queue.db"


def _create(cur: sqlite3.Cursor) -> None:
    # position: AUTOINCREMENT never reuses a number, so the order of submission survives removals.
    cur.execute("""CREATE TABLE pending (
        position INTEGER PRIMARY KEY AUTOINCREMENT,
        spec_id TEXT NOT NULL UNIQUE,
        created REAL NOT NULL,
        spec BLOB NOT NULL)""")
    cur.execute("""CREATE TABLE damaged (
        spec_id TEXT NOT NULL,
        created REAL NOT NULL,
        spec BLOB NOT NULL,
        reason TEXT NOT NULL,
        set_aside REAL NOT NULL)""")


MIGRATIONS = [_create]  # schema version = len(MIGRATIONS)


class PendingJobs:
    """The stored queue. Safe to use from several threads (each gets its own connection)."""

    def __init__(self, db: Database, notice: str | None = None) -> None:
        self._db = db
        self.path = db.path
        self.notice = notice  # one line for the artist when a damaged file was set aside

    @classmethod
    def open(cls, home: Path | None = None) -> PendingJobs:
        """Open (or create) home/gallery/queue.db. A damaged file is renamed aside and a new one
        made (see `notice`); GalleryError (one line) only when the folder cannot be written or a
        newer Studio wrote the file."""
        root = (Path(home) if home is not None else studio_home()) / "gallery"
        try:
            root.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise GalleryError(f"cannot create the folder {root} ({exc.strerror or exc})") from None
        path = root / FILE_NAME
        try:
            return cls(_open(path))
        except sqlite3.DatabaseError as exc:
            if not is_corruption(exc):
                raise GalleryError(f"cannot open the waiting jobs file {path}: {exc}") from None
        aside = move_aside(path)
        log.warning("the waiting-jobs file was damaged; moved to %s", aside)
        try:
            db = _open(path)
        except sqlite3.DatabaseError as exc:
            raise GalleryError(f"cannot open the waiting jobs file {path}: {exc}") from None
        return cls(db, f"The list of waiting pictures was damaged; it was kept as {aside.name} "
                       "and a new one started.")

    # ---- writing -------------------------------------------------------------------------------
    def add(self, spec: JobSpec) -> None:
        """Store `spec` at the end of the queue (again with the same spec_id: kept where it was)."""
        blob = spec.to_bytes()
        with self._db.transaction() as cur:
            cur.execute("INSERT INTO pending (spec_id, created, spec) VALUES (?, ?, ?) "
                        "ON CONFLICT(spec_id) DO NOTHING", (spec.spec_id, time.time(), blob))

    def remove(self, *spec_ids: str) -> None:
        """Forget these jobs (finished, cancelled, failed or discarded); unknown ids are ignored."""
        if not spec_ids:
            return
        with self._db.transaction() as cur:
            cur.executemany("DELETE FROM pending WHERE spec_id = ?", [(s,) for s in spec_ids])

    def clear(self) -> None:
        with self._db.transaction() as cur:
            cur.execute("DELETE FROM pending")

    # ---- reading -------------------------------------------------------------------------------
    def pending(self) -> list[JobSpec]:
        """The stored jobs in the order submitted. A row that does not parse is moved to the
        `damaged` table with a log line; an unreadable file gives [] (logged), never a crash."""
        try:
            with self._db.reading() as cur:
                rows = cur.execute("SELECT spec_id, created, spec FROM pending ORDER BY position").fetchall()
        except sqlite3.DatabaseError:
            log.exception("cannot read the waiting jobs from %s", self.path)
            return []
        specs, damaged = [], []
        for spec_id, created, blob in rows:
            try:
                spec = JobSpec.from_bytes(bytes(blob))
                if spec.spec_id != spec_id:
                    raise RequestError("its id does not match the row's")
            except (RequestError, TypeError) as exc:
                log.warning("skipping damaged waiting job %s: %s", spec_id, exc)
                damaged.append((spec_id, created, blob, str(exc)))
                continue
            specs.append(spec)
        if damaged:
            self._set_aside(damaged)
        return specs

    def __len__(self) -> int:
        with self._db.reading() as cur:
            return int(cur.execute("SELECT count(*) FROM pending").fetchone()[0])

    def close(self) -> None:
        self._db.close()

    def _set_aside(self, damaged: list[tuple]) -> None:
        try:
            with self._db.transaction() as cur:
                now = time.time()
                cur.executemany("INSERT INTO damaged (spec_id, created, spec, reason, set_aside) "
                                "VALUES (?, ?, ?, ?, ?)", [(*row, now) for row in damaged])
                cur.executemany("DELETE FROM pending WHERE spec_id = ?", [(row[0],) for row in damaged])
        except sqlite3.DatabaseError:
            log.exception("could not set damaged waiting jobs aside")


def _open(path: Path) -> Database:
    db = Database(path)
    try:
        version = db.user_version()  # reads the header: a file that is not SQLite fails here
        if version > len(MIGRATIONS):
            raise GalleryError(f"the waiting jobs in {path.name} were stored by a newer Studio "
                               f"(schema {version}); update Studio to resume them")
        db.migrate(MIGRATIONS)
        with db.reading() as cur:  # a damaged table fails here, not on the first add
            cur.execute("SELECT count(*) FROM pending").fetchone()
    except BaseException:
        db.close()
        raise
    return db
