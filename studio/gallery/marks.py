"""The marks journal: favourites, tags and deletions kept beside the image files as well as in the
database, so that a gallery rebuilt from its files after the database is lost keeps them.

`gallery/marks.jsonl` holds one JSON object a line, each the whole state of one image's marks
after a change: {"file": "images/2026/12/x.png", "favourite": true, "tags": ["sky"],
"deleted_at": null}. The last line for a file wins. Lines are appended after the database commit;
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

    @property
    def is_default(self) -> bool:
        return not self.favourite and not self.tags and self.deleted_at is None


def _line(file: str, marks: Marks) -> str:
    return json.dumps({"file": file, "favourite": marks.favourite, "tags": list(marks.tags),
                       "deleted_at": marks.deleted_at}, ensure_ascii=False) + "\n"


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
    return data["file"], Marks(
        favourite=data.get("favourite") is True,
        tags=tuple(t for t in tags if isinstance(t, str)) if isinstance(tags, list) else (),
        deleted_at=float(deleted) if isinstance(deleted, int | float) and not isinstance(deleted, bool)
        else None,
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
    """The marks of an `images` row selected as (path, favourite, tags_text, deleted_at)."""
    tags = tuple(sorted(t for t in (row[2] or "").split("\n") if t))
    return Marks(favourite=bool(row[1]), tags=tags, deleted_at=row[3])
