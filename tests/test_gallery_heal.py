"""Every kind of database damage ends with every picture still on disk and listed, with as many of
its favourites, tags, deletions and lineage as the files and the marks journal can tell."""

from __future__ import annotations

import json
import sqlite3

import pytest
from gallery_damage import (
    DAMAGES,
    bad_json_row,
    damaged_data_page,
    db_file,
    dropped_search_index,
    make_gallery,
    zero_length,
)

from studio.cli import main as cli_main
from studio.gallery import Filters, Gallery
from studio.gallery import heal as heal_module
from studio.gallery.db import Database


def _all(gallery: Gallery) -> list:
    return gallery.list(0, 10_000, Filters(stacks=False)) + gallery.list(0, 10_000, Filters(deleted=True))


@pytest.mark.parametrize("shell", [True, False], ids=["sqlite3-shell", "no-shell"])
@pytest.mark.parametrize("damage", DAMAGES, ids=lambda d: d.__name__)
def test_every_picture_survives_and_is_listed(studio_home, damage, shell, monkeypatch):
    if not shell:  # as on Windows, where no sqlite3 shell is installed: rows are read one by one
        monkeypatch.setattr(heal_module.shutil, "which", lambda name: None)
    made = make_gallery(studio_home)
    damage(db_file(studio_home))

    with Gallery.open(studio_home) as gallery:
        records = _all(gallery)
        by_prompt = {r.prompt: r for r in records}
        on_disk = {p.name for p in gallery.images_dir.rglob("*.png")}
        assert on_disk == made.files  # nothing deleted
        assert {r.path.name for r in records} == made.files  # everything listed
        assert set(by_prompt) == set(made.prompts)  # each with its own request
        assert {p for p, r in by_prompt.items() if r.favourite} == made.favourites
        assert {p: frozenset(r.tags) for p, r in by_prompt.items() if r.tags} == made.tags
        assert {p for p, r in by_prompt.items() if r.deleted} == made.deleted
        for child, parent in made.child_of.items():
            assert by_prompt[child].parent_id == by_prompt[parent].id
        # search works again (the index is rebuilt with the rows)
        hits = gallery.search("picture number 3")
        assert [r.prompt for r in hits] == ["picture number 3 of a red circle"]
        assert gallery.integrity_check() == "ok"
        if gallery.notice:
            assert "\n" not in gallery.notice


def test_cli_list_after_random_header_lists_everything_and_says_what_it_did(studio_home, capsys):
    made = make_gallery(studio_home)
    DAMAGES[0](db_file(studio_home))
    assert cli_main(["gallery", "list", "--json", "--limit", "1000"]) == 0
    out, err = capsys.readouterr()
    listed = json.loads(out)
    assert len(listed) == len(made.files) - len(made.deleted)
    [notice] = [line for line in err.splitlines() if "rebuilt" in line]
    assert f"{len(made.files)} pictures restored" in notice and "gallery.db.corrupt-" in notice
    assert len(list((studio_home / "gallery").glob("gallery.db.corrupt-*"))) == 1


def test_damaged_page_rows_keep_their_ids_when_salvaged(studio_home):
    """A damaged page of another table (the thumbnails are elsewhere) keeps the images rows, ids
    included, so that ids the artist saw still mean the same pictures."""
    made = make_gallery(studio_home)
    path = db_file(studio_home)
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("DROP TABLE tags")  # the tags are then only in the journal
    conn.close()
    with Gallery.open(studio_home) as gallery:
        by_prompt = {r.prompt: r for r in _all(gallery)}
        assert {p: r.id for p, r in by_prompt.items()} == made.prompts
        assert {p: frozenset(r.tags) for p, r in by_prompt.items() if r.tags} == made.tags


def test_damage_found_in_use_heals_and_the_next_read_works(studio_home):
    made = make_gallery(studio_home)
    gallery = Gallery.open(studio_home, clean_min_age=None)
    try:
        gallery._db.close()
        damaged_data_page(db_file(studio_home))  # damage done after opening, e.g. by a disk fault
        gallery._db = Database(db_file(studio_home))
        # the reader meets the damage, the gallery rebuilds itself and reads again
        records = gallery.list(0, 1000, Filters(stacks=False))  # an edit is stacked on its source
        assert len(records) == len(made.files) - len(made.deleted)
        assert gallery.notice and "rebuilt" in gallery.notice
    finally:
        gallery.close()


def test_zero_length_database_says_it_was_rebuilt(studio_home):
    made = make_gallery(studio_home)
    zero_length(db_file(studio_home))
    with Gallery.open(studio_home) as gallery:
        assert gallery.notice and f"{len(made.files)} pictures restored" in gallery.notice
        assert gallery.count(Filters(stacks=False)) == len(made.files) - len(made.deleted)


def test_bad_json_row_reads_its_request_from_the_file(studio_home):
    made = make_gallery(studio_home)
    bad_json_row(db_file(studio_home))
    with Gallery.open(studio_home) as gallery:
        first = gallery.get(min(made.prompts.values()))
        assert first.prompt == "picture number 0 of a red circle"
        assert first.timings == {} and first.info == {}
        assert gallery.notice is None  # nothing to rebuild: one bad cell is not a damaged file


def test_dropped_search_index_is_recreated_without_a_rebuild(studio_home):
    made = make_gallery(studio_home)
    dropped_search_index(db_file(studio_home))
    with Gallery.open(studio_home) as gallery:
        assert gallery.notice == "The gallery's search index was missing and has been rebuilt."
        assert {r.id for r in gallery.search("red circle", filters=Filters(stacks=False))} == {
            i for p, i in made.prompts.items() if p not in made.deleted}


def test_a_lost_images_table_is_rebuilt_from_the_files(studio_home, monkeypatch):
    monkeypatch.setattr(heal_module.shutil, "which", lambda name: None)
    made = make_gallery(studio_home)
    conn = sqlite3.connect(db_file(studio_home), isolation_level=None)
    conn.execute("DROP TABLE images_fts")
    conn.execute("DROP TABLE images")  # the worst case short of losing the file: rows gone
    conn.close()
    with Gallery.open(studio_home) as gallery:
        assert len(_all(gallery)) == len(made.files)
        assert "from the image files" in (gallery.notice or "")


def test_gallery_check_repairs_and_reports(studio_home, capsys):
    made = make_gallery(studio_home)
    with Gallery.open(studio_home) as gallery:
        gallery._db.connection().execute("DROP TABLE images_fts")
    assert cli_main(["gallery", "check"]) == 0
    out = capsys.readouterr().out
    assert "search index was missing and has been rebuilt" in out
    assert f"{len(made.files) - len(made.deleted)} pictures" in out
    # a picture whose file changed on disk is reported, exit status 1
    with Gallery.open(studio_home) as gallery:
        victim = gallery.list(0, 1)[0]
    victim.path.write_bytes(victim.path.read_bytes() + b"tail")
    assert cli_main(["gallery", "check"]) == 1
    assert f"missing or changed image file: {victim.id}" in capsys.readouterr().out


def test_a_gallery_made_before_the_journal_gets_one_on_open(studio_home):
    """Favourites set by an older Studio (no journal yet) survive a later loss of the database."""
    made = make_gallery(studio_home)
    (studio_home / "gallery" / "marks.jsonl").unlink()
    Gallery.open(studio_home).close()  # seeds the journal from the database
    zero_length(db_file(studio_home))
    with Gallery.open(studio_home) as gallery:
        assert {r.prompt for r in gallery.list(0, 100, Filters(favourites_only=True))} == made.favourites


@pytest.mark.parametrize("damage", [DAMAGES[0], damaged_data_page, DAMAGES[5]],
                         ids=["random_header", "damaged_data_page", "flipped_byte_per_page"])
def test_rows_read_from_the_damaged_pages_keep_their_ids(studio_home, damage, monkeypatch):
    """With no working sqlite3 shell, the page scan still reads the rows out of the damaged file:
    the ids the artist saw (and exported by) keep meaning the same pictures."""
    monkeypatch.setattr(heal_module.shutil, "which", lambda name: None)
    made = make_gallery(studio_home)
    damage(db_file(studio_home))
    with Gallery.open(studio_home) as gallery:
        assert f"{len(made.files)} from the damaged database" in (gallery.notice or "")
        assert {r.prompt: r.id for r in _all(gallery)} == made.prompts
        assert all(gallery.thumbnail(i) for i in made.prompts.values())
