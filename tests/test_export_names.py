"""Export file names capped by bytes, not characters (issue 19): long non-ASCII prompts get a name
the file system accepts, cut at a word where there is one, and a failed write says what failed."""

from __future__ import annotations

import pytest
from PIL import Image

from studio.core.request import GenerationRequest
from studio.gallery import Gallery
from studio.gallery.export import (
    ExportError,
    export_image,
    export_record,
    free_path,
    render_filename,
    sanitize_filename,
)

CJK = "夕暮れの灯台と静かな海" * 28  # 308 characters, 924 bytes of UTF-8
LIMIT = 255  # bytes per name on ext4, XFS, Btrfs, APFS and (in UTF-16 units) NTFS


def _image():
    return Image.new("RGB", (8, 8), (10, 20, 30))


def test_300_character_cjk_prompt_exports_with_a_name_within_255_bytes(tmp_path):
    request = GenerationRequest(CJK[:300], seed=5)
    paths = [export_image(_image(), request, {}, tmp_path, fmt, "{prompt}") for fmt in ("png", "webp", "webp")]
    for path in paths:
        assert path.exists() and len(path.name.encode("utf-8")) <= LIMIT
        stem = path.stem.removesuffix("-2")
        assert CJK.startswith(stem) and len(stem) >= 60  # cut on a character, keeping most of the room
    assert paths[2].name == paths[1].stem + "-2.webp"
    # While written, the name is also wrapped in a temp-file name (".NAME.xxxxxxxx.tmp"): it must fit too.
    assert len(paths[2].name.encode("utf-8")) + len("..12345678.tmp") <= LIMIT


def test_emoji_are_never_split(tmp_path):
    name = render_filename("{prompt}", GenerationRequest("🌅" * 200))
    assert name == "🌅" * (len(name.encode("utf-8")) // 4) and len(name.encode("utf-8")) <= 200


def test_long_names_are_cut_at_a_word():
    words = render_filename("{prompt}", GenerationRequest("a lighthouse at dusk over the sea " * 10))
    assert len(words) <= 120 and words.endswith(("lighthouse", "at", "dusk", "over", "the", "sea", "a"))
    assert not words.endswith(" ")
    mixed = sanitize_filename("café " * 30 + "😀" * 40)
    assert len(mixed.encode("utf-8")) <= 200 and mixed.endswith("café")


def test_undecodable_characters_become_underscores():
    assert sanitize_filename("model-\udcff-name") == "model-_-name"


def test_a_name_the_file_system_refuses_says_so(tmp_path):
    with pytest.raises(ExportError, match="could not write .* File name too long") as caught:
        free_path(tmp_path, "x" * 300, ".png")
    assert "\n" not in str(caught.value)


def test_a_failed_write_is_not_blamed_on_the_gallery_image(tmp_path):
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with Gallery.open() as gallery:
        record = gallery.add(GenerationRequest(CJK[:300], seed=5, width=64, height=64), _image(), {}, {})
        out = export_record(gallery, record.id, tmp_path / "out", "jpg", "{prompt}")
        assert len(out.name.encode("utf-8")) <= LIMIT
        with pytest.raises(ExportError, match="could not write") as caught:
            export_record(gallery, record.id, blocker / "sub", "png")
    assert "cannot read gallery image" not in str(caught.value)
