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


def where_clause(filters: Filters) -> tuple[str, list[Any]]:
    """The WHERE clause (and its arguments) that selects what `filters` show."""
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

