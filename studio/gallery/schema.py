"""The gallery's schema as ordered migrations.

Migration N brings a database from user_version N-1 to N. Each is a function given the cursor of
the transaction that also records the new user_version, so a migration never commits by itself:
it lands completely or not at all. Append new migrations; never edit a released one.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable

Migration = Callable[[sqlite3.Cursor], None]


def _run(cur: sqlite3.Cursor, *statements: str) -> None:
    # One execute per statement: executescript() would COMMIT the surrounding transaction.
    for statement in statements:
        cur.execute(statement)


def m001_images(cur: sqlite3.Cursor) -> None:
    """One row per finished job: the full request, the columns the gallery sorts and filters on,
    the image file (path relative to the gallery folder) with its hash, and a small thumbnail."""
    _run(
        cur,
        """CREATE TABLE images (
            id INTEGER PRIMARY KEY,
            created REAL NOT NULL,
            request_json TEXT NOT NULL,
            prompt TEXT NOT NULL,
            negative TEXT NOT NULL DEFAULT '',
            seed INTEGER NOT NULL,
            steps INTEGER NOT NULL,
            guidance REAL NOT NULL,
            width INTEGER NOT NULL,
            height INTEGER NOT NULL,
            scheduler TEXT NOT NULL,
            model_name TEXT NOT NULL DEFAULT '',
            model_hash TEXT NOT NULL DEFAULT '',
            mode TEXT NOT NULL,
            timings_json TEXT NOT NULL DEFAULT '{}',
            info_json TEXT NOT NULL DEFAULT '{}',
            path TEXT NOT NULL,
            sha256 TEXT NOT NULL,
            thumbnail BLOB,
            favourite INTEGER NOT NULL DEFAULT 0,
            parent_id INTEGER REFERENCES images(id) ON DELETE SET NULL,
            deleted_at REAL
        )""",
        "CREATE INDEX images_by_created ON images(deleted_at, created DESC, id DESC)",
        "CREATE INDEX images_by_parent ON images(parent_id)",
        "CREATE INDEX images_by_model ON images(model_name)",
        "CREATE INDEX images_by_favourite ON images(favourite) WHERE favourite = 1",
    )


def m002_tags(cur: sqlite3.Cursor) -> None:
    """Tags in their own table; `images.tags_text` mirrors them (kept by triggers) so that
    full-text search can index them beside the prompt."""
    _run(
        cur,
        """CREATE TABLE tags (
            image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            tag TEXT NOT NULL,
            PRIMARY KEY (image_id, tag)
        ) WITHOUT ROWID""",
        "CREATE INDEX tags_by_tag ON tags(tag)",
        "ALTER TABLE images ADD COLUMN tags_text TEXT NOT NULL DEFAULT ''",
        """CREATE TRIGGER tags_after_insert AFTER INSERT ON tags BEGIN
            UPDATE images SET tags_text = (
                SELECT coalesce(group_concat(tag, char(10)), '') FROM tags WHERE image_id = new.image_id)
            WHERE id = new.image_id;
        END""",
        """CREATE TRIGGER tags_after_delete AFTER DELETE ON tags BEGIN
            UPDATE images SET tags_text = (
                SELECT coalesce(group_concat(tag, char(10)), '') FROM tags WHERE image_id = old.image_id)
            WHERE id = old.image_id;
        END""",
    )


def m003_search(cur: sqlite3.Cursor) -> None:
    """FTS5 over prompt, negative and tags, as an external-content index of `images` kept in sync
    by triggers (no second copy of the text)."""
    _run(
        cur,
        """CREATE VIRTUAL TABLE images_fts USING fts5(
            prompt, negative, tags_text,
            content='images', content_rowid='id', tokenize='unicode61 remove_diacritics 2'
        )""",
        """CREATE TRIGGER images_fts_insert AFTER INSERT ON images BEGIN
            INSERT INTO images_fts(rowid, prompt, negative, tags_text)
            VALUES (new.id, new.prompt, new.negative, new.tags_text);
        END""",
        """CREATE TRIGGER images_fts_delete AFTER DELETE ON images BEGIN
            INSERT INTO images_fts(images_fts, rowid, prompt, negative, tags_text)
            VALUES ('delete', old.id, old.prompt, old.negative, old.tags_text);
        END""",
        """CREATE TRIGGER images_fts_update AFTER UPDATE OF prompt, negative, tags_text ON images BEGIN
            INSERT INTO images_fts(images_fts, rowid, prompt, negative, tags_text)
            VALUES ('delete', old.id, old.prompt, old.negative, old.tags_text);
            INSERT INTO images_fts(rowid, prompt, negative, tags_text)
            VALUES (new.id, new.prompt, new.negative, new.tags_text);
        END""",
        # Index rows that existed before this migration.
        "INSERT INTO images_fts(images_fts) VALUES ('rebuild')",
    )


def m004_pixel_hash(cur: sqlite3.Cursor) -> None:
    """A hash of the decoded pixels, so that an img2img/inpaint source saved elsewhere (the UI
    copies it to STUDIO_HOME/inputs) can be traced back to the gallery entry it came from.
    Older rows keep NULL: they are simply never found as parents."""
    _run(
        cur,
        "ALTER TABLE images ADD COLUMN pixels_sha256 TEXT",
        "CREATE INDEX images_by_pixels ON images(pixels_sha256)",
    )


# m005's listing indexes: (name, sort key columns); each is followed by the filtered columns.
_SORT_KEYS = (("date", "created, id"), ("rating", "rating, created, id"),
              ("prompt", "prompt COLLATE NOCASE, id"), ("model_sort", "model_name, created, id"),
              ("size", "(width * height), created, id"))
_FILTERED = "stack_id, rating, favourite, model_name, mode"


def m005_choosing(cur: sqlite3.Cursor) -> None:
    """What the artist chooses with (issue #27): a 0-5 rating; stacks (a grid, strip, batch or
    chain of edits listed as one tile: `stack_id` names the head, `cover_id` on a head the member
    shown); scratch frames of a live slider session (`scratch` while not kept, `session` always);
    named boards. Existing rows are stacked by lineage: every descendant joins its root's stack
    (a grid's cells are its children, an edit is its source's)."""
    _run(
        cur,
        "ALTER TABLE images ADD COLUMN rating INTEGER NOT NULL DEFAULT 0",
        "ALTER TABLE images ADD COLUMN stack_id INTEGER REFERENCES images(id) ON DELETE SET NULL",
        "ALTER TABLE images ADD COLUMN cover_id INTEGER REFERENCES images(id) ON DELETE SET NULL",
        "ALTER TABLE images ADD COLUMN scratch TEXT",
        "ALTER TABLE images ADD COLUMN session TEXT",
        "CREATE INDEX images_by_stack ON images(stack_id) WHERE stack_id IS NOT NULL",
        # Deleting a row makes SQLite find the rows whose foreign keys point at it: without this
        # index each delete read the whole table (80 ms a row at 100,000 records).
        "CREATE INDEX images_by_cover ON images(cover_id) WHERE cover_id IS NOT NULL",
        "CREATE INDEX images_by_session ON images(session) WHERE session IS NOT NULL",
        "CREATE INDEX images_by_scratch ON images(created) WHERE scratch IS NOT NULL",
        # One index per sort order of the listing, in that order, holding every column a filter
        # reads: a page walks its index and stops at the limit, a count reads the index alone,
        # never the rows (100,000 rows: milliseconds, not a third of a second). Scratch frames are
        # never listed, so they are left out of all of them. The date one replaces m001's.
        "DROP INDEX images_by_created",
        *(f"CREATE INDEX images_by_{name} ON images(deleted_at, {keys}, {_FILTERED}) WHERE scratch IS NULL"
          for name, keys in _SORT_KEYS),
        """CREATE TABLE boards (
            id INTEGER PRIMARY KEY,
            name TEXT NOT NULL UNIQUE COLLATE NOCASE,
            created REAL NOT NULL
        )""",
        """CREATE TABLE board_images (
            board_id INTEGER NOT NULL REFERENCES boards(id) ON DELETE CASCADE,
            image_id INTEGER NOT NULL REFERENCES images(id) ON DELETE CASCADE,
            added REAL NOT NULL,
            PRIMARY KEY (board_id, image_id)
        ) WITHOUT ROWID""",
        "CREATE INDEX board_images_by_image ON board_images(image_id)",
    )
    # Each descendant's root, walked in Python: linear in the rows (a recursive CTE joined back
    # per row is quadratic: minutes at 100,000). A lineage loop (damage) stacks nothing.
    parents = dict(cur.execute("SELECT id, parent_id FROM images WHERE parent_id IS NOT NULL").fetchall())
    roots: dict[int, int | None] = {}
    for start in parents:
        path, node = [], start
        while node in parents and node not in roots and node not in path:
            path.append(node)
            node = parents[node]
        root = roots.get(node) if node in roots else (None if node in path else node)
        for member in path:
            roots[member] = root
    existing = {r[0] for r in cur.execute("SELECT id FROM images")}
    cur.executemany("UPDATE images SET stack_id = ? WHERE id = ?",
                    [(root, member) for member, root in roots.items() if root in existing])


MIGRATIONS: list[Migration] = [m001_images, m002_tags, m003_search, m004_pixel_hash, m005_choosing]
SCHEMA_VERSION = len(MIGRATIONS)
