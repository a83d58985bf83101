"""Stacks, as part of the Gallery: a grid, a strip, a batch or a chain of edits lists as one tile.

A member's `stack_id` names the stack's head (the grid, the strip, a batch's first picture, the
source an edit chain started from); the head's own `stack_id` is NULL and its `cover_id` names the
member its tile shows (NULL: the head itself). Both are journalled by file, so a gallery rebuilt
from its files keeps its stacks.
"""

from __future__ import annotations

from collections.abc import Iterable

from studio.gallery.db import GalleryError
from studio.gallery.query import Filters, Record, select_sql


class StacksMixin:
    """Gallery methods for stacks (the Gallery supplies _fetch, transaction, _journal, _record)."""

    def _head_of(self, record_id: int) -> int:
        row = self._fetch("SELECT stack_id FROM images WHERE id = ?", (int(record_id),), one=True)
        if row is None:
            raise GalleryError(f"there is no gallery entry {record_id}")
        return int(row[0]) if row[0] is not None else int(record_id)

    def stack_members(self, record_id: int) -> list[Record]:
        """The live stack holding `record_id`: its cover first, then the rest oldest first (a
        record alone is a stack of one)."""
        head = self._head_of(record_id)
        select, args = select_sql(Filters())
        found = self._fetch(
            f"SELECT {select} FROM images WHERE (images.id = ? OR images.stack_id = ?) "
            "AND images.deleted_at IS NULL AND images.scratch IS NULL "
            "ORDER BY images.created, images.id", (*args, head, head))
        members = [self._record(r) for r in found]
        cover_row = self._fetch("SELECT cover_id FROM images WHERE id = ?", (head,), one=True)
        cover = cover_row[0] if cover_row is not None and cover_row[0] is not None else head
        return sorted(members, key=lambda r: r.id != cover)  # stable: the rest stay by age

    def set_cover(self, record_id: int) -> None:
        """Make this member the one its stack's tile shows."""
        head = self._head_of(record_id)
        with self.transaction() as cur:
            cur.execute("UPDATE images SET cover_id = ? WHERE id = ?",
                        (None if int(record_id) == head else int(record_id), head))
        self._journal(head)

    def make_stack(self, head_id: int, member_ids: Iterable[int]) -> None:
        """Stack entries under `head_id` (a grid's cells, a strip's frames, a batch under its
        first picture). A member that heads a stack brings its members along; when the head is
        itself a member of another stack, they all join that one."""
        head = self._head_of(head_id)
        ids = [i for i in self._existing(member_ids) if i != head]
        if not ids:
            return
        with self.transaction() as cur:
            marks = ",".join("?" * len(ids))
            moved = [r[0] for r in cur.execute(
                f"SELECT id FROM images WHERE stack_id IN ({marks}) AND id != ?", (*ids, head))]
            cur.execute(f"UPDATE images SET stack_id = ?, cover_id = NULL WHERE id IN ({marks})",
                        (head, *ids))
            cur.execute(f"UPDATE images SET stack_id = ? WHERE stack_id IN ({marks}) AND id != ?",
                        (head, *ids, head))
        self._journal_many([*ids, *moved])

    def unstack(self, record_ids: Iterable[int]) -> None:
        """Take entries out of their stacks: each lists on its own again."""
        ids = self._existing(record_ids)
        with self.transaction() as cur:
            cur.executemany("UPDATE images SET stack_id = NULL WHERE id = ?", [(i,) for i in ids])
        self._journal_many(ids)
