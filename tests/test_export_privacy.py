"""Files Studio writes hold no local path (issue 20): sources and masks are named by content hash
and gallery id, models and LoRAs by name. Opening such a file restores the exact request where
this machine knows the sources (inputs folder, gallery), and otherwise everything else, saying
which source is missing. JPEG and WebP carry Studio's JSON too (XMP), and the A1111 text in an
EXIF UserComment typed and prefixed as A1111 writes it."""

from __future__ import annotations

import struct
import time
from pathlib import Path

import pytest
from PIL import Image

from studio.cli import main
from studio.core.import_policy import KnownModel, ModelHints, vet_models
from studio.core.metadata import STUDIO_KEY, parse_image_info
from studio.core.request import GenerationRequest
from studio.engine import imageops
from studio.gallery import Gallery
from studio.gallery.export import (
    UNICODE_PREFIX,
    export_record,
    parameters_from_file,
    read_image_parameters,
    request_from_file,
    save_with_parameters,
)
from studio.gallery.xmp import request_from_xmp, xmp_packet

FORMATS = ["png", "jpg", "webp"]


def _private(tmp_path: Path) -> Path:
    folder = tmp_path / "Private Photos of Alice"
    folder.mkdir()
    return folder


def _picture(colour=(200, 40, 40), size=(72, 48)) -> Image.Image:
    return Image.new("RGB", size, colour)


def _mask(size=(72, 48)) -> Image.Image:
    mask = Image.new("L", size, 0)
    mask.paste(255, (10, 10, 40, 30))
    return mask


def _edit(source: Path, mask: Path, **fields) -> GenerationRequest:
    return GenerationRequest("a red fox in the snow", seed=7, steps=3, width=72, height=48,
                             init_image=str(source), mask_image=str(mask), strength=0.6, **fields)


def _all_text(path: Path) -> str:
    """Every text Studio reads from the file, plus the file's bytes read as UTF-8 and UTF-16."""
    data = path.read_bytes()
    texts = list(read_image_parameters(path).values())
    with Image.open(path) as image:
        texts += [v if isinstance(v, str) else v.decode("utf-8", "replace") for v in image.info.values()
                  if isinstance(v, str | bytes)]
    texts += [data.decode("utf-8", "replace"), data.decode("utf-16-be", "replace"),
              data[1:].decode("utf-16-be", "replace")]
    return "\n".join(texts)


def _assert_private(path: Path, *secrets: str) -> None:
    text = _all_text(path)
    for secret in secrets:
        assert secret not in text, f"{secret!r} leaked into {path.name}"


# ---- nothing local leaves the machine ----------------------------------------------------------
@pytest.mark.parametrize("fmt", FORMATS)
def test_exports_hold_no_local_path(tmp_path, fmt):
    folder = _private(tmp_path)
    _picture().save(folder / "holiday-secret.png")
    _mask().save(folder / "holiday-mask.png")
    request = _edit(folder / "holiday-secret.png", folder / "holiday-mask.png",
                    model=str(folder / "my models" / "alice-model.safetensors"),
                    loras=((str(folder / "loras" / "detail.safetensors"), 0.8),))
    info = {"model": "alice-model", "model_hash": "0123456789abcdef",
            "model_path": str(folder / "my models" / "alice-model.safetensors")}
    out = save_with_parameters(_picture(), request, info, tmp_path / f"out.{fmt}")
    _assert_private(out, str(tmp_path), "Private Photos", "holiday-secret", "holiday-mask", "my models")
    found = parse_image_info(read_image_parameters(out))
    assert found["source"] == STUDIO_KEY
    request_read = found["request"]
    assert request_read.init_image.startswith("sha256:") and len(request_read.init_image) == 7 + 64
    assert request_read.model == "alice-model.safetensors" and request_read.loras == (("detail.safetensors", 0.8),)
    assert (found["model_name"], found["model_hash"]) == ("alice-model", "0123456789abcdef")


def test_gallery_files_hold_no_local_path_and_the_database_keeps_everything(tmp_path):
    folder = _private(tmp_path)
    _picture().save(folder / "holiday-secret.png")
    _mask().save(folder / "holiday-mask.png")
    request = _edit(folder / "holiday-secret.png", folder / "holiday-mask.png")
    info = {"model": "studio-shapes", "model_path": str(folder / "models" / "studio-shapes"), "device": "cpu"}
    with Gallery.open() as gallery:
        record = gallery.add(request, _picture(), {"total": 1.0}, info)
        _assert_private(record.path, str(tmp_path), "Private Photos", "holiday-secret")
        again = gallery.get(record.id)
        assert again.request == request and again.info["model_path"] == info["model_path"]
        exported = export_record(gallery, record.id, tmp_path / "exports", "jpg")
    _assert_private(exported, str(tmp_path), "Private Photos", "holiday-secret")


# ---- opening restores the request --------------------------------------------------------------
def _inputs_edit() -> GenerationRequest:
    source = imageops.save_input(_picture(), "source")
    mask = imageops.save_input(_mask(), "mask")
    return _edit(source, mask, guidance_rescale=0.3, blend_prompts=("a wolf",), blend_weights=(0.25,),
                 seed_b=11, seed_mix=0.4)


@pytest.mark.parametrize("fmt", FORMATS)
def test_opening_an_export_restores_the_exact_request_from_the_inputs_folder(tmp_path, fmt):
    request = _inputs_edit()
    out = save_with_parameters(_picture(), request, {}, tmp_path / f"out.{fmt}")
    found = parameters_from_file(out)
    assert found["request"] == request  # the JSON, not the A1111 text (it has no blend or mask)
    assert found["missing"] == ()
    assert request_from_file(out) == request


def test_a_source_known_only_to_the_gallery_is_written_back(tmp_path, studio_home):
    with Gallery.open() as gallery:
        parent = gallery.add(GenerationRequest("a red square", seed=1, width=72, height=48), _picture(),
                             {}, {})
        request = _inputs_edit()
        child = gallery.add(request, _picture((10, 200, 10)), {}, {}, parent_id=parent.id)
        out = export_record(gallery, child.id, tmp_path, "webp")
    source = Path(request.init_image)
    source.unlink()  # the inputs folder was cleaned; the gallery still has the picture
    found = parameters_from_file(out)
    assert found["request"] == request and found["missing"] == ()
    assert source.is_file()  # the very same file, by content hash


def test_a_missing_source_is_left_out_and_named(tmp_path, monkeypatch):
    request = _inputs_edit().replace(width=70)  # an edit keeps its source's size, any size
    out = save_with_parameters(_picture(), request, {}, tmp_path / "out.png")
    elsewhere = tmp_path / "another-machine"
    elsewhere.mkdir()
    monkeypatch.setenv("STUDIO_HOME", str(elsewhere))
    found = parameters_from_file(out)
    back = found["request"]
    assert back.init_image is None and back.mask_image is None
    assert (back.width, back.height) == (72, 64)  # a size a new picture can have
    assert back.replace(init_image=request.init_image, mask_image=request.mask_image, width=70,
                        height=48) == request
    assert len(found["missing"]) == 2
    assert found["missing"][0].startswith("the source image (sha256:")
    assert found["missing"][1].startswith("the mask (sha256:")
    assert all("\n" not in line for line in found["missing"])


def test_an_export_names_its_model_so_the_window_can_find_it(tmp_path):
    request = GenerationRequest("a cat", model="/home/alice/models/alice-model.safetensors")
    out = save_with_parameters(_picture(), request, {"model_hash": "feedbeef12"}, tmp_path / "out.jpg")
    found = parameters_from_file(out)
    assert found["request"].model == "alice-model.safetensors"  # its file name, no folder
    known = [KnownModel("/mnt/disk/alice-model.safetensors", "alice-model.safetensors")]
    hints = ModelHints(names_model=True, names_loras=True, model_name=found["model_name"],
                       model_hash=found["model_hash"])
    vetted = vet_models(found["request"], hints, known, roots=[])
    assert vetted.model == "/mnt/disk/alice-model.safetensors" and vetted.missing == ()


def test_a_gallery_rebuilt_from_its_files_finds_the_sources_again(studio_home):
    request = _inputs_edit()
    with Gallery.open() as gallery:
        gallery.add(request, _picture(), {}, {}, created=time.time() - 3600)
    (studio_home / "gallery" / "gallery.db").write_bytes(b"")  # lost
    with Gallery.open() as gallery:
        [record] = gallery.list()
        assert record.request == request


def test_cli_edits_keep_their_sources_in_the_inputs_folder(tmp_path, tiny_model_dir, studio_home):
    folder = _private(tmp_path)
    _picture(size=(64, 64)).save(folder / "holiday-secret.png")
    out = tmp_path / "out.webp"
    assert main(["generate", "a fox", "--model", str(tiny_model_dir), "--steps", "1", "--seed", "1",
                 "--init-image", str(folder / "holiday-secret.png"), "-o", str(out)]) == 0
    _assert_private(out, str(tmp_path), "holiday-secret")
    request = request_from_file(out)
    assert Path(request.init_image).parent == studio_home / "inputs"
    with Image.open(request.init_image) as copy, Image.open(folder / "holiday-secret.png") as original:
        assert copy.tobytes() == original.convert("RGB").tobytes()


# ---- JPEG and WebP -----------------------------------------------------------------------------
def _user_comment_entry(exif: bytes) -> tuple[int, bytes]:
    """(type, value) of the UserComment tag in a raw EXIF block, read by hand."""
    tiff = exif[6:] if exif.startswith(b"Exif\0\0") else exif
    order = ">" if tiff[:2] == b"MM" else "<"

    def entries(at: int):
        (count,) = struct.unpack(order + "H", tiff[at:at + 2])
        for n in range(count):
            yield struct.unpack(order + "HHII", tiff[at + 2 + 12 * n: at + 14 + 12 * n])

    (ifd0,) = struct.unpack(order + "I", tiff[4:8])
    exif_ifd = next(value for tag, _, _, value in entries(ifd0) if tag == 0x8769)
    tag_type, count, offset = next((t, c, v) for tag, t, c, v in entries(exif_ifd) if tag == 0x9286)
    return tag_type, tiff[offset:offset + count]


@pytest.mark.parametrize("fmt", ["jpg", "webp"])
def test_user_comment_is_undefined_and_unicode_as_a1111_writes_it(tmp_path, fmt):
    out = save_with_parameters(_picture(), GenerationRequest("plain ascii", seed=3), {}, tmp_path / f"x.{fmt}")
    with Image.open(out) as image:
        tag_type, value = _user_comment_entry(image.info["exif"])
    assert tag_type == 7  # UNDEFINED, not BYTE
    assert value.startswith(UNICODE_PREFIX)
    assert value[8:].decode("utf-16-be").startswith("plain ascii\nSteps: 20")


def test_xmp_reader_takes_elements_and_attributes_and_refuses_junk():
    assert request_from_xmp(xmp_packet('{"prompt": "a <b> & c"}')) == '{"prompt": "a <b> & c"}'
    edited = (b'<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/'
              b'22-rdf-syntax-ns#"><rdf:Description xmlns:studio="https://studio.invalid/xmp/1.0/" '
              b'studio:request="{&quot;prompt&quot;: &quot;x&quot;}"/></rdf:RDF></x:xmpmeta>')
    assert request_from_xmp(edited) == '{"prompt": "x"}'
    laughs = (b'<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "aaaaaaaaaa">'
              + b"".join(b'<!ENTITY %c "&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;&%c;">' % ((98 + i,) + (97 + i,) * 10)
                         for i in range(8))
              + b']><x xmlns:s="https://studio.invalid/xmp/1.0/"><s:request>&i;</s:request></x>')
    started = time.perf_counter()
    assert request_from_xmp(laughs) is None
    assert time.perf_counter() - started < 1.0
    for junk in (b"", b"<x", b"\xff\xfe", "not xml", 42, b"<a>" * 400_000):
        assert request_from_xmp(junk) is None


def test_inspect_says_which_source_is_missing(tmp_path, monkeypatch, capsys):
    out = save_with_parameters(_picture(), _inputs_edit(), {}, tmp_path / "out.png")
    monkeypatch.setenv("STUDIO_HOME", str(tmp_path / "another-machine"))
    assert main(["inspect", str(out)]) == 0
    text = capsys.readouterr().out
    assert "  missing:  the source image (sha256:" in text and "  missing:  the mask (sha256:" in text
