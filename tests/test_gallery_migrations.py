"""Each schema migration, the backup before migrating, rollback of a failed step, and recovery
from an unreadable database file."""

from __future__ import annotations

import sqlite3

import pytest
from PIL import Image

from studio.core.request import GenerationRequest
from studio.gallery import Gallery, GalleryError
from studio.gallery.db import Database
from studio.gallery.schema import MIGRATIONS, SCHEMA_VERSION


def _db_at(path, version: int) -> Database:
    db = Database(path)
    db.migrate(MIGRATIONS[:version])
    return db


def _insert_row(db: Database, prompt: str) -> int:
    with db.transaction() as cur:
        cur.execute(
            "INSERT INTO images (created, request_json, prompt, negative, seed, steps, guidance, "
            "width, height, scheduler, mode, path, sha256) "
            "VALUES (1, ?, ?, 'bad hands', 1, 2, 5, 64, 64, 'Euler a', 'txt2img', 'x.png', 'h')",
            (GenerationRequest(prompt).to_json(), prompt),
        )
        return int(cur.lastrowid)


def _columns(db: Database, table: str) -> set[str]:
    return {r[1] for r in db.connection().execute(f"PRAGMA table_info({table})")}


def test_m001_creates_images_table(tmp_path):
    db = _db_at(tmp_path / "g.db", 1)
    assert db.user_version() == 1
    assert {"prompt", "seed", "model_hash", "mode", "thumbnail", "parent_id", "deleted_at"} <= _columns(db, "images")
    assert db.connection().execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    assert db.connection().execute("PRAGMA foreign_keys").fetchone()[0] == 1
    db.close()


def test_m002_adds_tags_mirrored_into_images(tmp_path):
    db = _db_at(tmp_path / "g.db", 1)
    row = _insert_row(db, "old row")
    db.migrate(MIGRATIONS[:2])
    assert db.user_version() == 2
    assert "tags_text" in _columns(db, "images")
    with db.transaction() as cur:
        cur.execute("INSERT INTO tags VALUES (?, 'sky')", (row,))
        cur.execute("INSERT INTO tags VALUES (?, 'night')", (row,))
    text = db.connection().execute("SELECT tags_text FROM images WHERE id = ?", (row,)).fetchone()[0]
    assert sorted(text.split("\n")) == ["night", "sky"]
    db.close()


def test_m003_indexes_existing_rows_and_backs_up_first(tmp_path):
    path = tmp_path / "g.db"
    db = _db_at(path, 2)
    row = _insert_row(db, "a lighthouse at dusk")
    with db.transaction() as cur:
        cur.execute("INSERT INTO tags VALUES (?, 'coast')", (row,))
    db.close()
    db = Database(path)
    db.migrate()
    assert db.user_version() == SCHEMA_VERSION
    match = db.connection().execute(
        "SELECT rowid FROM images_fts WHERE images_fts MATCH 'lighthouse' AND rowid IN "
        "(SELECT rowid FROM images_fts WHERE images_fts MATCH 'coast')").fetchall()
    assert [r[0] for r in match] == [row]
    backups = list(tmp_path.glob("g.db.v2-*.bak"))
    assert len(backups) == 1
    old = sqlite3.connect(backups[0])
    assert old.execute("PRAGMA user_version").fetchone()[0] == 2
    assert old.execute("SELECT prompt FROM images").fetchone()[0] == "a lighthouse at dusk"
    old.close()
    db.close()


def test_fresh_database_is_not_backed_up(tmp_path):
    Database.open(tmp_path / "g.db").close()
    assert not list(tmp_path.glob("*.bak"))


def test_failed_migration_rolls_back_completely(tmp_path):
    def broken(cur):
        cur.execute("CREATE TABLE half_done (x)")
        raise RuntimeError("boom")

    db = _db_at(tmp_path / "g.db", 1)
    with pytest.raises(RuntimeError):
        db.migrate([*MIGRATIONS[:1], broken])
    assert db.user_version() == 1
    assert "half_done" not in {r[0] for r in db.connection().execute("SELECT name FROM sqlite_master")}
    db.close()


def test_newer_schema_is_refused_with_one_line(tmp_path):
    db = _db_at(tmp_path / "g.db", SCHEMA_VERSION)
    db.connection().execute(f"PRAGMA user_version = {SCHEMA_VERSION + 1}")
    db.close()
    with pytest.raises(GalleryError, match="newer Studio"):
        Database.open(tmp_path / "g.db")


def test_corrupt_database_is_moved_aside_and_replaced(studio_home):
    folder = studio_home / "gallery"
    folder.mkdir()
    (folder / "gallery.db").write_bytes(b"this is not a database at all" * 100)
    with Gallery.open() as gallery:
        assert gallery.notice and "kept as gallery.db.corrupt-" in gallery.notice
        assert "\n" not in gallery.notice
        gallery.add(GenerationRequest("after recovery"), Image.new("RGB", (64, 64)))
        assert gallery.count() == 1
    aside = list(folder.glob("gallery.db.corrupt-*"))
    assert len(aside) == 1 and aside[0].read_bytes().startswith(b"this is not")


def test_m004_adds_pixel_hash_and_old_rows_stay_null(tmp_path):
    db = _db_at(tmp_path / "g.db", 3)
    row = _insert_row(db, "before pixels")
    db.migrate(MIGRATIONS[:4])
    assert db.user_version() == 4
    assert "pixels_sha256" in _columns(db, "images")
    value = db.connection().execute("SELECT pixels_sha256 FROM images WHERE id = ?", (row,)).fetchone()[0]
    assert value is None
    indexes = {r[1] for r in db.connection().execute("PRAGMA index_list(images)")}
    assert "images_by_pixels" in indexes
    db.close()


def test_m005_adds_choosing_and_stacks_existing_lineage(tmp_path):
    db = _db_at(tmp_path / "g.db", 4)
    grid, cell, edit, alone, loop_a, loop_b = (
        _insert_row(db, p) for p in ("grid", "cell", "edit of cell", "alone", "loop a", "loop b"))
    with db.transaction() as cur:
        cur.execute("UPDATE images SET parent_id = ? WHERE id = ?", (grid, cell))
        cur.execute("UPDATE images SET parent_id = ? WHERE id = ?", (cell, edit))
        cur.execute("UPDATE images SET parent_id = ? WHERE id = ?", (loop_b, loop_a))  # damage:
        cur.execute("UPDATE images SET parent_id = ? WHERE id = ?", (loop_a, loop_b))  # no root
    db.migrate(MIGRATIONS[:5])
    assert db.user_version() == 5
    assert {"rating", "stack_id", "cover_id", "scratch", "session"} <= _columns(db, "images")
    assert {"name", "created"} <= _columns(db, "boards")
    stacks = dict(db.connection().execute("SELECT id, stack_id FROM images").fetchall())
    assert stacks == {grid: None, cell: grid, edit: grid, alone: None, loop_a: None, loop_b: None}
    rating = db.connection().execute("SELECT rating FROM images WHERE id = ?", (alone,)).fetchone()[0]
    assert rating == 0
    assert list(tmp_path.glob("g.db.v4-*.bak"))  # backed up before migrating
    db.close()
