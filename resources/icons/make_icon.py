"""Draw Studio's app icon, resources/icons/studio.png (256 px): `python resources/icons/make_icon.py`.

A rounded square of night-blue with three flat shapes (a sun, a hill, a block), the kind of
picture the bundled model paints. Drawn at 4x and scaled down, for smooth edges.
"""

from __future__ import annotations

from pathlib import Path

from PIL import Image, ImageDraw

SIZE = 256
SCALE = 4


def draw_icon(size: int = SIZE) -> Image.Image:
    big = size * SCALE

    def px(value: float) -> int:
        return round(value * big / 256)

    # Vertical gradient, clipped to a rounded square.
    top, bottom = (44, 62, 120), (26, 30, 52)
    gradient = Image.new("RGB", (1, big))
    for y in range(big):
        t = y / (big - 1)
        gradient.putpixel((0, y), tuple(round(a + (b - a) * t) for a, b in zip(top, bottom, strict=True)))
    icon = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    mask = Image.new("L", (big, big), 0)
    ImageDraw.Draw(mask).rounded_rectangle((px(8), px(8), px(248), px(248)), radius=px(56), fill=255)
    icon.paste(gradient.resize((big, big)), (0, 0), mask)

    shapes = Image.new("RGBA", (big, big), (0, 0, 0, 0))
    draw = ImageDraw.Draw(shapes)
    draw.ellipse((px(138), px(46), px(206), px(114)), fill=(255, 138, 101))  # sun
    draw.polygon([(px(30), px(212)), (px(112), px(92)), (px(194), px(212))], fill=(122, 162, 247))  # hill
    draw.rounded_rectangle((px(150), px(148), px(222), px(212)), radius=px(8), fill=(255, 209, 102))  # block
    # Shapes stay inside the rounded square.
    icon.alpha_composite(Image.composite(shapes, Image.new("RGBA", (big, big)), mask))
    return icon.resize((size, size), Image.Resampling.LANCZOS)


if __name__ == "__main__":
    out = Path(__file__).with_name("studio.png")
    draw_icon().save(out, optimize=True)
    print(out)
