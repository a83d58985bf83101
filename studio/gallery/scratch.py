"""Scratch frames, as part of the Gallery: what a live slider (blend, seed, text diff, strength)
renders while it moves. Each is recorded like any picture, with `scratch` = the slider session's
id, and is hidden from listings and counts; the frame the artist keeps (stops on, exports, Ctrl+K)
becomes an ordinary record that still names its `session`, so its strip can be opened again and
any frame promoted. Frames never kept are purged after a setting (7 days by default) with the
soft-deleted records.
"""

from __future__ import annotations

import time

from studio.gallery.db import GalleryError
from studio.gallery.query import Filters, Record, select_sql

SCRATCH_KEEP_S = 7 * 86400.0  # the default of the scratch_keep_days setting
MAX_SESSION = 128


def session_id(session: object) -> str:
    """A scratch session id as stored; GalleryError if unusable."""
    text = str(session).strip() if session is not None else ""
    if not text or len(text) > MAX_SESSION:
        raise GalleryError(f"a scratch session needs an id of 1 to {MAX_SESSION} characters")
    return text


class ScratchMixin:
    """Gallery methods for scratch frames (the Gallery supplies _fetch, transaction, _journal)."""

    def scratch_frames(self, session: str) -> list[Record]:
        """Every live frame of a slider session, oldest first: those still scratch and those kept
        (their `scratch` is None)."""
        select, args = select_sql(Filters())
        found = self._fetch(f"SELECT {select} FROM images WHERE images.session = ? AND "
                            "images.deleted_at IS NULL ORDER BY images.created, images.id",
                            (*args, str(session)))
        return [self._record(r) for r in found]

    def scratch_session_of(self, record_id: int) -> str | None:
        """The slider session a record came from (kept or not), so its strip can be opened."""
        row = self._fetch("SELECT session FROM images WHERE id = ?", (int(record_id),), one=True)
        if row is None:
            raise GalleryError(f"there is no gallery entry {record_id}")
        return row[0]

    def keep(self, record_id: int) -> Record:
        """Promote a scratch frame to an ordinary record (it stays linked to its session);
        keeping a record that is not scratch changes nothing."""
        with self.transaction() as cur:
            cur.execute("UPDATE images SET scratch = NULL WHERE id = ?", (int(record_id),))
            if cur.rowcount == 0:
                raise GalleryError(f"there is no gallery entry {record_id}")
        self._journal(int(record_id))
        return self.get(int(record_id))

    def purge_scratch(self, older_than: float = SCRATCH_KEEP_S) -> int:
        """Remove scratch frames (never kept) made more than `older_than` seconds ago, rows first,
        then files; returns how many."""
        cutoff = time.time() - older_than
        with self.transaction() as cur:
            found = cur.execute("SELECT id, path FROM images WHERE scratch IS NOT NULL AND created <= ?",
                                (cutoff,)).fetchall()
            cur.executemany("DELETE FROM images WHERE id = ?", [(r[0],) for r in found])
        for row in found:
            (self.root / row[1]).unlink(missing_ok=True)
        return len(found)
