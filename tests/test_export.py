"""Export with embedded parameters (PNG text chunks, EXIF UserComment), file names, atomic writes
and clear errors, and reading parameters back for import."""

from __future__ import annotations

import builtins
import errno
import os

import pytest
from PIL import Image

from studio.core.metadata import MetadataError, request_from_image_info
from studio.core.request import GenerationRequest
from studio.gallery import Gallery
from studio.gallery.export import (
    ASCII_PREFIX,
    UNICODE_PREFIX,
    ExportError,
    decode_user_comment,
    encode_image,
    export_image,
    export_record,
    read_image_parameters,
    render_filename,
    sanitize_filename,
    save_with_parameters,
    user_comment,
)

REQUEST = GenerationRequest("a red fox, snow", negative_prompt="blurry", seed=42, steps=3, width=64, height=64)
INFO = {"model_name": "tiny", "model_hash": "0123456789abcdef"}


def _image():
    return Image.new("RGB", (64, 64), (200, 30, 10))


def test_png_latin1_uses_text_and_unicode_uses_itxt(tmp_path):
    plain = encode_image(_image(), REQUEST, INFO, "png")
    assert b"tEXtparameters\0a red fox" in plain and b"tEXtstudio\0" in plain
    fancy = encode_image(_image(), REQUEST.replace(prompt="夕暮れの灯台 🌅"), INFO, "png")
    assert b"iTXtparameters\0" in fancy and b"tEXtparameters" not in fancy
    path = save_with_parameters(_image(), REQUEST.replace(prompt="夕暮れの灯台 🌅"), INFO, tmp_path / "x.png")
    assert request_from_image_info(read_image_parameters(path)).prompt == "夕暮れの灯台 🌅"


@pytest.mark.parametrize("fmt", ["jpg", "webp"])
@pytest.mark.parametrize("prompt", ["plain ascii prompt", "café au lait, 夕暮れ"])
def test_jpeg_and_webp_carry_user_comment(tmp_path, fmt, prompt):
    request = REQUEST.replace(prompt=prompt)
    path = save_with_parameters(_image(), request, INFO, tmp_path / f"x.{fmt}")
    with Image.open(path) as image:
        raw = image.getexif().get_ifd(0x8769)[0x9286]
    assert raw.startswith(UNICODE_PREFIX)  # as A1111 writes it, ASCII or not (test_export_privacy.py)
    params = read_image_parameters(path)
    assert params["parameters"].startswith(prompt + "\nNegative prompt: blurry\nSteps: 3")
    back = request_from_image_info(params)
    assert (back.prompt, back.seed, back.steps) == (prompt, 42, 3)


def test_user_comment_decoding_tolerates_byte_order():
    text = "Steps: 20, Sampler: Euler a — ü"
    assert decode_user_comment(user_comment(text)) == text
    assert decode_user_comment(UNICODE_PREFIX + text.encode("utf-16-le"), big_endian=True) == text
    assert decode_user_comment(UNICODE_PREFIX + text.encode("utf-16"), big_endian=True) == text
    assert decode_user_comment(ASCII_PREFIX + b"abc\0") == "abc"


@pytest.mark.parametrize(("raw", "expected"), [
    ("a/b\\c:d*e?f\"g<h>i|j", "a_b_c_d_e_f_g_h_i_j"),
    ("CON", "_CON"), ("nul.txt", "_nul.txt"), ("  trailing dots...  ", "trailing dots"),
    ("line\nbreak\ttab", "line break tab"), ("", "image"), ("...", "image"),
])
def test_sanitize_filename(raw, expected):
    assert sanitize_filename(raw) == expected


def test_pattern_fields_and_truncation():
    request = REQUEST.replace(prompt="a very long prompt " * 10 + "/etc/passwd")
    name = render_filename("{date}_{seed}_{prompt:12}", request, created=0, record_id=5)
    date = name.split("_")[0]
    assert len(date) == 15 and name.endswith("_42_a very long")
    assert render_filename("{id}-{model}-{steps}x{cfg}", request, 0, 5, INFO) == "5-tiny-3x5"
    assert len(render_filename("{prompt}", request)) <= 120 and "/" not in render_filename("{prompt}", request)
    with pytest.raises(ExportError, match="unknown field"):
        render_filename("{nope}", request)


def test_collisions_get_a_suffix(tmp_path):
    paths = [export_image(_image(), REQUEST, INFO, tmp_path, "png", "{seed}") for _ in range(3)]
    assert [p.name for p in paths] == ["42.png", "42-2.png", "42-3.png"]


def test_export_record_from_gallery(tmp_path):
    with Gallery.open() as gallery:
        record = gallery.add(REQUEST, _image(), {}, INFO)
        before = record.path.read_bytes()
        out = export_record(gallery, record.id, tmp_path / "out", "webp", "{id}_{prompt:9}")
        assert out.name == f"{record.id}_a red fox.webp"
        assert request_from_image_info(read_image_parameters(out)).seed == 42
        assert record.path.read_bytes() == before


def test_full_disk_is_one_line_and_leaves_nothing(tmp_path, monkeypatch):
    def full(*args):
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(os, "replace", full)
    with pytest.raises(ExportError, match="No space left on device") as caught:
        export_image(_image(), REQUEST, INFO, tmp_path / "out", "jpg")
    assert "\n" not in str(caught.value)
    assert list((tmp_path / "out").iterdir()) == []  # no temp file left behind


def test_unwritable_destination_is_one_line(tmp_path):
    # A path under a regular file cannot be created even by root (chmod would not stop root).
    blocker = tmp_path / "file.txt"
    blocker.write_text("x")
    with pytest.raises(ExportError, match="it is a file"):
        export_image(_image(), REQUEST, INFO, blocker, "png")
    with pytest.raises(ExportError, match="could not write"):
        export_image(_image(), REQUEST, INFO, blocker / "sub", "png")


def test_read_only_folder_is_one_line(tmp_path, monkeypatch):
    # Root ignores folder permissions (and CI runs as root), so the folder refuses writes the way
    # the OS does for a read-only one: opening any file in it fails with EACCES.
    folder = tmp_path / "ro"
    folder.mkdir()
    real_os_open, real_open = os.open, builtins.open

    def refuse(path) -> None:
        if os.path.dirname(os.path.abspath(os.fsdecode(path))) == str(folder):
            raise PermissionError(errno.EACCES, "Permission denied", os.fsdecode(path))

    def os_open(path, *args, **kwargs):
        refuse(path)
        return real_os_open(path, *args, **kwargs)

    def open_(file, mode="r", *args, **kwargs):
        if isinstance(file, (str, bytes, os.PathLike)) and set(mode) & set("wax+"):
            refuse(file)
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(os, "open", os_open)
    monkeypatch.setattr(builtins, "open", open_)
    with pytest.raises(ExportError, match="could not write .* Permission denied") as caught:
        export_image(_image(), REQUEST, INFO, folder, "png")
    monkeypatch.undo()
    assert "\n" not in str(caught.value)
    assert list(folder.iterdir()) == []


def test_unknown_format_and_bad_files(tmp_path):
    with pytest.raises(ExportError, match="choose png, jpg or webp"):
        export_image(_image(), REQUEST, INFO, tmp_path, "gif")
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"not an image")
    with pytest.raises(MetadataError, match="not an image"):
        read_image_parameters(junk)
    with pytest.raises(MetadataError, match="no file"):
        read_image_parameters(tmp_path / "missing.png")


def test_foreign_png_keys_are_read(tmp_path):
    from PIL.PngImagePlugin import PngInfo

    chunks = PngInfo()
    chunks.add_text("prompt", '{"1": {"class_type": "KSampler", "inputs": {"seed": 3}}}')
    chunks.add_text("workflow", "{}")
    path = tmp_path / "comfy.png"
    _image().save(path, pnginfo=chunks)
    assert set(read_image_parameters(path)) >= {"prompt", "workflow"}
