"""Issue #27's gallery data: ratings, boards, stacks, scratch frames, sorting and keyset paging,
and that each survives a gallery rebuilt from its files (the marks journal)."""

from __future__ import annotations

import time

import pytest
from PIL import Image

from studio.core.request import GenerationRequest
from studio.gallery import Filters, Gallery, GalleryError


@pytest.fixture
def gallery(studio_home):
    g = Gallery.open()
    yield g
    g.close()


def _add(gallery, prompt, size=64, created=None, **kw):
    return gallery.add(GenerationRequest(prompt, width=size, height=size), Image.new("RGB", (size, size)),
                       {}, {"model_name": kw.pop("model", "tiny")}, created=created, **kw)


def _ids(records):
    return [r.id for r in records]


def test_rating_filters_sorts_and_rejects_out_of_range(gallery):
    a, b, c = (_add(gallery, p, created=1000 + i) for i, p in enumerate(["one", "two", "three"]))
    gallery.set_rating([a.id, c.id], 4)
    gallery.set_rating([b.id], 2)
    assert gallery.get(a.id).rating == 4
    assert _ids(gallery.list(filters=Filters(min_rating=3))) == [c.id, a.id]
    assert _ids(gallery.list(filters=Filters(sort="rating"))) == [c.id, a.id, b.id]
    assert _ids(gallery.list(filters=Filters(sort="rating", descending=False))) == [b.id, a.id, c.id]
    for bad in (6, -1, True, 2.5):
        with pytest.raises(GalleryError, match="rating"):
            gallery.set_rating([a.id], bad)
    with pytest.raises(GalleryError, match="no gallery entry 999"):
        gallery.set_rating([a.id, 999], 1)
    assert gallery.get(a.id).rating == 4  # nothing changed by the refused call


def test_sorts_by_prompt_model_and_size(gallery):
    a = _add(gallery, "banana", size=128, model="zeta", created=1)
    b = _add(gallery, "Apple", size=64, model="alpha", created=2)
    c = _add(gallery, "cherry", size=96, model="mid", created=3)
    assert _ids(gallery.list(filters=Filters(sort="prompt", descending=False))) == [b.id, a.id, c.id]
    assert _ids(gallery.list(filters=Filters(sort="model", descending=False))) == [b.id, c.id, a.id]
    assert _ids(gallery.list(filters=Filters(sort="size"))) == [a.id, c.id, b.id]
    with pytest.raises(GalleryError, match="cannot sort by 'colour'"):
        gallery.list(filters=Filters(sort="colour"))


@pytest.mark.parametrize("sort", ["date", "rating", "prompt", "model", "size"])
@pytest.mark.parametrize("descending", [True, False])
def test_keyset_pages_match_offset_pages(gallery, sort, descending):
    for i in range(23):
        r = _add(gallery, f"p{i % 5}", size=64 + 8 * (i % 3), model=f"m{i % 4}", created=100 + i // 2)
        gallery.set_rating([r.id], i % 6)
    filters = Filters(sort=sort, descending=descending)
    whole = gallery.ids(0, 100, filters)
    paged, after = [], None
    while True:
        page = gallery.ids(limit=5, filters=filters, after=after)
        if not page:
            break
        paged += page
        after = page[-1]
    assert paged == whole and len(whole) == 23


def test_boards_add_remove_rename_delete_and_filter(gallery):
    a, b, c = (_add(gallery, p) for p in ["one", "two", "three"])
    assert gallery.add_to_board("  Faces  ", [a.id, b.id]) == 2
    assert gallery.add_to_board("faces", [b.id, c.id]) == 1  # same board: names ignore case
    gallery.create_board("Empty")
    with pytest.raises(GalleryError, match="already a board"):
        gallery.create_board("empty")
    assert gallery.boards() == [("Empty", 0), ("Faces", 3)]
    assert set(_ids(gallery.list(filters=Filters(board="Faces")))) == {a.id, b.id, c.id}
    assert gallery.get(a.id).boards == ("Faces",)
    assert gallery.remove_from_board("Faces", [a.id, a.id + 1000]) == 1
    gallery.rename_board("Faces", "Portraits")
    assert gallery.get(b.id).boards == ("Portraits",)
    assert gallery.list(filters=Filters(board="Faces")) == []
    gallery.delete(b.id)
    assert gallery.boards() == [("Empty", 0), ("Portraits", 1)]  # live members only
    gallery.delete_board("Portraits")
    assert gallery.get(c.id).boards == ()
    with pytest.raises(GalleryError, match="no board named"):
        gallery.delete_board("Portraits")
    with pytest.raises(GalleryError, match="needs a name"):
        gallery.add_to_board("   ", [a.id])


def test_edits_chain_into_their_source_stack(gallery):
    source = _add(gallery, "source", created=1)
    edit = _add(gallery, "edit", parent_id=source.id, created=2)
    edit_of_edit = _add(gallery, "edit of edit", parent_id=edit.id, created=3)
    alone = _add(gallery, "alone", created=4)
    assert edit.stack_id == source.id and edit_of_edit.stack_id == source.id
    listed = gallery.list()
    assert _ids(listed) == [alone.id, source.id]
    assert listed[1].stack_size == 3 and listed[1].cover_id == source.id
    assert gallery.count() == 2
    assert len(gallery.list(filters=Filters(stacks=False))) == 4
    assert _ids(gallery.stack_members(edit.id)) == [source.id, edit.id, edit_of_edit.id]
    gallery.set_cover(edit_of_edit.id)
    assert gallery.get(source.id).cover_id == edit_of_edit.id
    assert _ids(gallery.stack_members(source.id)) == [edit_of_edit.id, source.id, edit.id]
    # a member shows on its own when its head is not listed (here: filtered out by the search)
    assert _ids(gallery.search("edit")) == [edit_of_edit.id, edit.id]
    gallery.delete(source.id)
    assert set(_ids(gallery.list())) == {alone.id, edit.id, edit_of_edit.id}


def test_make_stack_gathers_a_batch_under_its_first(gallery):
    first, second, third = (_add(gallery, f"batch {i}") for i in range(3))
    gallery.make_stack(first.id, [first.id, second.id, third.id])
    assert _ids(gallery.list()) == [first.id]
    assert gallery.list()[0].stack_size == 3
    gallery.unstack([third.id])
    assert set(_ids(gallery.list())) == {first.id, third.id}


def test_scratch_frames_are_hidden_until_kept_and_purged_when_old(gallery):
    kept_before = _add(gallery, "normal")
    frames = [_add(gallery, f"frame {i}", scratch="s1", created=time.time() - 10 + i) for i in range(3)]
    assert frames[0].scratch == "s1"
    assert _ids(gallery.list()) == [kept_before.id] and gallery.count() == 1
    assert _ids(gallery.scratch_frames("s1")) == _ids(frames)
    kept = gallery.keep(frames[1].id)
    assert kept.scratch is None and gallery.scratch_session_of(kept.id) == "s1"
    assert gallery.scratch_session_of(kept_before.id) is None
    assert set(_ids(gallery.list())) == {kept_before.id, kept.id}
    old = _add(gallery, "old frame", scratch="s0", created=time.time() - 8 * 86400)
    assert gallery.purge_deleted() == 1  # the default keeps scratch frames 7 days
    assert not old.path.exists() and frames[0].path.exists()
    assert gallery.purge_scratch(older_than=0) == 2
    assert _ids(gallery.scratch_frames("s1")) == [kept.id]


def test_rebuilt_gallery_keeps_ratings_boards_stacks_and_scratch(studio_home):
    with Gallery.open() as g:
        head = _add(g, "head", created=1)
        member = _add(g, "member", parent_id=head.id, created=2)
        other = _add(g, "other", created=3)
        frame = _add(g, "frame", scratch="live", created=4)
        kept = _add(g, "kept", scratch="live", created=5)
        g.keep(kept.id)
        g.set_rating([other.id], 5)
        g.add_to_board("Best", [other.id, member.id])
        g.set_cover(member.id)
        paths = {r.id: r.path for r in (head, member, other, frame, kept)}
    (studio_home / "gallery" / "gallery.db").unlink()
    with Gallery.open() as g:
        by_path = {r.path: r for r in g.list(filters=Filters(stacks=False))}
        new = {old: by_path.get(path) for old, path in paths.items()}
        assert new[frame.id] is None  # still scratch: not listed
        assert new[other.id].rating == 5 and new[other.id].boards == ("Best",)
        assert new[member.id].stack_id == new[head.id].id
        assert new[head.id].cover_id == new[member.id].id
        assert new[kept.id].scratch is None and g.scratch_session_of(new[kept.id].id) == "live"
        assert len(g.scratch_frames("live")) == 2


def test_marks_lines_name_new_marks_only_when_set_and_old_lines_still_read(tmp_path):
    from studio.gallery import marks

    marks.append(tmp_path, "images/a.png", marks.Marks(favourite=True))
    marks.append(tmp_path, "images/b.png", marks.Marks(rating=3, boards=("Best",), stack="images/a.png",
                                                       scratch="s", session="s"))
    lines = (tmp_path / marks.JOURNAL_NAME).read_text().splitlines()
    assert "rating" not in lines[0] and '"rating": 3' in lines[1]
    (tmp_path / marks.JOURNAL_NAME).write_text(
        lines[1] + '\n{"file": "images/c.png", "favourite": false, "tags": [], "deleted_at": null, '
        '"rating": 9, "boards": "x"}\n')
    read = marks.read(tmp_path)
    assert read["images/b.png"] == marks.Marks(rating=3, boards=("Best",), stack="images/a.png",
                                               scratch="s", session="s")
    assert read["images/c.png"] == marks.Marks()  # a damaged rating or board list reads as unset


def test_scratch_keep_days_setting_is_validated():
    from studio.core.settings import EngineSettings

    assert EngineSettings().scratch_keep_days == 7
    assert EngineSettings(scratch_keep_days=-1).validated().scratch_keep_days == 7
    assert EngineSettings(scratch_keep_days=True).validated().scratch_keep_days == 7
    assert EngineSettings(scratch_keep_days=30).validated().scratch_keep_days == 30


def test_a_scratch_frame_stays_hidden_after_a_rebuild_without_the_journal(studio_home):
    with Gallery.open() as g:
        frame = _add(g, "frame", scratch="live")
        shown = _add(g, "shown")
    (studio_home / "gallery" / "gallery.db").unlink()
    (studio_home / "gallery" / "marks.jsonl").unlink()  # only the files are left
    with Gallery.open() as g:
        assert [r.path for r in g.list()] == [shown.path]
        (again,) = g.scratch_frames("live")
        assert again.path == frame.path and again.scratch == "live"
