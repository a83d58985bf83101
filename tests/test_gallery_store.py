"""The gallery store: recording, listing, search, tags, favourites, lineage, soft delete, files."""

from __future__ import annotations

import os
import threading
import time

import pytest
from PIL import Image

from studio.core.events import Finished
from studio.core.metadata import PARAMETERS_KEY, STUDIO_KEY, image_info, request_from_image_info
from studio.core.request import GenerationRequest
from studio.gallery import Filters, Gallery, GalleryError
from studio.gallery.files import png_bytes, sha256_file


@pytest.fixture
def gallery():
    g = Gallery.open()
    yield g
    g.close()


def _image(color="red", size=64):
    return Image.new("RGB", (size, size), color)


def _add(gallery, prompt, **kw):
    parent_id = kw.pop("parent_id", None)
    info = kw.pop("info", {"model_name": "tiny", "model_hash": "abcdef0123456789"})
    return gallery.add(GenerationRequest(prompt, **kw), _image(), {"total": 0.5}, info, parent_id=parent_id)


def test_add_records_file_columns_and_thumbnail(gallery, studio_home):
    event = Finished(7, GenerationRequest("a red fox, snow", negative_prompt="blurry", seed=42, steps=3),
                     _image(), {"total": 1.25}, {"model_name": "tiny", "model_hash": "feedbeef"})
    record = gallery.add(event)
    assert record.path.is_file()
    assert record.path.is_relative_to(studio_home / "gallery" / "images")
    assert record.path.parent.parent.parent.name == "images"  # images/YYYY/MM/
    assert sha256_file(record.path) == record.sha256
    again = gallery.get(record.id)
    assert again == record
    assert again.request.seed == 42 and again.timings == {"total": 1.25}
    assert (again.model_name, again.model_hash, again.mode) == ("tiny", "feedbeef", "txt2img")
    thumb = gallery.thumbnail(record.id)
    assert thumb[:4] == b"RIFF" and len(thumb) < 20_000
    with Image.open(record.path) as saved:
        assert request_from_image_info(dict(saved.info)) == event.request
        assert "Seed: 42" in saved.info[PARAMETERS_KEY] and STUDIO_KEY in saved.info


def test_list_is_newest_first_with_paging_and_count(gallery):
    ids = [_add(gallery, f"prompt {i}").id for i in range(5)]
    assert [r.id for r in gallery.list(0, 3)] == ids[::-1][:3]
    assert [r.id for r in gallery.list(3, 3)] == ids[::-1][3:]
    assert gallery.count() == 5
    assert gallery.ids(0, 2) == ids[::-1][:2]


def test_search_matches_prompt_negative_and_tags(gallery):
    fox = _add(gallery, "a red fox in the snow", negative_prompt="watermark")
    owl = _add(gallery, "an owl at night")
    gallery.add_tag(owl.id, "favourite birds")
    assert [r.id for r in gallery.search("fox")] == [fox.id]
    assert [r.id for r in gallery.search("waterm")] == [fox.id]  # prefix while typing
    assert [r.id for r in gallery.search("birds")] == [owl.id]
    assert gallery.search('"unbalanced AND (') == []  # FTS syntax in the text is harmless
    assert gallery.count(Filters(text="night owl")) == 1
    gallery.remove_tag(owl.id, "favourite birds")
    assert gallery.search("birds") == []
    assert gallery.get(owl.id).tags == ()


def test_filters_favourite_model_mode_tag(gallery):
    a = _add(gallery, "one")
    b = _add(gallery, "two", info={"model_name": "other"})
    c = _add(gallery, "three", init_image="/tmp/src.png")
    gallery.set_favourite(a.id, True)
    gallery.add_tag(c.id, "keep")
    assert [r.id for r in gallery.list(filters=Filters(favourites_only=True))] == [a.id]
    assert [r.id for r in gallery.list(filters=Filters(model="other"))] == [b.id]
    assert [r.id for r in gallery.list(filters=Filters(mode="img2img"))] == [c.id]
    assert [r.id for r in gallery.list(filters=Filters(tag="keep"))] == [c.id]
    assert gallery.models() == ["other", "tiny"]
    gallery.set_favourite(a.id, False)
    assert gallery.count(Filters(favourites_only=True)) == 0


def test_soft_delete_and_undo(gallery):
    record = _add(gallery, "keep me")
    gallery.delete(record.id)
    assert gallery.count() == 0 and gallery.search("keep") == []
    assert gallery.get(record.id).deleted
    assert [r.id for r in gallery.list(filters=Filters(deleted=True))] == [record.id]
    assert record.path.is_file()  # soft delete keeps the file
    gallery.undelete(record.id)
    assert [r.id for r in gallery.search("keep")] == [record.id]


def test_purge_removes_rows_then_files(gallery):
    record = _add(gallery, "gone")
    gallery.delete(record.id)
    assert gallery.purge_deleted(older_than=0) == 1
    assert not record.path.exists()
    with pytest.raises(GalleryError, match="no gallery entry"):
        gallery.get(record.id)


def test_lineage(gallery):
    parent = _add(gallery, "source")
    child = _add(gallery, "variation", init_image=str(parent.path), parent_id=parent.id)
    assert [r.id for r in gallery.children(parent.id)] == [child.id]
    assert gallery.parent(child.id).id == parent.id
    assert gallery.parent(parent.id) is None
    with pytest.raises(GalleryError, match="does not exist"):
        _add(gallery, "orphan", parent_id=9999)


def test_unknown_ids_and_bad_tags_give_one_line_errors(gallery):
    record = _add(gallery, "x")
    for call in (lambda: gallery.get(404), lambda: gallery.set_favourite(404),
                 lambda: gallery.add_tag(404, "t"), lambda: gallery.delete(404),
                 lambda: gallery.add_tag(record.id, "  "), lambda: gallery.add_tag(record.id, "x" * 65)):
        with pytest.raises(GalleryError) as info:
            call()
        assert "\n" not in str(info.value)


def test_failed_commit_keeps_the_picture_and_upkeep_adopts_it(gallery, monkeypatch):
    """A commit that fails (another program holds the database) must not cost the picture: its
    file stays and the next upkeep lists it again, prompt and all."""
    def refuse(*args, **kwargs):
        raise GalleryError("database refused")

    with monkeypatch.context() as patch:
        patch.setattr(gallery, "transaction", refuse)
        with pytest.raises(GalleryError):
            _add(gallery, "never committed")
    assert gallery.count() == 0
    adopted = gallery.clean_orphans(min_age=0)
    assert len(adopted) == 1
    [record] = gallery.list()
    assert record.prompt == "never committed" and record.path == adopted[0]


def test_full_disk_while_writing_image_is_one_line_and_no_row(gallery, monkeypatch):
    import errno

    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(GalleryError, match="No space left"):
        _add(gallery, "no room")
    monkeypatch.undo()
    assert gallery.count() == 0
    assert not [p for p in gallery.images_dir.rglob("*") if p.is_file()]  # temp file removed too


def test_open_removes_old_temp_files_and_adopts_unknown_pictures(studio_home):
    with Gallery.open() as gallery:
        kept = _add(gallery, "recorded")
    folder = kept.path.parent
    temp = folder / ".x.png.abc123.tmp"
    temp.write_bytes(b"half")
    stray = folder / "20260101-000000_1_deadbeef.png"  # written, then the writer died before its commit
    stray.write_bytes(png_bytes(_image("blue"), image_info(GenerationRequest("stray!!!"))))
    junk = folder / "20260101-000000_2_cafecafe.png"  # not an image at all: left alone, not deleted
    junk.write_bytes(b"never an image")
    old = time.time() - 3600
    for path in (temp, stray, junk):
        os.utime(path, (old, old))
    fresh = folder / ".y.png.def456.tmp"  # another process may be writing this one right now
    fresh.write_bytes(b"in flight")
    with Gallery.open() as gallery:
        assert gallery.verify_files() == []
        assert sorted(r.prompt for r in gallery.list()) == ["recorded", "stray!!!"]
    assert kept.path.exists() and fresh.exists() and stray.exists() and junk.exists()
    assert not temp.exists()


def test_threads_each_use_their_own_connection(gallery):
    errors = []

    def worker(n):
        try:
            for i in range(5):
                _add(gallery, f"thread {n} image {i}")
                gallery.count()
        except Exception as exc:  # collected for the assert below
            errors.append(exc)

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert gallery.count() == 15
    assert gallery.integrity_check() == "ok"


def test_find_source_by_file_or_by_pixels(gallery, tmp_path):
    image = Image.effect_noise((64, 64), 50).convert("RGB")
    record = gallery.add(GenerationRequest("source"), image)
    assert gallery.find_source(record.path).id == record.id
    copy = tmp_path / "inputs" / "init-abc.png"
    copy.parent.mkdir()
    image.save(copy)  # re-encoded elsewhere, same pixels
    assert gallery.find_source(copy).id == record.id
    Image.new("RGB", (64, 64), "blue").save(tmp_path / "other.png")
    assert gallery.find_source(tmp_path / "other.png") is None
    assert gallery.find_source(tmp_path / "missing.png") is None
