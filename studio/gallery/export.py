"""Saving images with their parameters embedded where other tools look, and reading them back.

PNG: text chunks `parameters` (A1111 layout; tEXt, or iTXt when not Latin-1) and `studio` (the full
request JSON). JPEG and WebP: the parameters text in EXIF UserComment, whose 8-byte prefix names the
encoding ("ASCII\\0\\0\\0", or "UNICODE\\0" + UTF-16 in the EXIF byte order, big-endian as Pillow
and A1111 write it). Every write is atomic; a full disk or unwritable folder is one clear line.
"""

from __future__ import annotations

import io
import re
import time
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.core.atomic import atomic_write_bytes
from studio.core.metadata import PARAMETERS_KEY, MetadataError, image_info, model_name
from studio.gallery.db import GalleryError
from studio.gallery.files import png_bytes

if TYPE_CHECKING:
    from PIL.Image import Image

    from studio.core.request import GenerationRequest
    from studio.gallery.store import Gallery, Record

FORMATS = {"png": ".png", "jpg": ".jpg", "jpeg": ".jpg", "webp": ".webp"}
DEFAULT_PATTERN = "{date}_{seed}_{prompt:40}"
USER_COMMENT = 0x9286  # EXIF tag, in the Exif IFD
EXIF_IFD = 0x8769
ASCII_PREFIX = b"ASCII\0\0\0"
UNICODE_PREFIX = b"UNICODE\0"
MAX_NAME = 120  # characters before the suffix: fits every OS with room for folders

_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", *(f"COM{i}" for i in range(1, 10)),
                     *(f"LPT{i}" for i in range(1, 10))}
_FIELD = re.compile(r"\{(\w+)(?::(\d+))?\}")


class ExportError(GalleryError):
    """An export that could not be written; the message is one line an artist can act on."""


# ---- encoding --------------------------------------------------------------------------------
def user_comment(text: str) -> bytes:
    """EXIF UserComment bytes: ASCII when it fits, else UTF-16 big-endian (Pillow writes "MM")."""
    if text.isascii():
        return ASCII_PREFIX + text.encode("ascii")
    return UNICODE_PREFIX + text.encode("utf-16-be")


def decode_user_comment(raw: bytes | str, big_endian: bool = True) -> str:
    """Text from an EXIF UserComment, whatever prefix and byte order the writer chose."""
    if isinstance(raw, str):
        return raw
    prefix, body = raw[:8], raw[8:]
    if prefix == UNICODE_PREFIX:
        if body[:2] in (b"\xfe\xff", b"\xff\xfe"):
            return body.decode("utf-16", "replace")
        first, second = ("utf-16-be", "utf-16-le") if big_endian else ("utf-16-le", "utf-16-be")
        candidates = [body.decode(first, "replace"), body.decode(second, "replace")]
        # Writers disagree on byte order; the right reading is the one that looks like text.
        return max(candidates, key=lambda s: sum(ch.isascii() for ch in s))
    if prefix in (ASCII_PREFIX, b"\0" * 8, b"JIS\0\0\0\0\0"):
        return body.decode("utf-8", "replace").rstrip("\0")
    return raw.decode("utf-8", "replace").rstrip("\0")


def encode_image(image: Image, request: GenerationRequest, info: dict[str, Any] | None,
                 fmt: str = "png", quality: int = 95) -> bytes:
    """The file bytes of `image` in `fmt` with the parameters embedded."""
    fmt = _format(fmt)
    text = image_info(request, info)
    if fmt == "png":
        return png_bytes(image, text)
    from PIL import Image as PILImage

    exif = PILImage.Exif()
    exif.get_ifd(EXIF_IFD)[USER_COMMENT] = user_comment(text[PARAMETERS_KEY])
    rgb = image.convert("RGB") if image.mode not in ("RGB", "L") else image
    buffer = io.BytesIO()
    try:
        if fmt == "jpg":
            rgb.save(buffer, format="JPEG", quality=quality, exif=exif.tobytes())
        else:
            rgb.save(buffer, format="WEBP", quality=quality, exif=exif.tobytes())
    except ValueError as exc:  # e.g. EXIF over the 64 kB a JPEG segment can hold
        raise ExportError(f"could not embed the parameters in a {fmt.upper()} file ({exc})") from None
    return buffer.getvalue()


def _format(fmt: str) -> str:
    key = fmt.lower().lstrip(".")
    if key not in FORMATS:
        raise ExportError(f"unknown image format {fmt!r}; choose png, jpg or webp")
    return "jpg" if key == "jpeg" else key


# ---- file names ------------------------------------------------------------------------------
def sanitize_filename(name: str) -> str:
    """A file name every OS accepts: no path separators, reserved characters or control codes,
    no trailing dots/spaces, not a reserved Windows device name, not too long, never empty."""
    name = unicodedata.normalize("NFC", name)
    name = re.sub(r"\s+", " ", name)
    name = re.sub(r'[<>:"/\\|?*\x00-\x1f\x7f]', "_", name)
    name = re.sub(r"_{2,}", "_", name).strip(" ._")
    name = name[:MAX_NAME].rstrip(" .")
    if name.split(".")[0].upper() in _WINDOWS_RESERVED:
        name = f"_{name}"
    return name or "image"


def render_filename(pattern: str, request: GenerationRequest, created: float | None = None,
                    record_id: int | None = None, info: dict[str, Any] | None = None) -> str:
    """Fill a pattern like "{date}_{seed}_{prompt:40}" (":N" keeps the first N characters).
    Fields: date, time, id, seed, prompt, negative, steps, cfg, width, height, scheduler, model, mode."""
    when = datetime.fromtimestamp(time.time() if created is None else created)
    fields = {
        "date": f"{when:%Y%m%d-%H%M%S}", "time": f"{when:%H%M%S}",
        "id": "" if record_id is None else str(record_id), "seed": str(request.seed),
        "prompt": " ".join(request.prompt.split()), "negative": " ".join(request.negative_prompt.split()),
        "steps": str(request.steps), "cfg": f"{request.guidance_scale:g}", "width": str(request.width),
        "height": str(request.height), "scheduler": request.scheduler,
        "model": model_name(request, info), "mode": request.mode,
    }

    def fill(match: re.Match[str]) -> str:
        key, limit = match.group(1), match.group(2)
        if key not in fields:
            raise ExportError(f"unknown field {{{key}}} in the file-name pattern; use {', '.join(fields)}")
        value = fields[key]
        return value[: int(limit)].rstrip() if limit else value

    return sanitize_filename(_FIELD.sub(fill, pattern))


def free_path(folder: Path, stem: str, suffix: str) -> Path:
    """folder/stem.suffix, or stem-2, stem-3... if that name is taken."""
    path = folder / f"{stem}{suffix}"
    n = 1
    while path.exists():
        n += 1
        path = folder / f"{stem}-{n}{suffix}"
    return path


# ---- writing ---------------------------------------------------------------------------------
def write_file(path: Path, data: bytes) -> Path:
    """Atomic write with a one-line error for a full disk or a folder that cannot be written."""
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        reason = exc.strerror or str(exc) or type(exc).__name__
        raise ExportError(f"could not write {path.name} to {path.parent}: {reason}") from None
    return path


def save_with_parameters(image: Image, request: GenerationRequest, info: dict[str, Any] | None,
                         path: Path, quality: int = 95) -> Path:
    """Save to exactly `path` (format from its suffix, PNG when unknown), parameters embedded."""
    path = Path(path)
    suffix = path.suffix.lower().lstrip(".")
    fmt = suffix if suffix in FORMATS else "png"
    return write_file(path, encode_image(image, request, info, fmt, quality))


def export_image(image: Image, request: GenerationRequest, info: dict[str, Any] | None,
                 folder: Path, fmt: str = "png", pattern: str = DEFAULT_PATTERN,
                 created: float | None = None, record_id: int | None = None,
                 quality: int = 95) -> Path:
    """Write into `folder` under a name made from `pattern`; never overwrites an existing file."""
    fmt = _format(fmt)
    data = encode_image(image, request, info, fmt, quality)
    stem = render_filename(pattern, request, created, record_id, info)
    folder = Path(folder)
    if folder.exists() and not folder.is_dir():
        raise ExportError(f"cannot export into {folder}: it is a file, not a folder")
    return write_file(free_path(folder, stem, FORMATS[fmt]), data)


def export_record(gallery: Gallery, record: Record | int, folder: Path, fmt: str = "png",
                  pattern: str = DEFAULT_PATTERN, quality: int = 95) -> Path:
    """Export one gallery entry (the gallery's own file is only read)."""
    from PIL import Image as PILImage

    if isinstance(record, int):
        record = gallery.get(record)
    try:
        with PILImage.open(record.path) as source:
            source.load()
            return export_image(source, record.request, record.info, folder, fmt, pattern,
                                record.created, record.id, quality)
    except OSError as exc:
        raise ExportError(f"cannot read gallery image {record.id} ({exc.strerror or exc})") from None


# ---- reading ---------------------------------------------------------------------------------
def read_image_parameters(path: Path) -> dict[str, str]:
    """The text keys of an image for import: PNG text chunks as they are, and for JPEG/WebP the
    EXIF UserComment as `parameters`. MetadataError (one line) for a file that is not an image."""
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        with PILImage.open(path) as image:
            out = {str(k): v for k, v in image.info.items() if isinstance(v, str)}
            out.update({str(k): v.decode("utf-8", "replace")
                        for k, v in image.info.items() if k in (PARAMETERS_KEY, "comment")
                        and isinstance(v, bytes)})
            exif = image.getexif()
            comment = exif.get_ifd(EXIF_IFD).get(USER_COMMENT)
            if comment and PARAMETERS_KEY not in out:
                out[PARAMETERS_KEY] = decode_user_comment(comment, exif.endian != "<")
    except FileNotFoundError:
        raise MetadataError(f"there is no file {path}") from None
    except (UnidentifiedImageError, OSError, SyntaxError) as exc:
        raise MetadataError(f"{Path(path).name} is not an image Studio can read ({exc})") from None
    out.pop("exif", None)
    return out


def request_from_file(path: Path) -> GenerationRequest:
    """Import: the runnable request embedded in an image file (ours or another tool's).
    MetadataError (one line) when the file has none Studio can use."""
    from studio.core.metadata import request_from_image_info

    return request_from_image_info(read_image_parameters(path))
