"""Saving images with their parameters embedded where other tools look, and reading them back.

PNG: text chunks `parameters` (A1111 layout; tEXt, or iTXt when not Latin-1) and `studio` (the full
request JSON, without local paths: studio/core/shareable.py). JPEG and WebP: the parameters text in
EXIF UserComment as A1111 writes it (type UNDEFINED, "UNICODE\\0" then UTF-16 big-endian, the EXIF
block's byte order), and the request JSON in an XMP packet (studio/gallery/xmp.py). Every write is
atomic; a full disk or unwritable folder is one clear line.

Reading (`read_image_parameters`, `parameters_from_file`, `request_from_file`) lives in
studio/gallery/image_reader.py; the names are re-exported here for the callers that use them.
"""

from __future__ import annotations

import io
import re
import struct
import time
import unicodedata
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.core.atomic import atomic_write_bytes
from studio.core.metadata import (
    PARAMETERS_KEY,
    STUDIO_KEY,
    SWEEP_KEY,
    MetadataError,
    image_info,
    model_name,
)
from studio.gallery.db import GalleryError
from studio.gallery.files import png_bytes
from studio.gallery.image_reader import (
    parameters_from_file,
    read_image_parameters,
    request_from_file,
)
from studio.gallery.xmp import xmp_packet

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
MAX_NAME = 120  # characters before the suffix: leaves room for folders in Windows' 260-character paths
# Bytes of UTF-8 before the suffix: file systems allow 255 per name, and the name also gets a
# collision counter ("-12"), the suffix, and while written the temp-file wrapping (".NAME.xxxxxxxx.tmp").
MAX_NAME_BYTES = 200
# Windows' device names, whatever the extension or case ("nul.png", "Com1 .webp"); the
# superscript digits count as digits there, and CONIN$/CONOUT$ are devices too.
_WINDOWS_RESERVED = {"CON", "PRN", "AUX", "NUL", "CONIN$", "CONOUT$",
                     *(f"{port}{digit}" for port in ("COM", "LPT") for digit in "123456789¹²³")}
# Bidirectional controls can make "gpj.exe" read as "exe.jpg": never in a name Studio makes.
_BIDI_CONTROLS = re.compile("[\u200e\u200f\u202a-\u202e\u2066-\u2069]")
_FIELD = re.compile(r"\{(\w+)(?::(\d+))?\}")


class ExportError(GalleryError):
    """An export that could not be written; the message is one line an artist can act on."""


# ---- encoding --------------------------------------------------------------------------------
def user_comment(text: str) -> bytes:
    """EXIF UserComment bytes as A1111 (piexif) writes them: "UNICODE\\0" and UTF-16 big-endian,
    whatever the text (some readers read nothing after an "ASCII" prefix)."""
    return UNICODE_PREFIX + text.encode("utf-16-be")


def exif_block(comment: bytes) -> bytes:
    """A big-endian EXIF block holding only the UserComment, typed UNDEFINED as the EXIF standard
    says (Pillow would type raw bytes BYTE, which some readers refuse): IFD0 with a pointer to
    the Exif IFD, which has the one tag, whose value follows."""
    exif_ifd_at = 8 + 2 + 12 + 4  # header, IFD0 (count, one entry, next-IFD offset)
    value_at = exif_ifd_at + 2 + 12 + 4
    return (b"Exif\0\0MM\0\x2a" + struct.pack(">I", 8)
            + struct.pack(">HHHII", 1, EXIF_IFD, 4, 1, exif_ifd_at) + struct.pack(">I", 0)
            + struct.pack(">HHHII", 1, USER_COMMENT, 7, len(comment), value_at) + struct.pack(">I", 0)
            + comment)


def decode_user_comment(raw: bytes | str, big_endian: bool = True) -> str:
    """Text from an EXIF UserComment, whatever prefix and byte order the writer chose.
    MetadataError when the tag holds something else (a number or a list, in damaged files)."""
    if isinstance(raw, str):
        return raw
    if not isinstance(raw, bytes | bytearray):
        kind = "a number" if isinstance(raw, int | float) else f"{type(raw).__name__} data"
        raise MetadataError(f"its EXIF UserComment holds {kind}, not text")
    raw = bytes(raw)
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
                 fmt: str = "png", quality: int = 95, source_id: int | None = None) -> bytes:
    """The file bytes of `image` in `fmt` with the parameters embedded (`source_id`: the gallery
    picture the request's source image came from, if known)."""
    fmt = _format(fmt)
    text = image_info(request, info, source_id)
    try:
        if fmt == "png":
            return png_bytes(image, text)
        exif = exif_block(user_comment(text[PARAMETERS_KEY]))
        xmp = xmp_packet(text[STUDIO_KEY], text.get(SWEEP_KEY))
    except UnicodeEncodeError as exc:  # a lone surrogate (broken paste, undecodable argv): no encoding has it
        raise ExportError(f"the prompt or settings hold U+{ord(exc.object[exc.start]):04X}, half of a "
                          "UTF-16 character, which no file can store; retype or remove it") from None
    rgb = image.convert("RGB") if image.mode not in ("RGB", "L") else image
    buffer = io.BytesIO()
    try:
        if fmt == "jpg":
            rgb.save(buffer, format="JPEG", quality=quality, exif=exif, xmp=xmp)
        else:
            rgb.save(buffer, format="WEBP", quality=quality, exif=exif, xmp=xmp)
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
    no trailing dots/spaces, not a reserved Windows device name, at most MAX_NAME characters and
    MAX_NAME_BYTES bytes (cut at a word boundary where there is one), never empty."""
    name = unicodedata.normalize("NFC", name)
    name = _BIDI_CONTROLS.sub("", name)
    name = re.sub(r"\s+", " ", name)
    name = re.sub(r'[<>:"/\\|?*\x00-\x1f\x7f\ud800-\udfff]', "_", name)  # surrogates: no UTF-8 form
    name = re.sub(r"_{2,}", "_", name).strip(" ._")
    name = _shorten(name).rstrip(" .")
    if name.split(".")[0].rstrip(" ").upper() in _WINDOWS_RESERVED:
        name = f"_{name}"
    return name or "image"


def _shorten(name: str) -> str:
    """`name` within MAX_NAME characters and MAX_NAME_BYTES UTF-8 bytes: at the last space, dash or
    underscore when that keeps most of it, else at a character boundary (CJK has no spaces)."""
    if len(name) <= MAX_NAME and len(name.encode("utf-8")) <= MAX_NAME_BYTES:
        return name
    cut = name[:MAX_NAME].encode("utf-8")[:MAX_NAME_BYTES].decode("utf-8", "ignore")
    if name[len(cut):len(cut) + 1] in (" ", "_", "-"):
        return cut  # already ends at a word
    boundary = max(cut.rfind(" "), cut.rfind("_"), cut.rfind("-"))
    return cut[:boundary] if boundary >= len(cut) * 2 // 3 else cut


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
        return _cut_at_word(value, int(limit)) if limit else value

    return sanitize_filename(_FIELD.sub(fill, pattern))


def _cut_at_word(text: str, limit: int) -> str:
    """At most `limit` characters of `text`, ending at the end of a word: a cut inside a word goes
    back to where it started. Text that is one "word" (a script without spaces, a long token) is
    cut at a character."""
    if len(text) <= limit:
        return text
    start = limit
    while start > 0 and text[start - 1].isalnum() and text[start].isalnum():
        start -= 1
    return (text[:start] if text[:start].strip() else text[:limit]).rstrip()


def free_path(folder: Path, stem: str, suffix: str) -> Path:
    """folder/stem.suffix, or stem-2, stem-3... if that name is taken."""
    path = folder / f"{stem}{suffix}"
    n = 1
    try:
        while path.exists():
            n += 1
            path = folder / f"{stem}-{n}{suffix}"
    except OSError as exc:  # e.g. a name too long for this file system
        raise ExportError(f"could not write {path.name} to {folder}: {_reason(exc)}") from None
    return path


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


# ---- writing ---------------------------------------------------------------------------------
def write_file(path: Path, data: bytes) -> Path:
    """Atomic write with a one-line error for a full disk or a folder that cannot be written."""
    try:
        atomic_write_bytes(path, data)
    except OSError as exc:
        raise ExportError(f"could not write {path.name} to {path.parent}: {_reason(exc)}") from None
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
                 quality: int = 95, source_id: int | None = None) -> Path:
    """Write into `folder` under a name made from `pattern`; never overwrites an existing file."""
    fmt = _format(fmt)
    data = encode_image(image, request, info, fmt, quality, source_id)
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
        source = PILImage.open(record.path)
        source.load()
    except OSError as exc:  # only the reading: a failed write says so itself (write_file)
        raise ExportError(f"cannot read gallery image {record.id} ({exc.strerror or exc})") from None
    with source:
        return export_image(source, record.request, record.info, folder, fmt, pattern,
                            record.created, record.id, quality, record.parent_id)


# ---- reading: studio/gallery/image_reader.py, re-exported for the callers that import it here
__all__ = ["MetadataError", "parameters_from_file", "read_image_parameters", "request_from_file"]
