"""Issue #27's scale: a gallery built fast by benchmarks/_gallery_fill.py lists consistently, and
every listing (each sort, each filter) walks an index in order instead of sorting the whole table,
which is what keeps it flat at 100,000 records (benchmarks/bench_gallery_scale.py times it)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest

from studio.gallery import Filters, Gallery
from studio.gallery.query import SORTS, order_clause, where_clause

_spec = importlib.util.spec_from_file_location(
    "_gallery_fill", Path(__file__).resolve().parent.parent / "benchmarks" / "_gallery_fill.py")
_fill_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fill_module)
fill = _fill_module.fill


@pytest.fixture(scope="module")
def filled(tmp_path_factory):
    home = tmp_path_factory.mktemp("scale")
    fill(home, 3000)
    return home


def test_fill_makes_a_varied_gallery(filled):
    with Gallery.open(filled, clean_min_age=None) as gallery:
        assert gallery.count(Filters(stacks=False)) > 2500
        assert gallery.count() < gallery.count(Filters(stacks=False))  # stacks collapse
        assert len(gallery.boards()) == 10 and gallery.count(Filters(min_rating=5)) > 0
        assert gallery.search("fox") and gallery.count(Filters(deleted=True)) > 0
        assert gallery._db.integrity() == "ok"


def test_every_picture_is_a_tile_or_in_a_listed_tile(filled):
    with Gallery.open(filled, clean_min_age=None) as gallery:
        tiles, after = [], None
        while page := gallery.list(limit=500, after=after):
            tiles += page
            after = page[-1].id
        assert len(tiles) == gallery.count()
        covered = {m.id for t in tiles if t.stack_size > 1 for m in gallery.stack_members(t.id)}
        covered |= {t.id for t in tiles}
        assert covered == set(gallery.ids(0, 10_000, Filters(stacks=False)))
        assert sum(t.stack_size for t in tiles) == len(covered)


FILTERS = [Filters(), Filters(text="fox"), Filters(board="board 3"), Filters(min_rating=4),
           Filters(model="sdxl-base"), Filters(favourites_only=True), Filters(tag="keeper")]


@pytest.mark.parametrize("sort", list(SORTS))
@pytest.mark.parametrize("filters", FILTERS, ids=lambda f: repr(f)[8:40])
def test_pages_walk_an_index_in_order(filled, sort, filters):
    filters = filters.replace(sort=sort)
    where, args = where_clause(filters)
    with Gallery.open(filled, clean_min_age=None) as gallery:
        plan = [r[3] for r in gallery._db.connection().execute(
            f"EXPLAIN QUERY PLAN SELECT images.id FROM images WHERE {where} "
            f"ORDER BY {order_clause(filters)} LIMIT 100", args)]
    assert not any("TEMP B-TREE" in step for step in plan), plan
    # no full scan (the partial index of scratch frames holds only those: it may be read whole)
    assert not any(step.split()[:2] == ["SCAN", "images"] and "images_by_scratch" not in step
                   for step in plan), plan


def test_every_reference_to_a_picture_is_indexed(filled):
    """Deleting a picture (purge, scratch clean-up) makes SQLite look up every row that refers to
    it; a referring column without an index turns each delete into a scan of its whole table
    (quitting once waited 10 s on a 100,000-record gallery's scratch purge)."""
    import sqlite3

    db = sqlite3.connect(filled / "gallery" / "gallery.db")
    try:
        tables = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        unindexed = []
        for table in tables:
            for fk in db.execute(f"PRAGMA foreign_key_list('{table}')").fetchall():
                parent, column = fk[2], fk[3]
                if parent != "images":
                    continue
                leading = {db.execute(f"PRAGMA index_info('{ix[1]}')").fetchone()[2]
                           for ix in db.execute(f"PRAGMA index_list('{table}')").fetchall()}
                if column not in leading:
                    unindexed.append(f"{table}.{column}")
    finally:
        db.close()
    assert not unindexed, f"columns referring to images without an index: {unindexed}"
