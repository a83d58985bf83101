"""The grid image of a sweep: its cells side by side, X labels on top, Y labels on the left and the
grid's title (the Z value, or the prompt) above. Torch-free (Pillow only).

Missing cells are drawn as a neutral placeholder, so a cancelled sweep still gives a grid and the
window can redraw the same layout as cells fill in. The layout depends only on the sweep and the
cell size, never on which cells are there, so a click maps to the same cell at every stage
(`GridLayout.cell_at`). Labels use the bundled DejaVu Sans (resources/fonts), sized from the cell
with a floor so that they stay legible on small cells; long labels wrap and end in "…".
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from dataclasses import dataclass

from PIL import Image, ImageDraw, ImageFont, ImageOps

from studio.core.paths import repo_resources
from studio.core.sweep import Sweep

FONT_FILE = "fonts/DejaVuSans.ttf"
MIN_FONT = 14  # pixels: below this a label is no longer readable in a viewer at 100 %
MAX_FONT = 64
BACKGROUND = (255, 255, 255)
INK = (20, 20, 20)
PLACEHOLDER = (128, 128, 128)  # a mid grey: neither a picture nor the background
PLACEHOLDER_MARK = (160, 160, 160)
LABEL_LINES = 3  # at most, per label; the rest becomes "…"
TITLE_LINES = 2
ELLIPSIS = "…"

Font = ImageFont.FreeTypeFont | ImageFont.ImageFont
CellIndex = tuple[int, int]


@functools.lru_cache(maxsize=16)
def label_font(size: int) -> Font:
    """The bundled font at `size` pixels; Pillow's own font if the file is missing or unreadable."""
    try:
        return ImageFont.truetype(str(repo_resources() / FONT_FILE), size)
    except OSError:
        return ImageFont.load_default(size)


@dataclass(frozen=True)
class GridLayout:
    """Where everything of one grid goes, in pixels of the grid image."""

    columns: int
    rows: int
    cell_size: tuple[int, int]
    gap: int
    left: int  # width of the Y-label band (0 without a Y axis)
    top: int  # height of the title and X-label bands together
    title_height: int
    width: int
    height: int
    font_size: int

    def cell_box(self, x: int, y: int) -> tuple[int, int, int, int]:
        """(left, top, right, bottom) of cell (x, y)."""
        cw, ch = self.cell_size
        left = self.left + self.gap + x * (cw + self.gap)
        top = self.top + self.gap + y * (ch + self.gap)
        return (left, top, left + cw, top + ch)

    def cell_at(self, px: float, py: float) -> CellIndex | None:
        """The (x, y) of the cell under pixel (px, py) of the grid image; None on labels or gaps."""
        cw, ch = self.cell_size
        fx, fy = px - self.left - self.gap, py - self.top - self.gap
        if fx < 0 or fy < 0:
            return None
        x, rest_x = divmod(int(fx), cw + self.gap)
        y, rest_y = divmod(int(fy), ch + self.gap)
        if x >= self.columns or y >= self.rows or rest_x >= cw or rest_y >= ch:
            return None
        return (x, y)


def default_cell_size(sweep: Sweep, z: int = 0) -> tuple[int, int]:
    """The largest picture any cell of grid `z` asks for (they differ only on a size axis)."""
    columns, rows, _ = sweep.shape
    sizes = [_requested_size(sweep, x, y, z) for y in range(rows) for x in range(columns)]
    return (max(w for w, _ in sizes), max(h for _, h in sizes))


def _requested_size(sweep: Sweep, x: int, y: int, z: int) -> tuple[int, int]:
    request = sweep.base
    for axis, index in ((sweep.x, x), (sweep.y, y), (sweep.z, z)):
        if axis is not None and axis.name == "size":
            return axis.values[index]  # type: ignore[return-value]
    return (request.width, request.height)


def grid_layout(sweep: Sweep, z: int = 0, cell_size: tuple[int, int] | None = None) -> GridLayout:
    """The layout compose_grid draws for grid `z` (also what a click on it maps through)."""
    cw, ch = cell_size or default_cell_size(sweep, z)
    if cw < 1 or ch < 1:
        raise ValueError(f"a grid cell must be at least 1x1 pixel (got {cw}x{ch})")
    columns, rows, _ = sweep.shape
    size = font_size_for((cw, ch))
    font, title_font = label_font(size), label_font(round(size * 1.25))
    pad = size // 2
    gap = max(2, size // 6)
    x_lines = max(len(wrap(sweep.x.label(i), font, cw - 2 * pad, LABEL_LINES)) for i in range(columns))
    x_band = x_lines * line_height(font) + 2 * pad
    left = 0
    if sweep.y is not None:
        # Wide enough for the longest label on one line, within a cell's width (and 8 characters).
        widest = max(_text_width(font, sweep.y.label(j)) for j in range(rows))
        left = min(widest + 2 * pad, max(cw, 8 * size)) + pad
    width = left + gap + columns * (cw + gap)
    title_lines = len(wrap(sweep.title(z), title_font, width - 2 * pad, TITLE_LINES))
    title_height = title_lines * line_height(title_font) + pad
    top = title_height + x_band
    height = top + gap + rows * (ch + gap)
    return GridLayout(columns, rows, (cw, ch), gap, left, top, title_height, width, height, size)


def font_size_for(cell_size: tuple[int, int]) -> int:
    """Label pixels for a cell: a twelfth of its shorter side, never under MIN_FONT."""
    return max(MIN_FONT, min(MAX_FONT, round(min(cell_size) / 12)))


def compose_grid(
    sweep: Sweep,
    z: int,
    images: Mapping[CellIndex, Image.Image],
    cell_size: tuple[int, int] | None = None,
) -> Image.Image:
    """Grid `z` of `sweep` as one RGB picture; `images` maps (x, y) to the cells that exist."""
    layout = grid_layout(sweep, z, cell_size)
    canvas = Image.new("RGB", (layout.width, layout.height), BACKGROUND)
    draw = ImageDraw.Draw(canvas)
    font = label_font(layout.font_size)
    title_font = label_font(round(layout.font_size * 1.25))
    pad = layout.font_size // 2
    cw, ch = layout.cell_size

    lines = wrap(sweep.title(z), title_font, layout.width - 2 * pad, TITLE_LINES)
    _draw_lines(draw, lines, title_font, layout.width / 2, pad // 2)
    for x in range(layout.columns):
        left, top, right, _ = layout.cell_box(x, 0)
        lines = wrap(sweep.x.label(x), font, cw - 2 * pad, LABEL_LINES)
        block = len(lines) * line_height(font)
        _draw_lines(draw, lines, font, (left + right) / 2, top - layout.gap - pad - block)
    for y in range(layout.rows):
        left, top, _, bottom = layout.cell_box(0, y)
        if sweep.y is not None:
            fit = max(1, min(LABEL_LINES * 2, ch // line_height(font)))
            lines = wrap(sweep.y.label(y), font, layout.left - 2 * pad, fit)
            block = len(lines) * line_height(font)
            _draw_lines(draw, lines, font, layout.left / 2, (top + bottom - block) / 2)
        for x in range(layout.columns):
            box = layout.cell_box(x, y)
            image = images.get((x, y))
            if image is None:
                _placeholder(draw, box)
            else:
                _paste(canvas, image, box)
    return canvas


def _paste(canvas: Image.Image, image: Image.Image, box: tuple[int, int, int, int]) -> None:
    """Centred in its cell; shrunk (aspect kept) only if larger, e.g. on a size axis."""
    left, top, right, bottom = box
    cw, ch = right - left, bottom - top
    picture = image.convert("RGB")
    if picture.width > cw or picture.height > ch:
        picture = ImageOps.contain(picture, (cw, ch), Image.Resampling.LANCZOS)
    canvas.paste(picture, (left + (cw - picture.width) // 2, top + (ch - picture.height) // 2))


def _placeholder(draw: ImageDraw.ImageDraw, box: tuple[int, int, int, int]) -> None:
    left, top, right, bottom = box
    draw.rectangle((left, top, right - 1, bottom - 1), fill=PLACEHOLDER)
    width = max(1, min(right - left, bottom - top) // 64)
    draw.line((left, top, right - 1, bottom - 1), fill=PLACEHOLDER_MARK, width=width)
    draw.line((left, bottom - 1, right - 1, top), fill=PLACEHOLDER_MARK, width=width)


def _draw_lines(draw: ImageDraw.ImageDraw, lines: list[str], font: Font, centre_x: float, top: float) -> None:
    step = line_height(font)
    for i, line in enumerate(lines):
        draw.text((centre_x, top + i * step), line, font=font, fill=INK, anchor="ma")


# ---- words -----------------------------------------------------------------------------------
def line_height(font: Font) -> int:
    left, top, right, bottom = font.getbbox("Ågjy|")
    return int(bottom - top) + max(2, int(bottom - top) // 5)


def _text_width(font: Font, text: str) -> int:
    return int(font.getlength(text) + 0.999)


def wrap(text: str, font: Font, width: int, max_lines: int) -> list[str]:
    """`text` in lines no wider than `width` pixels, at most `max_lines`, the last ending in "…"
    when some did not fit. Words longer than a line are broken between characters."""
    width = max(1, width)
    lines: list[str] = []
    current = ""
    for word in " ".join(text.split()).split(" "):
        candidate = f"{current} {word}" if current else word
        if _text_width(font, candidate) <= width:
            current = candidate
            continue
        if current:
            lines.append(current)
        current = ""
        while _text_width(font, word) > width:  # one word wider than a line
            cut = max(1, _fit(font, word, width))
            lines.append(word[:cut])
            word = word[cut:]
        current = word
    if current or not lines:
        lines.append(current)
    if len(lines) <= max_lines:
        return lines
    kept = lines[:max_lines]
    last = kept[-1]
    while last and _text_width(font, last + ELLIPSIS) > width:
        last = last[:-1]
    kept[-1] = last.rstrip() + ELLIPSIS
    return kept


def _fit(font: Font, text: str, width: int) -> int:
    """How many leading characters of `text` fit in `width` pixels."""
    low, high = 0, len(text)
    while low < high:
        middle = (low + high + 1) // 2
        if _text_width(font, text[:middle]) <= width:
            low = middle
        else:
            high = middle - 1
    return low
