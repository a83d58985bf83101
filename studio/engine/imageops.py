"""Pixel work around inpainting, variations and outpainting: pure PIL/numpy, no torch.

Conventions: images are RGB, masks are 8-bit greyscale ("L") of the image's size, white = repaint.
The compositing rule that keeps the untouched part of a picture exact:

    result = source * (1 - m) + generated * m     (m = feathered mask in 0..1)

computed in integers so that m == 0 gives the source byte for byte and m == 1 the generated pixel.
Feathering is a box blur whose reach is finite, so m is exactly 0 beyond the feather band: whatever
the model (or the VAE round trip) did there, those pixels come back unchanged.
"""

from __future__ import annotations

import hashlib
import io
import math
from pathlib import Path

import numpy as np
from PIL import Image, ImageFilter, ImageOps, UnidentifiedImageError

from studio.core.atomic import atomic_write_bytes
from studio.core.paths import subdir
from studio.core.request import MAX_SIZE
from studio.engine.jobs import UserError

Box = tuple[int, int, int, int]  # left, top, right, bottom (right/bottom exclusive), as PIL uses

MIN_IMAGE_SIDE = 8
ASPECT_TOLERANCE = 0.01  # a mask this close to the image's aspect ratio is scaled, not refused
OUTPAINT_OVERLAP = 16  # px of the old picture the outpaint mask reaches into, to hide the seam


# ---- loading and validation ------------------------------------------------------------------
def load_image(path: str | Path) -> Image.Image:
    """Open a source picture as RGB (EXIF rotation applied); UserError in one line if it can't be."""
    path = Path(path)
    image = _open(path, "image")
    image = ImageOps.exif_transpose(image)
    if min(image.size) < MIN_IMAGE_SIDE:
        raise UserError(f"the image {path.name} is too small ({_dims(image.size)}): use at least {MIN_IMAGE_SIDE} px a side")
    if max(image.size) > MAX_SIZE:
        raise UserError(f"the image {path.name} is too large ({_dims(image.size)}): use at most {MAX_SIZE} px a side")
    return image.convert("RGB")


def load_mask(path: str | Path, size: tuple[int, int]) -> tuple[Image.Image, str | None]:
    """Open a mask for an image of `size`: returns (mask "L", warning or None).

    A mask of the same aspect ratio but another size (painted on a scaled copy) is scaled to fit,
    with a warning; a different aspect ratio is refused, naming both sizes, since stretching it
    would repaint a different place than the one painted.
    """
    path = Path(path)
    mask = mask_from_picture(_open(path, "mask"))
    if mask.size == tuple(size):
        return mask, None
    (mw, mh), (iw, ih) = mask.size, size
    if abs(mw / mh - iw / ih) > ASPECT_TOLERANCE * (iw / ih):
        raise UserError(
            f"the mask is {_dims(mask.size)} but the image is {_dims(size)}: "
            "paint the mask on the same picture (same size)"
        )
    scaled = mask.resize(tuple(size), Image.Resampling.BILINEAR)
    return scaled, f"the mask was {_dims(mask.size)}; scaled it to the image's {_dims(size)}"


def mask_from_picture(picture: Image.Image) -> Image.Image:
    """Greyscale mask from any PNG: luminance, or the alpha channel when the colour is uniform
    (a brush layer saved as transparent paint)."""
    if picture.mode in ("RGBA", "LA", "PA") or (picture.mode == "P" and "transparency" in picture.info):
        rgba = picture.convert("RGBA")
        alpha = rgba.getchannel("A")
        grey = rgba.convert("L")
        low, high = grey.getextrema()
        if low == high:
            return alpha
        return Image.fromarray(_mul255(np.asarray(grey), np.asarray(alpha)))
    return picture.convert("L")


def coverage(mask: Image.Image) -> str:
    """"empty" (nothing painted), "full" (everything white) or "partial"."""
    low, high = mask.getextrema()
    if high == 0:
        return "empty"
    if low == 255:
        return "full"
    return "partial"


def _open(path: Path, what: str) -> Image.Image:
    try:
        image = Image.open(path)
        image.load()
    except FileNotFoundError:
        raise UserError(f"cannot find the {what} file {path}") from None
    except IsADirectoryError:
        raise UserError(f"the {what} path {path} is a folder, not a picture") from None
    except UnidentifiedImageError:
        raise UserError(f"cannot read the {what} file {path.name}: not a picture (use PNG, JPEG or WebP)") from None
    except (OSError, ValueError, Image.DecompressionBombError) as exc:
        raise UserError(f"cannot read the {what} file {path.name}: {_first_line(exc)}") from None
    return image


# ---- masks -------------------------------------------------------------------------------------
def feather_reach(feather: int) -> int:
    """How far (px, in x and y) the feathered mask can reach beyond the painted area."""
    return 2 * math.ceil(max(0, feather) / 4)


def feather_mask(mask: Image.Image, feather: int) -> Image.Image:
    """Soften the mask edge over a band about `feather` px wide, centred on the edge.

    Two box blurs of radius feather/4 make a smooth ramp; a box blur of zeros is exactly zero, so
    the result is 0 everywhere farther than feather_reach(feather) from a painted pixel. Only the
    painted area plus that reach is blurred (the rest stays 0), so small masks on big pictures
    cost little.
    """
    if feather <= 0:
        return mask.copy()
    box = bounding_box(mask, feather_reach(feather) + 1)
    if box is None:
        return mask.copy()
    radius = feather / 4
    part = mask.crop(box).filter(ImageFilter.BoxBlur(radius)).filter(ImageFilter.BoxBlur(radius))
    out = Image.new("L", mask.size, 0)
    out.paste(part, box[:2])
    return out


def bounding_box(mask: Image.Image, padding: int = 0) -> Box | None:
    """The box around every non-zero mask pixel, grown by `padding` and kept inside the image."""
    box = mask.getbbox()
    if box is None:
        return None
    left, top, right, bottom = box
    width, height = mask.size
    return (max(0, left - padding), max(0, top - padding), min(width, right + padding), min(height, bottom + padding))


def working_size(crop: tuple[int, int], area: int, multiple: int = 8) -> tuple[int, int]:
    """Scale a crop to about `area` pixels, keeping its aspect, each side a multiple of 8."""
    width, height = crop
    scale = math.sqrt(area / (width * height))

    def side(value: float) -> int:
        rounded = max(multiple, int(round(value / multiple)) * multiple)
        return min(rounded, MAX_SIZE // multiple * multiple)

    return side(width * scale), side(height * scale)


# ---- compositing -------------------------------------------------------------------------------
def composite(source: Image.Image, generated: Image.Image, mask: Image.Image) -> Image.Image:
    """source * (1 - m) + generated * m, in integers: exact source where m == 0."""
    if not source.size == generated.size == mask.size:
        raise ValueError(f"sizes differ: source {source.size}, generated {generated.size}, mask {mask.size}")
    out = source.convert("RGB")
    out = out.copy() if out is source else out
    box = mask.getbbox()  # outside it m == 0: the source as it is
    if box is None:
        return out
    src = np.asarray(out.crop(box), dtype=np.uint16)
    gen = np.asarray(generated.convert("RGB").crop(box), dtype=np.uint16)
    m = np.asarray(mask.convert("L").crop(box), dtype=np.uint16)[..., None]
    # At most 255 * 255 + 127 = 65152: fits in 16 bits.
    blended = (src * (255 - m) + gen * m + 127) // 255
    out.paste(Image.fromarray(blended.astype(np.uint8), "RGB"), box[:2])
    return out


def paste_back(source: Image.Image, generated: Image.Image, box: Box, mask: Image.Image) -> Image.Image:
    """Scale a generated crop back into `box` of the source and blend it in through the mask."""
    size = (box[2] - box[0], box[3] - box[1])
    if generated.size != size:
        generated = generated.resize(size, Image.Resampling.LANCZOS)
    full = source.convert("RGB").copy()
    full.paste(generated.convert("RGB"), box[:2])
    return composite(source, full, mask)


def pad_to_multiple(image: Image.Image, multiple: int = 8) -> Image.Image:
    """Grow to the next multiple of `multiple` by repeating the edge pixels (no resampling)."""
    width, height = image.size
    pad_w, pad_h = -width % multiple, -height % multiple
    if not pad_w and not pad_h:
        return image
    array = np.asarray(image)
    pads = ((0, pad_h), (0, pad_w)) + ((0, 0),) * (array.ndim - 2)
    return Image.fromarray(np.pad(array, pads, mode="edge"), image.mode)


# ---- outpainting -------------------------------------------------------------------------------
def parse_margins(text: str) -> tuple[int, int, int, int]:
    """"LEFT,TOP,RIGHT,BOTTOM" in px (one number means all four sides) -> a tuple; ValueError if bad."""
    parts = [p.strip() for p in text.split(",")]
    if len(parts) == 1:
        parts *= 4
    if len(parts) != 4:
        raise ValueError(f"outpaint needs LEFT,TOP,RIGHT,BOTTOM in px (got {text!r})")
    try:
        margins = tuple(int(p) for p in parts)
    except ValueError:
        raise ValueError(f"outpaint margins must be whole numbers of px (got {text!r})") from None
    if any(m < 0 for m in margins) or not any(margins):
        raise ValueError(f"outpaint margins must be >= 0 and at least one > 0 (got {text!r})")
    return margins  # type: ignore[return-value]


def outpaint_canvas(
    image: Image.Image, margins: tuple[int, int, int, int], overlap: int = OUTPAINT_OVERLAP
) -> tuple[Image.Image, Image.Image]:
    """Extend the canvas by (left, top, right, bottom) px: returns (bigger image, mask).

    The new area is filled with the stretched, blurred edge of the picture so the model continues
    its colours rather than starting from a flat fill; the old pixels are copied unchanged. The mask
    is white over the new area and `overlap` px into the old picture on the extended sides.
    """
    left, top, right, bottom = margins
    if min(margins) < 0:
        raise UserError("outpaint margins cannot be negative")
    src = image.convert("RGB")
    width, height = src.size
    new_w, new_h = width + left + right, height + top + bottom
    if max(new_w, new_h) > MAX_SIZE:
        raise UserError(f"the extended canvas would be {_dims((new_w, new_h))}: at most {MAX_SIZE} px a side")
    array = np.pad(np.asarray(src), ((top, bottom), (left, right), (0, 0)), mode="edge")
    stretched = Image.fromarray(array, "RGB")
    blur = max(2, max(margins) // 4)
    blurred = stretched.filter(ImageFilter.GaussianBlur(blur))
    canvas = blurred.copy()
    canvas.paste(src, (left, top))  # the old pixels, exactly

    mask = Image.new("L", (new_w, new_h), 255)
    keep = (
        left + (overlap if left else 0),
        top + (overlap if top else 0),
        left + width - (overlap if right else 0),
        top + height - (overlap if bottom else 0),
    )
    if keep[0] < keep[2] and keep[1] < keep[3]:
        mask.paste(0, keep)
    return canvas, mask


# ---- inputs folder -----------------------------------------------------------------------------
def save_input(image: Image.Image, kind: str) -> Path:
    """Write a PNG into STUDIO_HOME/inputs named by content hash (same pixels, same file); atomic."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    data = buffer.getvalue()
    digest = hashlib.sha256(data).hexdigest()[:20]
    path = subdir("inputs") / f"{kind}-{digest}.png"
    if not path.exists():
        atomic_write_bytes(path, data)
    return path


# ---- helpers -----------------------------------------------------------------------------------
def _mul255(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return ((a.astype(np.uint32) * b + 127) // 255).astype(np.uint8)


def _dims(size: tuple[int, int]) -> str:
    return f"{size[0]}×{size[1]}"


def _first_line(exc: BaseException) -> str:
    lines = str(exc).strip().splitlines()
    return lines[0] if lines else type(exc).__name__
