"""Boards (named collections an image may be on several of) and ratings, as part of the Gallery.

A board is a row in `boards`; membership is `board_images`. Membership and ratings are journalled
per image (studio.gallery.marks) so that a gallery rebuilt from its files keeps them; a board
with no member is not (there is nothing to hang it on).
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from studio.gallery.db import GalleryError

MAX_BOARD_NAME = 64
MAX_RATING = 5


def board_name(name: Any) -> str:
    """A board name as stored (trimmed, inner whitespace collapsed); GalleryError if unusable."""
    clean = " ".join(str(name).split())
    if not clean:
        raise GalleryError("a board needs a name")
    if len(clean) > MAX_BOARD_NAME:
        raise GalleryError(f"a board name can be at most {MAX_BOARD_NAME} characters")
    return clean


class BoardsMixin:
    """Gallery methods for boards and ratings (the Gallery supplies _fetch, transaction, _journal)."""

    def set_rating(self, record_ids: Iterable[int], rating: int) -> None:
        """Rate entries 0 (unrated) to 5."""
        if isinstance(rating, bool) or not isinstance(rating, int) or not 0 <= rating <= MAX_RATING:
            raise GalleryError(f"a rating is a whole number from 0 to {MAX_RATING}, not {rating!r}")
        ids = self._existing(record_ids)
        with self.transaction() as cur:
            cur.executemany("UPDATE images SET rating = ? WHERE id = ?", [(rating, i) for i in ids])
        self._journal_many(ids)

    def boards(self) -> list[tuple[str, int]]:
        """Every board with how many live entries it holds, by name."""
        # All members less those deleted or scratch: both counted from small indexes (asking each
        # member's row whether it is live reads thousands of rows).
        found = self._fetch(
            "SELECT b.id, b.name, (SELECT count(*) FROM board_images bi WHERE bi.board_id = b.id) "
            "FROM boards b ORDER BY b.name COLLATE NOCASE")
        gone = dict(self._fetch(
            "SELECT board_id, count(*) FROM board_images WHERE image_id IN (SELECT id FROM images "
            "WHERE deleted_at IS NOT NULL AND scratch IS NULL UNION ALL SELECT id FROM images "
            "WHERE scratch IS NOT NULL) GROUP BY board_id"))
        return [(str(r[1]), int(r[2]) - int(gone.get(r[0], 0))) for r in found]

    def create_board(self, name: str) -> str:
        """A new, empty board; returns its name as stored. GalleryError if the name is taken."""
        clean = board_name(name)
        with self.transaction() as cur:
            if cur.execute("SELECT 1 FROM boards WHERE name = ?", (clean,)).fetchone():
                raise GalleryError(f"there is already a board named {clean!r}")
            cur.execute("INSERT INTO boards (name, created) VALUES (?, ?)", (clean, time.time()))
        return clean

    def rename_board(self, old: str, new: str) -> None:
        clean = board_name(new)
        with self.transaction() as cur:
            board = self._board_id(cur, old)
            taken = cur.execute("SELECT id FROM boards WHERE name = ?", (clean,)).fetchone()
            if taken is not None and taken[0] != board:
                raise GalleryError(f"there is already a board named {clean!r}")
            cur.execute("UPDATE boards SET name = ? WHERE id = ?", (clean, board))
            members = [r[0] for r in cur.execute(
                "SELECT image_id FROM board_images WHERE board_id = ?", (board,))]
        self._journal_many(members)

    def delete_board(self, name: str) -> None:
        """Remove a board; its pictures stay in the gallery."""
        with self.transaction() as cur:
            board = self._board_id(cur, name)
            members = [r[0] for r in cur.execute(
                "SELECT image_id FROM board_images WHERE board_id = ?", (board,))]
            cur.execute("DELETE FROM boards WHERE id = ?", (board,))
        self._journal_many(members)

    def add_to_board(self, name: str, record_ids: Iterable[int]) -> int:
        """Put entries on a board (made if missing); returns how many were not on it yet."""
        clean = board_name(name)
        ids = self._existing(record_ids)
        with self.transaction() as cur:
            found = cur.execute("SELECT id FROM boards WHERE name = ?", (clean,)).fetchone()
            if found is None:
                cur.execute("INSERT INTO boards (name, created) VALUES (?, ?)", (clean, time.time()))
                board = int(cur.lastrowid)
            else:
                board = int(found[0])
            now = time.time()
            added = 0
            for record_id in ids:
                cur.execute("INSERT OR IGNORE INTO board_images (board_id, image_id, added) "
                            "VALUES (?, ?, ?)", (board, record_id, now))
                added += cur.rowcount
        self._journal_many(ids)
        return added

    def remove_from_board(self, name: str, record_ids: Iterable[int]) -> int:
        """Take entries off a board; returns how many were on it."""
        ids = [int(i) for i in record_ids]
        with self.transaction() as cur:
            board = self._board_id(cur, name)
            removed = 0
            for record_id in ids:
                cur.execute("DELETE FROM board_images WHERE board_id = ? AND image_id = ?",
                            (board, record_id))
                removed += cur.rowcount
        self._journal_many(ids)
        return removed

    def board_ids(self, name: str) -> list[int]:
        """The live entries on a board, newest first (e.g. to export it)."""
        found = self._fetch(
            "SELECT i.id FROM board_images bi JOIN boards b ON b.id = bi.board_id "
            "JOIN images i ON i.id = bi.image_id WHERE b.name = ? AND i.deleted_at IS NULL "
            "AND i.scratch IS NULL ORDER BY i.created DESC, i.id DESC", (" ".join(str(name).split()),))
        if not found and not self._fetch("SELECT 1 FROM boards WHERE name = ?",
                                         (" ".join(str(name).split()),), one=True):
            raise GalleryError(f"there is no board named {name!r}")
        return [int(r[0]) for r in found]

    @staticmethod
    def _board_id(cur: Any, name: str) -> int:
        found = cur.execute("SELECT id FROM boards WHERE name = ?", (" ".join(str(name).split()),)).fetchone()
        if found is None:
            raise GalleryError(f"there is no board named {name!r}")
        return int(found[0])

    def _existing(self, record_ids: Iterable[int]) -> list[int]:
        """The ids, each checked to name an entry (GalleryError, one line, for the first that does not)."""
        ids = list(dict.fromkeys(int(i) for i in record_ids))
        for start in range(0, len(ids), 500):
            chunk = ids[start:start + 500]
            known = {r[0] for r in self._fetch(
                f"SELECT id FROM images WHERE id IN ({','.join('?' * len(chunk))})", chunk)}
            missing = [i for i in chunk if i not in known]
            if missing:
                raise GalleryError(f"there is no gallery entry {missing[0]}")
        return ids
