"""Imports that cannot hang or crash: every reader is linear-time and capped, and any file at all
gives a request or one MetadataError line naming it (issue 19). Uses the fuzz corpus in
tests/fuzz/ and the deterministic mutator in tests/fuzz_support.py."""

from __future__ import annotations

import json
import os
import struct
import time
import zlib
from pathlib import Path

import pytest
from fuzz_support import mutated_files, seed_files
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image, PngImagePlugin
from PIL.PngImagePlugin import PngInfo

from studio.core.metadata import (
    MAX_TEXT_KEYS,
    MetadataError,
    parse_comfyui,
    parse_image_info,
    parse_invokeai,
    parse_parameters,
    request_from_image_info,
)
from studio.core.request import GenerationRequest, RequestError
from studio.gallery.export import (
    EXIF_IFD,
    USER_COMMENT,
    decode_user_comment,
    parameters_from_file,
    read_image_parameters,
    request_from_file,
)

A1111_TAIL = "\nSteps: 20, Sampler: Euler a, CFG scale: 7, Seed: 5, Size: 512x512"


def _expect_one_line_error(path: Path, match: str = "") -> MetadataError:
    with pytest.raises(MetadataError, match=match) as caught:
        request_from_file(path)
    message = str(caught.value)
    assert "\n" not in message and message.startswith(f"{path.name}: ")
    return caught.value


def _png(path: Path, size: tuple[int, int] = (8, 8), **text: str) -> Path:
    chunks = PngInfo()
    for key, value in text.items():
        chunks.add_text(key, value)
    Image.new("RGB", size).save(path, pnginfo=chunks)
    return path


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _raw_png(width: int, height: int, before: list[bytes] = (), after: list[bytes] = ()) -> bytes:
    """A PNG whose header claims width x height, with an empty IDAT: tiny on disk whatever it claims."""
    header = _chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    return (b"\x89PNG\r\n\x1a\n" + header + b"".join(before) + _chunk(b"IDAT", zlib.compress(b""))
            + b"".join(after) + _chunk(b"IEND", b""))


# ---- the corpus --------------------------------------------------------------------------------
EXPECTED_SEEDS = {  # file -> (prompt start, seed, steps, guidance, size)
    "a1111.png": ("masterpiece, a (red fox:1.2)", 1234567, 28, 6.5, (512, 768)),
    "a1111_after_pixels.png": ("masterpiece, a (red 狐:1.2)", 1234567, 28, 6.5, (512, 768)),
    "comfyui.png": ("a fox in a forest", 123, 12, 4.5, (512, 640)),
    "invokeai.png": ("an owl on a branch", 11, 25, 7.5, (640, 448)),
    "studio.png": ("夕暮れの灯台", 42, 12, 4.0, (256, 192)),
    "studio.jpg": ("夕暮れの灯台", 42, 12, 4.0, (256, 192)),
    "studio.webp": ("夕暮れの灯台", 42, 12, 4.0, (256, 192)),
}


def test_every_seed_of_the_corpus_reads_back():
    assert sorted(p.name for p in seed_files()) == sorted(EXPECTED_SEEDS)
    assert sum(p.stat().st_size for p in Path(seed_files()[0]).parent.iterdir()) < 200_000
    for path in seed_files():
        request = request_from_file(path)
        prompt, seed, steps, guidance, size = EXPECTED_SEEDS[path.name]
        assert request.prompt.startswith(prompt), path.name
        assert (request.seed, request.steps, request.guidance_scale) == (seed, steps, guidance), path.name
        assert (request.width, request.height) == size, path.name


@pytest.mark.filterwarnings("ignore::UserWarning", "ignore::PIL.Image.DecompressionBombWarning")
def test_mutated_corpus_gives_a_request_or_one_line_naming_the_file(tmp_path):
    outcomes = {"read": 0, "refused": 0}
    slowest = 0.0
    for path in mutated_files(tmp_path, 350):
        start = time.perf_counter()
        try:
            request = request_from_file(path)
        except MetadataError as exc:
            message = str(exc)
            assert "\n" not in message and message.startswith(f"{path.name}: "), message
            outcomes["refused"] += 1
        else:
            assert request.validate() is request
            outcomes["read"] += 1
        slowest = max(slowest, time.perf_counter() - start)
    assert slowest < 2.0  # a hang or a quadratic parse would show here (typical: a few ms)
    # The mutator must both damage files and leave readable ones, or this test proves little.
    assert outcomes["read"] > 50 and outcomes["refused"] > 50, outcomes


# ---- linear time -----------------------------------------------------------------------------
ADVERSARIAL_LINES = {
    # The old pattern retried `\s*:` after every space of a key: 200 KB took 80-90 s.
    "spaces in a key": "A" + " " * 200_000 + "x",
    "spaces after a colon": "Steps: 20, A:" + " " * 200_000 + "x",
    "unclosed quotes": 'Steps: 20, A: "' + '\\"' * 100_000,
    "many quotes": 'Steps: "x", ' * 17_000,
    "many pairs": "Seed: 1, " * 22_000,
}


@pytest.mark.parametrize("line", ADVERSARIAL_LINES.values(), ids=ADVERSARIAL_LINES.keys())
def test_a1111_text_of_200_kb_parses_well_under_a_second(line):
    text = "a prompt\n" + line
    assert len(text) >= 190_000
    start = time.perf_counter()
    try:
        parsed = parse_parameters(text)
    except MetadataError as exc:  # over MAX_PAIRS: refused, also quickly
        assert "entries" in str(exc)
    else:
        assert parsed["prompt"].startswith("a prompt")
    assert time.perf_counter() - start < 0.5


def test_settings_with_quotes_and_escapes_still_read():
    text = ('p\nSteps: 9, Model: "a \\"quoted\\", name", Note: "unclosed, Seed: 4, '
            'Lora hashes: "x: 1, y: 2", Size: 64x128')
    parsed = parse_parameters(text)
    assert parsed["settings"]["Model"] == 'a "quoted", name'
    assert parsed["settings"]["Note"] == '"unclosed'
    assert parsed["settings"]["Lora hashes"] == "x: 1, y: 2"
    assert (parsed["steps"], parsed["seed"], parsed["width"], parsed["height"]) == (9, 4, 64, 128)


def test_huge_numbers_are_ignored_not_crashed_on():
    parsed = parse_parameters("p\nSteps: 5, Seed: " + "9" * 5000 + ", Size: " + "9" * 5000 + "x64, CFG scale: 1e999")
    assert parsed["steps"] == 5 and "seed" not in parsed and "width" not in parsed
    assert "guidance_scale" not in parsed


def test_text_over_the_cap_is_one_line():
    with pytest.raises(MetadataError, match="over 1,000,000 characters"):
        parse_parameters("x" * 1_000_001)
    with pytest.raises(MetadataError, match="Studio reads at most"):
        parse_image_info({f"k{i}": "v" for i in range(MAX_TEXT_KEYS + 1)})


# ---- nesting, types --------------------------------------------------------------------------
DEEP = "[" * 100_000 + "]" * 100_000


def test_json_nested_100k_deep_is_refused_not_recursed():
    for parse in (parse_invokeai, parse_comfyui):
        with pytest.raises(MetadataError, match="not valid JSON"):
            parse(DEEP)
    with pytest.raises(RequestError, match="not valid JSON"):
        GenerationRequest.from_json(DEEP)
    # A damaged Studio key falls back to the A1111 text beside it.
    assert request_from_image_info({"studio": DEEP, "parameters": "a cat" + A1111_TAIL}).prompt == "a cat"


def test_deep_json_in_a_file_is_one_line(tmp_path):
    path = _png(tmp_path / "deep.png", invokeai_metadata='{"a": ' * 50_000 + "1" + "}" * 50_000)
    _expect_one_line_error(path, "not valid JSON")


def test_studio_json_with_a_float_prompt_is_refused_naming_the_field(tmp_path):
    path = _png(tmp_path / "float.png", studio=json.dumps({"prompt": 1.5, "seed": 3}))
    error = _expect_one_line_error(path, "Studio parameters are damaged")
    assert "prompt must be text (got 1.5)" in str(error)
    with pytest.raises(MetadataError, match="no prompt"):  # InvokeAI: a number is no prompt either
        request_from_image_info({"invokeai_metadata": json.dumps({"positive_prompt": 1.5, "seed": 1})})


@pytest.mark.parametrize("field,value", [("seed", True), ("steps", True), ("guidance_scale", "5"),
                                         ("width", 512.0), ("loras", [["a", "1"]])])
def test_studio_json_of_wrong_types_falls_back_to_the_text(field, value):
    studio = json.dumps({"prompt": "from json", field: value})
    request = request_from_image_info({"studio": studio, "parameters": "from text" + A1111_TAIL})
    assert request.prompt == "from text"


# ---- EXIF ------------------------------------------------------------------------------------
@pytest.mark.parametrize("value", [12345, (1, 2, 3), 1.5])
def test_non_bytes_user_comment_is_one_line(tmp_path, value):
    exif = Image.Exif()
    exif.get_ifd(EXIF_IFD)[USER_COMMENT] = value
    path = tmp_path / "comment.jpg"
    Image.new("RGB", (8, 8)).save(path, exif=exif.tobytes())
    _expect_one_line_error(path, "UserComment holds")
    with pytest.raises(MetadataError):
        decode_user_comment(value)


def test_user_comment_as_str_is_read(tmp_path):
    exif = Image.Exif()
    exif.get_ifd(EXIF_IFD)[USER_COMMENT] = "a heron" + A1111_TAIL
    path = tmp_path / "comment.webp"
    Image.new("RGB", (8, 8)).save(path, exif=exif.tobytes())
    assert request_from_file(path).prompt == "a heron"


# ---- Pillow's limits -------------------------------------------------------------------------
def test_decompression_bomb_is_one_line_and_limits_stay(tmp_path):
    limit = Image.MAX_IMAGE_PIXELS
    path = tmp_path / "bomb.png"
    path.write_bytes(_raw_png(20_000, 20_000, before=[_chunk(b"tEXt", b"parameters\0x" + A1111_TAIL.encode())]))
    _expect_one_line_error(path, "too large to open safely")
    assert Image.MAX_IMAGE_PIXELS == limit


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_big_image_is_read_without_decoding_its_pixels(tmp_path):
    # 100 MP: past Pillow's warning, under its error. Decoding would take seconds and 300 MB.
    text_before = _chunk(b"tEXt", b"parameters\0a whale" + A1111_TAIL.encode())
    path = tmp_path / "big.png"
    path.write_bytes(_raw_png(10_000, 10_000, before=[text_before]))
    start = time.perf_counter()
    assert request_from_file(path).prompt == "a whale"
    assert time.perf_counter() - start < 1.0
    # Text after the pixel data is found by walking the chunk list: still no decoding.
    late = tmp_path / "late.png"
    late.write_bytes(_raw_png(10_000, 10_000, after=[text_before]))
    start = time.perf_counter()
    assert request_from_file(late).prompt == "a whale"
    assert time.perf_counter() - start < 1.0


def test_text_after_the_pixels_of_a_normal_image_is_read(tmp_path):
    rows = b"".join(b"\0" + b"\x10\x20\x30" * 8 for _ in range(8))
    data = _raw_png(8, 8, after=[_chunk(b"tEXt", b"parameters\0a crane" + A1111_TAIL.encode())])
    data = data.replace(_chunk(b"IDAT", zlib.compress(b"")), _chunk(b"IDAT", zlib.compress(rows)))
    path = tmp_path / "late.png"
    path.write_bytes(data)
    assert request_from_file(path).prompt == "a crane"


def test_pillow_text_limits_are_one_line_and_stay(tmp_path):
    chunk_limit, memory_limit = PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY
    big = tmp_path / "ztxt.png"  # one chunk that decompresses past MAX_TEXT_CHUNK
    big.write_bytes(_raw_png(8, 8, before=[_chunk(b"zTXt", b"parameters\0\0" + zlib.compress(b"a" * (chunk_limit + 1)))]))
    _expect_one_line_error(big, "text chunks are larger than Pillow reads safely")
    many = tmp_path / "many.png"  # together past MAX_TEXT_MEMORY, from a 70 kB file
    chunks = [_chunk(b"zTXt", f"k{i}".encode() + b"\0\0" + zlib.compress(b"a" * (chunk_limit - 1)))
              for i in range(memory_limit // chunk_limit + 2)]
    many.write_bytes(_raw_png(8, 8, before=chunks))
    _expect_one_line_error(many, "text chunks are larger than Pillow reads safely")
    assert (PngImagePlugin.MAX_TEXT_CHUNK, PngImagePlugin.MAX_TEXT_MEMORY) == (chunk_limit, memory_limit)


def test_uncompressed_text_over_a_megabyte_is_one_line(tmp_path):
    path = tmp_path / "long.png"
    path.write_bytes(_raw_png(8, 8, before=[_chunk(b"tEXt", b"parameters\0" + b"x" * 1_000_100)]))
    _expect_one_line_error(path, "over 1,000,000 characters")


def test_too_many_text_chunks_is_one_line(tmp_path):
    path = _png(tmp_path / "keys.png", **{f"k{i}": "v" for i in range(MAX_TEXT_KEYS + 1)})
    _expect_one_line_error(path, "text entries")


# ---- files that are not images ---------------------------------------------------------------
def test_missing_folder_empty_and_junk_files_are_one_line(tmp_path):
    _expect_one_line_error(tmp_path / "missing.png", "no file")
    folder = tmp_path / "folder.png"
    folder.mkdir()
    _expect_one_line_error(folder, "not a regular file")
    empty = tmp_path / "empty.png"
    empty.write_bytes(b"")
    _expect_one_line_error(empty, "not an image")
    with pytest.raises(MetadataError, match="^missing.png: ") as caught:
        read_image_parameters(tmp_path / "missing.png")
    assert caught.value.reason == "there is no file at that path"


def test_unreadable_file_is_one_line(tmp_path, monkeypatch):
    path = _png(tmp_path / "locked.png", parameters="a cat" + A1111_TAIL)

    def refuse(*args, **kwargs):  # chmod would not stop root, which CI runs as
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(Image, "open", refuse)
    _expect_one_line_error(path, r"cannot be read \(Permission denied\)")


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="named pipes are POSIX")
def test_a_named_pipe_is_refused_without_blocking(tmp_path):
    fifo = tmp_path / "pipe.png"
    os.mkfifo(fifo)  # opening it for reading would wait for a writer forever
    _expect_one_line_error(fifo, "not a regular file")


def test_parameters_from_file_says_where_they_came_from():
    found = parameters_from_file(next(p for p in seed_files() if p.name == "comfyui.png"))
    assert found["source"] == "prompt" and found["model_name"] == "sd15"
    assert found["request"].prompt == "a fox in a forest"


# ---- properties ------------------------------------------------------------------------------
_json = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4),
    max_leaves=20,
)
_request_keys = st.sampled_from(["prompt", "negative_prompt", "seed", "steps", "guidance_scale", "width",
                                 "scheduler", "loras", "blend_prompts", "blend_weights", "seed_b", "x"])
_settings_text = st.text(alphabet=st.sampled_from(list('Aab :,"\\\n\t9x.-{}[]')), max_size=300)
_fast = settings(max_examples=150, deadline=2000, suppress_health_check=[HealthCheck.too_slow])


@_fast
@given(st.one_of(st.text(), _settings_text))
def test_a1111_parser_raises_nothing_but_metadata_error(text):
    try:
        parsed = parse_parameters(text)
    except MetadataError:
        return
    assert isinstance(parsed["prompt"], str) and isinstance(parsed["settings"], dict)


@_fast
@given(st.one_of(st.text(), st.binary(), _json.map(json.dumps)))
def test_json_parsers_raise_nothing_but_metadata_error(text):
    for parse in (parse_invokeai, parse_comfyui):
        try:
            parse(text)
        except MetadataError:
            pass


@_fast
@given(st.dictionaries(st.sampled_from(["studio", "parameters", "invokeai_metadata", "prompt"]),
                       st.one_of(_json.map(json.dumps), st.text(), st.binary(max_size=40),
                                 st.dictionaries(_request_keys, _json).map(json.dumps)), max_size=4))
def test_image_info_raises_nothing_but_metadata_error(info):
    try:
        request = request_from_image_info(info)
    except MetadataError as exc:
        assert "\n" not in str(exc)
    else:
        assert request.validate() is request


@_fast
@given(st.dictionaries(_request_keys, _json))
def test_request_from_any_json_object_raises_nothing_but_request_error(data):
    try:
        request = GenerationRequest.from_dict(data)
        request.validate()
    except RequestError as exc:
        assert "\n" not in str(exc)


@_fast
@given(st.one_of(st.text(), _json.map(json.dumps)))
def test_request_from_any_text_raises_nothing_but_request_error(text):
    try:
        GenerationRequest.from_json(text)
    except RequestError as exc:
        assert "\n" not in str(exc)


@_fast
@given(st.binary(max_size=200))
def test_user_comment_bytes_always_decode(raw):
    assert isinstance(decode_user_comment(raw), str)
