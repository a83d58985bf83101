"""What the gallery lists: a record, the filters of a listing and the SQL they become. No Qt."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from studio.core.request import GenerationRequest


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
    rating: int = 0  # 0..5
    boards: tuple[str, ...] = ()
    stack_id: int | None = None  # the head of this record's stack; None: it heads one or is alone
    stack_size: int = 1  # on a head: its listed members, itself included
    cover_id: int | None = None  # on a head (or a record alone): the member its tile shows
    scratch: str | None = None  # a live slider frame not yet kept: its session (hidden from lists)

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
    board: str | None = None
    min_rating: int = 0
    sort: str = "date"  # one of SORTS
    descending: bool = True
    stacks: bool = True  # True: a stack lists as its head only (with stack_size); False: every member

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


# Each sort: its key columns in `images` (the last ones break ties), matching an index of m005.
SORTS: dict[str, tuple[str, ...]] = {
    "date": ("created", "id"),
    "rating": ("rating", "created", "id"),
    "prompt": ("prompt COLLATE NOCASE", "id"),
    "model": ("model_name", "created", "id"),
    "size": ("(width * height)", "created", "id"),
}


def _own(filters: Filters, t: str) -> tuple[list[str], list[Any]]:
    """The conditions on one row (table alias `t`) that `filters` ask for, stacks aside.
    A unary + keeps SQLite from using a filter's own index: the sort order's index (m005: it
    holds every filtered column) is walked instead, in order, and stops at the page's end."""
    clauses = [f"{t}.deleted_at IS NOT NULL" if filters.deleted else f"{t}.deleted_at IS NULL",
               f"{t}.scratch IS NULL"]
    args: list[Any] = []
    query = fts_query(filters.text)
    if filters.text.strip() and not query:
        clauses.append("0")  # only punctuation: nothing can match
    elif query:
        clauses.append(f"+{t}.id IN (SELECT rowid FROM images_fts WHERE images_fts MATCH ?)")
        args.append(query)
    if filters.favourites_only:
        clauses.append(f"+{t}.favourite = 1")
    if filters.model:
        clauses.append(f"+{t}.model_name = ?")
        args.append(filters.model)
    if filters.mode:
        clauses.append(f"+{t}.mode = ?")
        args.append(filters.mode)
    if filters.tag:
        clauses.append(f"+{t}.id IN (SELECT image_id FROM tags WHERE tag = ?)")
        args.append(filters.tag)
    if filters.board:
        clauses.append(f"+{t}.id IN (SELECT bi.image_id FROM board_images bi JOIN boards b "
                       "ON b.id = bi.board_id WHERE b.name = ?)")
        args.append(" ".join(filters.board.split()))
    if filters.min_rating > 0:
        clauses.append(f"+{t}.rating >= ?")
        args.append(int(filters.min_rating))
    return clauses, args


def where_clause(filters: Filters) -> tuple[str, list[Any]]:
    """The WHERE clause (and its arguments) over `images` that selects what `filters` show.
    With `stacks`, a member is left out when its head is listed (the head stands for it); a
    member whose head is not (deleted, filtered out) is listed on its own."""
    clauses, args = _own(filters, "images")
    if filters.stacks and not filters.deleted:
        head, head_args = _own(filters, "h")
        if len(head) == 2:  # live and not scratch only: the few heads that are not are listed once
            clauses.append("(images.stack_id IS NULL OR images.stack_id IN (SELECT id FROM images "
                           "WHERE deleted_at IS NOT NULL AND scratch IS NULL UNION ALL SELECT id "
                           "FROM images WHERE scratch IS NOT NULL))")
        else:  # the filtered rows are fewer: each member asks about its head
            clauses.append("(images.stack_id IS NULL OR NOT EXISTS (SELECT 1 FROM images h "
                           f"WHERE h.id = images.stack_id AND {' AND '.join(head)}))")
            args += head_args
    return " AND ".join(clauses), args


def stack_size_sql(filters: Filters) -> tuple[str, list[Any]]:
    """A SELECT expression: on a head, 1 + its members that `filters` would list; else 1."""
    member, args = _own(filters.replace(deleted=False), "m")
    return (f"CASE WHEN images.stack_id IS NULL THEN 1 + (SELECT count(*) FROM images m "
            f"WHERE m.stack_id = images.id AND {' AND '.join(member)}) ELSE 1 END"), args


def order_clause(filters: Filters) -> str:
    """ORDER BY for `filters.sort` (an unknown sort is refused by check_filters first)."""
    way = "DESC" if filters.descending else "ASC"
    return ", ".join(f"{_qualified(k)} {way}" for k in SORTS[filters.sort])


def _qualified(key: str) -> str:
    if key.startswith("("):
        return "(images.width * images.height)"
    return "images." + key


def after_clause(filters: Filters, key: tuple[Any, ...]) -> str:
    """Rows strictly after the row whose sort key is `key` (keyset paging: no OFFSET scan)."""
    columns = ", ".join(_qualified(k) for k in SORTS[filters.sort])
    marks = ", ".join("?" for _ in key)
    return f"({columns}) {'<' if filters.descending else '>'} ({marks})"


COLUMNS = (
    "images.id, images.created, images.request_json, images.model_name, images.model_hash, "
    "images.mode, images.timings_json, images.info_json, images.path, images.sha256, "
    "images.favourite, images.parent_id, images.deleted_at, images.tags_text, images.rating, "
    "images.stack_id, images.cover_id, images.scratch, "
    "(SELECT group_concat(b.name, char(10)) FROM board_images bi JOIN boards b ON b.id = bi.board_id "
    "WHERE bi.image_id = images.id) AS boards_text"
)


def select_sql(filters: Filters | None = None) -> tuple[str, list[Any]]:
    """The SELECT list a Record is read from (stack sizes counted as `filters` list members)."""
    size, args = stack_size_sql(filters or Filters())
    return f"{COLUMNS}, {size} AS stack_size", args


def check_filters(filters: Filters) -> str | None:
    """One line saying what is wrong with `filters` as an artist (or the CLI) set them, or None."""
    if filters.sort not in SORTS:
        return f"cannot sort by {filters.sort!r}; choose one of {', '.join(SORTS)}"
    if isinstance(filters.min_rating, bool) or not isinstance(filters.min_rating, int) \
            or not 0 <= filters.min_rating <= 5:
        return f"a minimum rating is a whole number from 0 to 5, not {filters.min_rating!r}"
    return None


def key_select(filters: Filters) -> str:
    """The SELECT list of one row's sort key (for `after_clause`)."""
    return ", ".join(_qualified(k).replace(" COLLATE NOCASE", "") for k in SORTS[filters.sort])

