"""The marks journal: favourites, tags and deletions kept beside the image files as well as in the
database, so that a gallery rebuilt from its files after the database is lost keeps them.

`gallery/marks.jsonl` holds one JSON object a line, each the whole state of one image's marks
after a change: {"file": "images/2026/12/x.png", "favourite": true, "tags": ["sky"],
"deleted_at": null}, plus, only when set, "rating", "boards", "stack" (the file heading its stack),
"cover" (on a head: the file its tile shows), "scratch" (the live session of a frame not yet kept)
and "session" (the session a frame came from). The last line for a file wins. Lines are appended after the database commit;
a line cut short by a crash is skipped on reading. When the journal grows past COMPACT_BYTES it is
rewritten (atomically) from the database's state, which it mirrors.
"""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.atomic import atomic_write_text

log = logging.getLogger(__name__)

JOURNAL_NAME = "marks.jsonl"
COMPACT_BYTES = 4 << 20
MAX_LINE_BYTES = 64 << 10  # a line longer than this is damage, not marks


@dataclass(frozen=True)
class Marks:
    favourite: bool = False
    tags: tuple[str, ...] = ()
    deleted_at: float | None = None
    rating: int = 0
    boards: tuple[str, ...] = ()
    stack: str | None = None
    cover: str | None = None
    scratch: str | None = None
    session: str | None = None

    @property
    def is_default(self) -> bool:
        return self == Marks()


_OPTIONAL = ("rating", "boards", "stack", "cover", "scratch", "session")

# The marks of `images` rows, in the order from_row reads them (a WHERE may follow).
SELECT = (
    "SELECT images.path, images.favourite, images.tags_text, images.deleted_at, images.rating, "
    "(SELECT group_concat(b.name, char(10)) FROM board_images bi JOIN boards b ON b.id = bi.board_id "
    "WHERE bi.image_id = images.id), h.path, c.path, images.scratch, images.session FROM images "
    "LEFT JOIN images h ON h.id = images.stack_id LEFT JOIN images c ON c.id = images.cover_id"
)
NOT_DEFAULT = ("images.favourite = 1 OR images.tags_text != '' OR images.deleted_at IS NOT NULL "
               "OR images.rating != 0 OR images.stack_id IS NOT NULL OR images.cover_id IS NOT NULL "
               "OR images.session IS NOT NULL OR EXISTS (SELECT 1 FROM board_images bi "
               "WHERE bi.image_id = images.id)")


def _line(file: str, marks: Marks) -> str:
    data: dict[str, Any] = {"file": file, "favourite": marks.favourite, "tags": list(marks.tags),
                            "deleted_at": marks.deleted_at}
    for key in _OPTIONAL:
        value = getattr(marks, key)
        if value:
            data[key] = list(value) if isinstance(value, tuple) else value
    return json.dumps(data, ensure_ascii=False) + "\n"


def _text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def append(root: Path, file: str, marks: Marks) -> None:
    """Record the marks of one image (its path relative to the gallery folder). A failure to write
    is logged, never raised: the database already holds the change."""
    try:
        with open(root / JOURNAL_NAME, "a", encoding="utf-8") as handle:
            handle.write(_line(file, marks))
    except OSError as exc:
        log.warning("could not update the gallery's marks journal: %s", exc)


def _parse(line: str) -> tuple[str, Marks] | None:
    try:
        data = json.loads(line)
    except ValueError:
        return None
    if not isinstance(data, dict) or not isinstance(data.get("file"), str):
        return None
    tags = data.get("tags")
    deleted = data.get("deleted_at")
    rating = data.get("rating")
    boards = data.get("boards")
    return data["file"], Marks(
        favourite=data.get("favourite") is True,
        tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
        deleted_at=float(deleted) if isinstance(deleted, int | float) and not isinstance(deleted, bool)
        else None,
        rating=rating if isinstance(rating, int) and not isinstance(rating, bool) and 0 <= rating <= 5 else 0,
        boards=tuple(b for b in boards if isinstance(b, str) and b) if isinstance(boards, list) else (),
        stack=_text(data.get("stack")), cover=_text(data.get("cover")),
        scratch=_text(data.get("scratch")), session=_text(data.get("session")),
    )


def read(root: Path) -> dict[str, Marks]:
    """The latest marks of every file the journal names; damaged lines are skipped."""
    marks: dict[str, Marks] = {}
    try:
        handle = open(root / JOURNAL_NAME, "rb")
    except OSError:
        return marks
    with handle:
        for raw in handle:
            if len(raw) > MAX_LINE_BYTES:
                continue
            parsed = _parse(raw.decode("utf-8", "replace"))
            if parsed is not None:
                marks[parsed[0]] = parsed[1]
    return marks


def exists(root: Path) -> bool:
    return (root / JOURNAL_NAME).exists()


def needs_compacting(root: Path) -> bool:
    try:
        return os.path.getsize(root / JOURNAL_NAME) > COMPACT_BYTES
    except OSError:
        return False


def rewrite(root: Path, state: Iterable[tuple[str, Marks]]) -> None:
    """Replace the journal with one line per file whose marks are not the defaults."""
    text = "".join(_line(file, m) for file, m in state if not m.is_default)
    atomic_write_text(root / JOURNAL_NAME, text)


def from_row(row: Any) -> Marks:
    """The marks of an `images` row read by SELECT."""
    tags = tuple(sorted(t for t in (row[2] or "").split("\n") if t))
    boards = tuple(sorted(b for b in (row[5] or "").split("\n") if b))
    return Marks(favourite=bool(row[1]), tags=tags, deleted_at=row[3], rating=int(row[4] or 0),
                 boards=boards, stack=row[6], cover=row[7], scratch=row[8], session=row[9])
