"""Healing the gallery: a damaged database is recovered with SQLite's own tools where possible and
rebuilt from the image files for the rest; image files the database does not know are adopted.
Nothing here ever deletes an image file.

The order of trust: a row salvaged from the damaged database (it has the id, favourite, deletion
and lineage as they were), then the picture's own file (every gallery file carries its request and
a `studio-record` chunk: created, timings, parent hash), then the marks journal for favourites,
tags and deletions of rows that only the files could tell.
"""

from __future__ import annotations

import logging
import os
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass, field, replace
from pathlib import Path

from studio.core.request import GenerationRequest, RequestError
from studio.gallery import marks, pages, rows
from studio.gallery.files import IMAGE_SUFFIXES

CHILDREN_KEY = "children_sha256"  # in a grid's info: its cells' file hashes (lineage after a heal)

log = logging.getLogger(__name__)

RECOVER_TIMEOUT_S = 120
_ROW_COLUMNS = ("id", "created", "request_json", "path", "sha256", "width", "height", "thumbnail",
                "pixels_sha256", "timings_json", "info_json", "parent_id", "favourite", "deleted_at")
_MISSES_BEFORE_STOP = 20_000  # ids probed past the last readable row when the index is damaged


@dataclass
class Salvage:
    """What could be read out of a damaged database file."""

    rows: list[rows.ImageRow] = field(default_factory=list)
    tags: dict[int, set[str]] = field(default_factory=dict)
    tags_readable: bool = False
    how: str = ""  # "sqlite3 .recover", "row by row", or "" when nothing was readable


@dataclass
class HealReport:
    from_database: int = 0
    from_files: int = 0
    marks_applied: int = 0
    unreadable_files: int = 0
    how: str = ""

    @property
    def total(self) -> int:
        return self.from_database + self.from_files


# ---- salvage -------------------------------------------------------------------------------------
def _recover_with_cli(damaged: Path, into: Path) -> bool:
    """SQLite's recovery (the sqlite3 shell's .recover, which reads every page it can, b-tree or
    not) into a new file. False when the shell is not installed or fails (Debian 12's 3.40.1
    shell fails on every file: it is built without the page table .recover needs)."""
    shell = shutil.which("sqlite3")
    if shell is None:
        return False
    try:
        dump = subprocess.run([shell, str(damaged), ".recover"], capture_output=True,
                              timeout=RECOVER_TIMEOUT_S, check=False)
        if not dump.stdout:
            return False
        load = subprocess.run([shell, str(into)], input=dump.stdout, capture_output=True,
                              timeout=RECOVER_TIMEOUT_S, check=False)
    except (OSError, subprocess.SubprocessError) as exc:
        log.warning("sqlite3 .recover failed: %s", exc)
        return False
    return load.returncode == 0 or into.exists()


def _text(value: object) -> object:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else value


def _row(values: dict[str, object], root: Path | None = None) -> rows.ImageRow | None:
    """A salvaged row, or None when what is left of it cannot be used. A damaged request is read
    from the row's picture under `root` (the row keeps its id); without that file, the file
    adopted later tells it."""
    path, created = _text(values.get("path")), values.get("created")
    if not isinstance(path, str) or not isinstance(created, int | float):
        return None
    try:
        request = GenerationRequest.from_json(str(_text(values.get("request_json"))))
    except (RequestError, TypeError, ValueError, RecursionError):
        if root is None or not (root / path).is_file():
            return None
        request = rows.request_from_file(root / path)
    sha, thumb = _text(values.get("sha256")), values.get("thumbnail")
    width, height = values.get("width"), values.get("height")
    parent, deleted = values.get("parent_id"), values.get("deleted_at")
    row_id = values.get("id")
    return rows.ImageRow(
        created=float(created), request=request, path=path, sha256=sha if isinstance(sha, str) else "",
        width=width if isinstance(width, int) else request.width,
        height=height if isinstance(height, int) else request.height,
        thumbnail=thumb if isinstance(thumb, bytes) else None,
        pixels_sha256=_text(values.get("pixels_sha256")) if values.get("pixels_sha256") else None,
        timings=rows.json_dict(_text(values.get("timings_json"))),
        info=rows.json_dict(_text(values.get("info_json"))),
        parent_id=parent if isinstance(parent, int) else None,
        favourite=values.get("favourite") == 1,
        deleted_at=float(deleted) if isinstance(deleted, int | float) else None,
        id=row_id if isinstance(row_id, int) else None,
    )


def _read_rows(conn: sqlite3.Connection, salvage: Salvage) -> None:
    """Every readable images/tags row: all at once if the table reads, else id by id."""
    conn.text_factory = bytes
    columns = ", ".join(_ROW_COLUMNS)
    try:
        found = conn.execute(f"SELECT {columns} FROM images").fetchall()
    except sqlite3.DatabaseError:
        found = []
        misses, row_id = 0, 0
        while misses < _MISSES_BEFORE_STOP:
            row_id += 1
            try:
                one = conn.execute(f"SELECT {columns} FROM images WHERE id = ?", (row_id,)).fetchone()
            except sqlite3.DatabaseError:
                one = None
            if one is None:
                misses += 1
                continue
            misses = 0
            found.append(one)
    for values in found:
        row = _row(dict(zip(_ROW_COLUMNS, values, strict=True)))
        if row is not None:
            salvage.rows.append(row)
    try:
        for image_id, tag in conn.execute("SELECT image_id, tag FROM tags"):
            if isinstance(image_id, int) and isinstance(_text(tag), str):
                salvage.tags.setdefault(image_id, set()).add(str(_text(tag)))
        salvage.tags_readable = True
    except sqlite3.DatabaseError:
        pass


def salvage(damaged: Path) -> Salvage:
    """Read what can be read from a damaged database file (left untouched)."""
    result = Salvage()
    if not damaged.is_file() or damaged.stat().st_size == 0:
        return result
    with tempfile.TemporaryDirectory(prefix="studio-heal-") as tmp:
        recovered = Path(tmp) / "recovered.db"
        sources = [(recovered, "sqlite3 .recover")] if _recover_with_cli(damaged, recovered) else []
        copy = Path(tmp) / "copy.db"  # work on a copy: opening may write a WAL or a journal
        shutil.copyfile(damaged, copy)
        wal = damaged.with_name(damaged.name + "-wal")
        if wal.is_file():
            shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
        sources.append((copy, "row by row"))
        for source, how in sources:
            attempt = Salvage()
            try:
                conn = sqlite3.connect(source)
            except sqlite3.Error:
                continue
            try:
                _read_rows(conn, attempt)
            except sqlite3.DatabaseError:
                pass
            finally:
                conn.close()
            if len(attempt.rows) > len(result.rows):
                result = attempt
                result.how = how
    scanned = Salvage(how="page scan")
    for values in pages.image_rows(damaged):
        row = _row(values, damaged.parent)
        # a freed page can still hold a purged entry: only rows whose picture is there count
        if row is not None and (damaged.parent / row.path).is_file():
            scanned.rows.append(row)
    if len(scanned.rows) > len(result.rows):
        result = scanned
    return result


# ---- rebuilding ----------------------------------------------------------------------------------
def image_files(images_dir: Path) -> list[Path]:
    """Every image file under images/ (not temp files)."""
    found = []
    for folder, _dirs, names in os.walk(images_dir):
        for name in names:
            if not name.startswith(".") and Path(name).suffix.lower() in IMAGE_SUFFIXES:
                found.append(Path(folder) / name)
    return sorted(found)


def fill(cur: sqlite3.Cursor, root: Path, salvaged: Salvage | None = None,
         only: list[Path] | None = None) -> HealReport:
    """Insert salvaged rows, then a row for every image file (or those in `only`) that no row
    names, inside the caller's transaction. Lineage is restored by the parent's content hash."""
    report = HealReport(how=salvaged.how if salvaged else "")
    journal = marks.read(root)
    known = {r[0] for r in cur.execute("SELECT path FROM images")}
    by_sha = {r[1]: r[0] for r in cur.execute("SELECT id, sha256 FROM images")}
    salvaged = salvaged or Salvage()
    taken = {r[0] for r in cur.execute("SELECT id FROM images")}
    inserted: dict[int, rows.ImageRow] = {}
    for row in sorted(salvaged.rows, key=lambda r: (r.created, r.id or 0)):
        if row.path in known:
            continue
        keep_id = row.id if row.id is not None and row.id not in taken else None
        if row.thumbnail is None or row.pixels_sha256 is None:
            row = _with_file_hashes(root, row)
        row_id = rows.insert(cur, replace(row, id=keep_id, parent_id=None))
        taken.add(row_id)
        inserted[row.id if row.id is not None else -row_id] = replace(row, id=row_id)
        known.add(row.path)
        by_sha[row.sha256] = row_id
        report.from_database += 1
    for old_id, row in inserted.items():  # lineage once every salvaged row exists
        parent = inserted.get(row.parent_id) if row.parent_id is not None else None
        if parent is not None and old_id > 0:
            cur.execute("UPDATE images SET parent_id = ? WHERE id = ?", (parent.id, row.id))
    if salvaged.how == "page scan":  # a row's marks may come from a stale copy: the journal is newer
        for row in inserted.values():
            mark = journal.get(row.path)
            if mark is not None:
                cur.execute("UPDATE images SET favourite = ?, deleted_at = ? WHERE id = ?",
                            (int(mark.favourite), mark.deleted_at, row.id))
    adopted: list[tuple[int, str | None]] = []
    adopted_children: list[tuple[int, list[str]]] = []
    candidates = only if only is not None else image_files(root / "images")
    for path in candidates:
        relative = path.relative_to(root).as_posix()
        if relative in known:
            continue
        found = rows.row_from_file(root, path)
        if found is None:
            report.unreadable_files += 1
            continue
        mark = journal.get(relative)
        if mark is not None:
            found.row.favourite, found.row.deleted_at = mark.favourite, mark.deleted_at
            report.marks_applied += 1
        row_id = rows.insert(cur, found.row)
        for tag in mark.tags if mark else ():
            cur.execute("INSERT OR IGNORE INTO tags (image_id, tag) VALUES (?, ?)", (row_id, tag))
        known.add(relative)
        by_sha.setdefault(found.row.sha256, row_id)
        adopted.append((row_id, found.parent_sha256))
        children = found.row.info.get(CHILDREN_KEY)
        if isinstance(children, list):
            adopted_children.append((row_id, [c for c in children if isinstance(c, str)]))
        report.from_files += 1
    for row_id, parent_sha in adopted:
        parent = by_sha.get(parent_sha) if parent_sha else None
        if parent is not None and parent != row_id:
            cur.execute("UPDATE images SET parent_id = ? WHERE id = ?", (parent, row_id))
    _restore_children(cur, by_sha, adopted_children)
    _restore_tags(cur, inserted, salvaged, journal)
    restored = [r.id for r in inserted.values()] + [row_id for row_id, _ in adopted]
    _restore_choosing(cur, restored, journal)
    return report


def _restore_choosing(cur: sqlite3.Cursor, row_ids: list[int], journal: dict[str, marks.Marks]) -> None:
    """Ratings, boards, stacks, covers and scratch sessions of restored rows, from the journal
    (the database mirrored them there; stacks and covers name their files)."""
    if not row_ids:
        return
    by_path = {r[0]: r[1] for r in cur.execute("SELECT path, id FROM images")}
    for row_id in row_ids:
        found = cur.execute("SELECT path FROM images WHERE id = ?", (row_id,)).fetchone()
        mark = journal.get(found[0]) if found else None
        if mark is None:
            continue
        head, cover = by_path.get(mark.stack or ""), by_path.get(mark.cover or "")
        cur.execute("UPDATE images SET rating = ?, stack_id = ?, cover_id = ?, scratch = ?, "
                    "session = coalesce(?, session) WHERE id = ?",
                    (mark.rating, head if head != row_id else None, cover, mark.scratch,
                     mark.session, row_id))
        for name in mark.boards:
            cur.execute("INSERT OR IGNORE INTO boards (name, created) VALUES (?, ?)", (name, 0.0))
            cur.execute("INSERT OR IGNORE INTO board_images (board_id, image_id, added) "
                        "SELECT id, ?, 0 FROM boards WHERE name = ?", (row_id, name))


def _restore_children(cur: sqlite3.Cursor, by_sha: dict[str, int],
                      parents: list[tuple[int, list[str]]]) -> None:
    """A grid is written after its cells, so the cells' files cannot name it: the grid's own file
    lists its cells by content hash, and cells without a parent get the grid back."""
    for parent, children in parents:
        for digest in children:
            child = by_sha.get(digest)
            if child is not None and child != parent:
                cur.execute("UPDATE images SET parent_id = ? WHERE id = ? AND parent_id IS NULL",
                            (parent, child))


def _with_file_hashes(root: Path, row: rows.ImageRow) -> rows.ImageRow:
    """A salvaged row whose thumbnail (or hashes) was lost gets them again from its file."""
    found = rows.row_from_file(root, root / row.path)
    if found is None:
        return row
    return replace(row, thumbnail=found.row.thumbnail, pixels_sha256=found.row.pixels_sha256,
                   sha256=row.sha256 or found.row.sha256)


def _restore_tags(cur: sqlite3.Cursor, inserted: dict[int, rows.ImageRow], salvaged: Salvage,
                  journal: dict[str, marks.Marks]) -> None:
    """Tags of salvaged rows: from the damaged tags table if it read, else from the journal."""
    for old_id, row in inserted.items():
        if salvaged.tags_readable:
            tags = salvaged.tags.get(old_id, set())
        else:
            tags = set(journal[row.path].tags) if row.path in journal else set()
        for tag in tags:
            cur.execute("INSERT OR IGNORE INTO tags (image_id, tag) VALUES (?, ?)", (row.id, tag))


def describe(report: HealReport, aside: Path | None) -> str:
    """One line for the artist: what was recovered and from where."""
    parts = []
    if report.from_database:
        parts.append(f"{report.from_database} from the damaged database")
    if report.from_files:
        parts.append(f"{report.from_files} from the image files")
    found = " and ".join(parts) if parts else "none (no image files were found)"
    text = f"The gallery database was damaged and has been rebuilt: {report.total} pictures restored, {found}"
    if report.marks_applied:
        text += f"; favourites, tags and deletions of {report.marks_applied} from the marks journal"
    if report.unreadable_files:
        text += f"; {report.unreadable_files} files could not be read and were left as they are"
    if aside is not None:
        text += f". The damaged file was kept as {aside.name}."
    else:
        text += "."
    return text


def older_than(path: Path, cutoff: float) -> bool:
    """Whether the file was last written before `cutoff` (a missing file is not)."""
    try:
        return path.stat().st_mtime <= cutoff
    except OSError:
        return False
