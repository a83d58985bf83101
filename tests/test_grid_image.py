"""The grid image: labels drawn in their bands, placeholders for missing cells, clicks to cells."""

from __future__ import annotations

import pytest
from PIL import Image, ImageChops, ImageFont

from studio.core.request import GenerationRequest
from studio.core.sweep import Axis, Sweep
from studio.engine import grid_image
from studio.engine.grid_image import compose_grid, font_size_for, grid_layout, label_font, wrap

RED, GREEN = (200, 30, 30), (30, 200, 30)


def _sweep(size: int = 64, y: str | None = "seed=1,2", z: str | None = None, prompt: str = "a red circle") -> Sweep:
    base = GenerationRequest(prompt=prompt, width=size, height=size, seed=1, steps=4).validate()
    return Sweep(base, Axis.parse("prompt=red,green"), Axis.parse(y) if y else None,
                 Axis.parse(z) if z else None).validate()


def _ink(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    """How many pixels in `box` are not the white background."""
    return sum(1 for value in image.crop(box).convert("L").tobytes() if value < 200)


def test_cells_sit_where_the_layout_says_and_missing_ones_are_placeholders():
    sweep = _sweep()
    grid = compose_grid(sweep, 0, {(0, 0): Image.new("RGB", (64, 64), RED),
                                   (1, 1): Image.new("RGB", (64, 64), GREEN)})
    layout = grid_layout(sweep, 0)
    assert grid.size == (layout.width, layout.height)
    for (x, y), colour in {(0, 0): RED, (1, 1): GREEN}.items():
        left, top, right, bottom = layout.cell_box(x, y)
        assert grid.getpixel(((left + right) // 2 + 5, top + 3)) == colour
    for x, y in ((1, 0), (0, 1)):  # missing: a grey that is neither a picture nor the background
        left, top, right, bottom = layout.cell_box(x, y)
        pixel = grid.getpixel((left + 3, (top + bottom) // 2))
        assert pixel == grid_image.PLACEHOLDER
        assert pixel != grid_image.BACKGROUND


def test_labels_and_title_are_drawn_in_their_bands():
    sweep = _sweep(z="steps=4,6")
    grid = compose_grid(sweep, 1, {})
    layout = grid_layout(sweep, 1)
    first = layout.cell_box(0, 0)
    # title band, each X label above its column, each Y label left of its row
    assert _ink(grid, (0, 0, layout.width, layout.title_height)) > 50
    for x in range(2):
        left, top, right, _ = layout.cell_box(x, 0)
        assert _ink(grid, (left, layout.title_height, right, top - layout.gap)) > 30, x
    for y in range(2):
        _, top, _, bottom = layout.cell_box(0, y)
        assert _ink(grid, (0, top, first[0] - layout.gap, bottom)) > 30, y
    # the labels differ: the title is the Z value, different between grids
    other = compose_grid(sweep, 0, {})
    band = (0, 0, layout.width, layout.title_height)
    assert ImageChops.difference(grid.crop(band), other.crop(band)).getbbox() is not None


def test_a_sweep_without_y_has_no_left_band():
    sweep = _sweep(y=None)
    layout = grid_layout(sweep, 0)
    assert layout.left == 0 and layout.rows == 1
    assert layout.cell_at(*layout.cell_box(1, 0)[:2]) == (1, 0)


@pytest.mark.parametrize("size", [16, 64, 512, 1024])
def test_labels_stay_legible_and_scale_with_the_cell(size):
    assert font_size_for((size, size)) >= grid_image.MIN_FONT
    if size >= 512:
        assert font_size_for((size, size)) > font_size_for((64, 64))
    layout = grid_layout(_sweep(), 0, cell_size=(size, size))  # e.g. the window's thumbnails
    assert layout.font_size == font_size_for((size, size))
    assert layout.top > layout.font_size  # the X labels have room above the cells


def test_long_labels_wrap_and_end_in_an_ellipsis():
    font = label_font(14)
    text = "a very long prompt about a red circle on a blue background, cinematic, detailed, 8k"
    lines = wrap(text, font, 80, 3)
    assert len(lines) == 3
    assert lines[-1].endswith(grid_image.ELLIPSIS)
    assert all(font.getlength(line) <= 80 for line in lines)
    assert wrap("short", font, 80, 3) == ["short"]
    assert all(font.getlength(line) <= 30 for line in wrap("Supercalifragilistic", font, 30, 9))


def test_a_point_maps_to_its_cell_and_labels_map_to_none():
    sweep = _sweep(size=96)
    layout = grid_layout(sweep, 0)
    for x in range(2):
        for y in range(2):
            left, top, right, bottom = layout.cell_box(x, y)
            assert layout.cell_at(left, top) == (x, y)
            assert layout.cell_at(right - 1, bottom - 1) == (x, y)
            assert layout.cell_at(right, top) is None or layout.cell_at(right, top) != (x, y)
    assert layout.cell_at(2, 2) is None  # the title
    assert layout.cell_at(layout.width + 5, layout.height - 5) is None
    assert layout.cell_at(layout.left // 2, layout.cell_box(0, 1)[1] + 5) is None  # a Y label


def test_a_larger_cell_is_shrunk_into_its_box_and_the_font_falls_back(monkeypatch):
    sweep = _sweep()
    grid = compose_grid(sweep, 0, {(0, 0): Image.new("RGB", (128, 64), RED)}, cell_size=(64, 64))
    left, top, right, bottom = grid_layout(sweep, 0).cell_box(0, 0)
    assert grid.getpixel((left + 2, (top + bottom) // 2)) == RED
    assert grid.getpixel((left + 2, top + 2)) == grid_image.BACKGROUND  # letterboxed, aspect kept
    # without the bundled file the grid is still drawn, with Pillow's font
    monkeypatch.setattr(grid_image, "FONT_FILE", "fonts/missing.ttf")
    label_font.cache_clear()
    try:
        assert isinstance(label_font(20), ImageFont.FreeTypeFont | ImageFont.ImageFont)
        assert _ink(compose_grid(sweep, 0, {}), (0, 0, 200, 20)) > 0
    finally:
        label_font.cache_clear()


def test_the_bundled_font_is_used():
    font = label_font(20)
    assert isinstance(font, ImageFont.FreeTypeFont)
    assert font.getname()[0] == "DejaVu Sans"
