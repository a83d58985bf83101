"""Export names made from the prompt (issue 20): cut at a word, accepted by Windows, macOS and
Linux (no reserved device names, forbidden characters, trailing dots or spaces, bidi tricks), and
never a path out of the chosen folder."""

from __future__ import annotations

import re
from datetime import datetime

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from studio.core.request import GenerationRequest
from studio.gallery.export import (
    DEFAULT_PATTERN,
    export_image,
    free_path,
    render_filename,
    sanitize_filename,
)

RESERVED = re.compile(r"(CON|PRN|AUX|NUL|CONIN\$|CONOUT\$|COM[1-9¹²³]|LPT[1-9¹²³])", re.IGNORECASE)
FORBIDDEN = re.compile(r'[<>:"/\\|?*\x00-\x1f\x7f\u200e\u200f\u202a-\u202e\u2066-\u2069]')


def _acceptable_everywhere(name: str) -> bool:
    stem = name.split(".")[0].rstrip(" ")
    return (bool(name) and not FORBIDDEN.search(name) and not name.endswith((" ", "."))
            and not RESERVED.fullmatch(stem) and name not in (".", "..")
            and len(name.encode("utf-8")) <= 200)


def test_the_default_name_ends_at_a_word():
    request = GenerationRequest("a lighthouse at dusk over a stormy northern sea", seed=42)
    name = render_filename(DEFAULT_PATTERN, request, created=datetime(2024, 5, 1, 12).timestamp())
    assert name == "20240501-120000_42_a lighthouse at dusk over a stormy"


@pytest.mark.parametrize(("limit", "expected"), [
    (12, "a lighthouse"), (13, "a lighthouse"), (11, "a"), (3, "a"), (1, "a"), (100, "a lighthouse at dusk"),
])
def test_a_field_limit_keeps_whole_words(limit, expected):
    request = GenerationRequest("a lighthouse at dusk")
    assert render_filename(f"{{prompt:{limit}}}", request) == expected


def test_a_prompt_without_spaces_is_cut_at_a_character():
    assert render_filename("{prompt:5}", GenerationRequest("夕暮れの灯台と静かな海")) == "夕暮れの灯"
    assert render_filename("{prompt:5}", GenerationRequest("abcdefgh ij")) == "abcde"


@pytest.mark.parametrize("raw", ["CON", "con.png", "Nul .webp", "com¹", "LPT²", "CONIN$", "conout$.txt",
                                 "aux.tar.gz", "PRN   "])
def test_windows_device_names_are_never_made(raw):
    name = sanitize_filename(raw)
    assert _acceptable_everywhere(name), name
    assert name.lstrip("_").lower().startswith(raw.strip().lower()[:3])  # still recognisable


def test_bidi_controls_cannot_disguise_a_suffix():
    assert sanitize_filename("holiday\u202egpj.exe") == "holidaygpj.exe"


@pytest.mark.parametrize("prompt", ["../../etc/passwd", "..", "...", "/", "C:\\Windows\\win.ini", "~/x",
                                    "a\\..\\..\\b", " . ", "\x00"])
@pytest.mark.parametrize("pattern", ["{prompt}", "../{prompt}", "{prompt:40}/..", DEFAULT_PATTERN])
def test_exports_stay_in_the_chosen_folder(tmp_path, prompt, pattern):
    folder = tmp_path / "exports"
    path = export_image(Image.new("RGB", (8, 8)), GenerationRequest(prompt or "x"), {}, folder, "png", pattern)
    assert path.parent == folder and path.is_file()
    assert _acceptable_everywhere(path.stem)
    assert sorted(p.name for p in tmp_path.rglob("*") if p.is_file()) == [path.name]


@settings(max_examples=300, deadline=None)
@given(prompt=st.text(min_size=1, max_size=400), limit=st.integers(1, 200))
def test_any_prompt_gives_a_name_every_system_accepts(tmp_path_factory, prompt, limit):
    for pattern in ("{prompt}", f"{{prompt:{limit}}}", DEFAULT_PATTERN):
        name = render_filename(pattern, GenerationRequest(prompt), created=0)
        assert _acceptable_everywhere(name), (pattern, name)
        folder = tmp_path_factory.getbasetemp()
        assert free_path(folder, name, ".png").parent == folder
