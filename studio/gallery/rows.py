"""One gallery row: what `images` holds for a picture, built from a finished job or read back from
the picture's own file, and the one INSERT both use.

Every gallery file carries, besides the parameters other tools read, a `studio-record` text chunk
with what only the database knew: the exact creation time, the parent's content hash (lineage),
timings and the engine's info without local paths. With it a lost database is rebuilt from the
files alone.
"""

from __future__ import annotations

import json
import re
import sqlite3
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.core.metadata import (
    STUDIO_KEY,
    MetadataError,
    model_hash,
    model_name,
    request_from_image_info,
)
from studio.core.request import GenerationRequest, RequestError
from studio.gallery import files
from studio.gallery.query import Record
from studio.gallery.sources import resolve_sources

if TYPE_CHECKING:
    from PIL.Image import Image

RECORD_KEY = "studio-record"
# Engine info keys that hold local paths: kept in the database, never written into a file.
_LOCAL_INFO_KEYS = {"model_path"}
_STAMP = re.compile(r"(\d{8}-\d{6})_")


@dataclass
class ImageRow:
    created: float
    request: GenerationRequest
    path: str  # relative to the gallery folder
    sha256: str
    width: int
    height: int
    thumbnail: bytes | None
    pixels_sha256: str | None
    timings: dict[str, Any] = field(default_factory=dict)
    info: dict[str, Any] = field(default_factory=dict)
    parent_id: int | None = None
    favourite: bool = False
    deleted_at: float | None = None
    id: int | None = None  # kept when a row is salvaged from a damaged database
    stack_id: int | None = None
    scratch: str | None = None  # a live slider frame not yet kept: its session
    session: str | None = None  # the live session the frame came from (kept or not)


def record_chunk(created: float, timings: dict[str, Any], info: dict[str, Any],
                 parent_sha256: str | None, scratch: str | None = None) -> str:
    """The `studio-record` text of a gallery file. A scratch frame says so (and its session), so
    that a gallery rebuilt without the marks journal still keeps it out of the listings."""
    shareable = {k: v for k, v in info.items() if k not in _LOCAL_INFO_KEYS and not _is_path(v)}
    data = {"created": created, "parent_sha256": parent_sha256, "timings": timings, "info": shareable}
    if scratch:
        data["scratch"] = scratch
    return json.dumps(data, default=str, ensure_ascii=False)


def _is_path(value: Any) -> bool:
    """A local path in the engine's info (files get shared: it stays in the database)."""
    return isinstance(value, str) and (value.startswith(("/", "~", "\\")) or value[1:3] in (":\\", ":/"))


def insert(cur: sqlite3.Cursor, row: ImageRow) -> int:
    """Insert `row` (with its own id when it has one); returns the id."""
    request = row.request
    cur.execute(
        """INSERT INTO images (id, created, request_json, prompt, negative, seed, steps, guidance,
        width, height, scheduler, model_name, model_hash, mode, timings_json, info_json, path,
        sha256, thumbnail, parent_id, pixels_sha256, favourite, deleted_at, stack_id, scratch, session)
        VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)""",
        (row.id, row.created, request.to_json(), request.prompt, request.negative_prompt,
         int(request.seed), int(request.steps), float(request.guidance_scale), row.width, row.height,
         request.scheduler, model_name(request, row.info), model_hash(row.info), request.mode,
         json.dumps(row.timings, default=str), json.dumps(row.info, default=str), row.path,
         row.sha256, row.thumbnail, row.parent_id, row.pixels_sha256, int(row.favourite),
         row.deleted_at, row.stack_id, row.scratch, row.session),
    )
    return int(cur.lastrowid)


def json_dict(text: Any) -> dict[str, Any]:
    try:
        value = json.loads(text) if isinstance(text, str) and len(text) < 1 << 20 else None
    except (ValueError, RecursionError):
        return {}
    return value if isinstance(value, dict) else {}


def request_from_text(text: dict[str, str], root: Path | None = None) -> GenerationRequest | None:
    """The request a file's text keys describe: Studio's JSON, else another tool's parameters.
    Sources the file names by content hash become the files in STUDIO_HOME/inputs again (the
    gallery under `root` is not asked: it may be what is being rebuilt); the others stay named
    by hash, so that the row still says what was made."""
    if STUDIO_KEY in text:
        try:
            request = GenerationRequest.from_json(text[STUDIO_KEY])
        except (RequestError, TypeError, ValueError, RecursionError):
            pass
        else:
            home = root.parent if root is not None else None
            return resolve_sources(request, None, home, drop_missing=False, use_gallery=False)[0]
    try:
        return request_from_image_info(text)
    except (MetadataError, RequestError, TypeError, ValueError, RecursionError):
        return None


def _created_from_name(name: str, fallback: float) -> float:
    match = _STAMP.match(name)
    if match:
        try:
            return datetime.strptime(match.group(1), "%Y%m%d-%H%M%S").timestamp()
        except ValueError:
            pass
    return fallback


@dataclass
class FileRow:
    """A row read back from a gallery file, with the parent's content hash still to resolve."""

    row: ImageRow
    parent_sha256: str | None


def row_from_file(root: Path, path: Path) -> FileRow | None:
    """Rebuild a gallery row from an image file under root/images; None when it is not an image.
    A picture whose parameters are unreadable is still listed, as "(parameters unreadable)"."""
    from PIL import Image, UnidentifiedImageError

    try:
        data = path.read_bytes()
        digest = files.sha256_bytes(data)
        with Image.open(path) as image:
            image.load()
            text = {str(k): v for k, v in image.info.items() if isinstance(v, str)}
            thumb = files.thumbnail_bytes(image)
            pixels = files.pixels_sha256(image)
            size = image.size
    except (OSError, UnidentifiedImageError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    stat_time = path.stat().st_mtime
    record = json_dict(text.get(RECORD_KEY))
    created = record.get("created")
    if not isinstance(created, int | float) or isinstance(created, bool):
        created = _created_from_name(path.name, stat_time)
    request = request_from_text(text, root) or GenerationRequest(prompt="(parameters unreadable)")
    parent = record.get("parent_sha256")
    timings = record.get("timings")
    info = record.get("info")
    scratch = record.get("scratch") if isinstance(record.get("scratch"), str) else None
    row = ImageRow(
        created=float(created), request=request, path=path.relative_to(root).as_posix(),
        sha256=digest, width=size[0], height=size[1], thumbnail=thumb, pixels_sha256=pixels,
        timings=timings if isinstance(timings, dict) else {},
        info=info if isinstance(info, dict) else {}, scratch=scratch, session=scratch,
    )
    return FileRow(row, parent if isinstance(parent, str) else None)


def image_row(request: GenerationRequest, image: Image, relative: str, data: bytes, created: float,
              timings: dict[str, Any], info: dict[str, Any], parent_id: int | None) -> ImageRow:
    """The row for a picture just written as `data` at `relative`."""
    return ImageRow(created=created, request=request, path=relative, sha256=files.sha256_bytes(data),
                    width=image.width, height=image.height, thumbnail=files.thumbnail_bytes(image),
                    pixels_sha256=files.pixels_sha256(image), timings=timings, info=info,
                    parent_id=parent_id)


def request_from_file(path: Path) -> GenerationRequest:
    """The request a gallery file carries, for a row whose own copy is damaged."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            text = {str(k): v for k, v in image.info.items() if isinstance(v, str)}
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        text = {}
    return request_from_text(text) or GenerationRequest(prompt="(unreadable request)")


def record_from_row(root: Path, row: sqlite3.Row) -> Record:
    """A record from its row (read with query.select_sql); a damaged request or JSON cell falls
    back to the image file."""
    path = root / row["path"]
    try:
        request = GenerationRequest.from_json(row["request_json"])
    except (RequestError, TypeError, ValueError, RecursionError):
        request = request_from_file(path)
    tags = tuple(sorted(t for t in (row["tags_text"] or "").split("\n") if t))
    boards = tuple(sorted((b for b in (row["boards_text"] or "").split("\n") if b), key=str.casefold))
    stack_id = row["stack_id"]
    return Record(
        id=row["id"], created=row["created"], request=request,
        path=path, sha256=row["sha256"], model_name=row["model_name"],
        model_hash=row["model_hash"], mode=row["mode"], timings=json_dict(row["timings_json"]),
        info=json_dict(row["info_json"]), favourite=bool(row["favourite"]), tags=tags,
        parent_id=row["parent_id"], deleted=row["deleted_at"] is not None,
        rating=int(row["rating"] or 0), boards=boards, stack_id=stack_id,
        stack_size=int(row["stack_size"] or 1),
        cover_id=(row["cover_id"] or row["id"]) if stack_id is None else None,
        scratch=row["scratch"],
    )
