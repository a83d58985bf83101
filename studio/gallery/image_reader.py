"""Reading the generation parameters inside image files from anywhere, for import and `inspect`.

PNG: every text chunk (tEXt, zTXt, iTXt) wherever it sits in the file, found by walking the
chunk list, so text after the pixel data is read without decoding them. JPEG and WebP: the EXIF
UserComment as `parameters` (A1111, SwarmUI, Easy Diffusion JSON), Studio's JSON from XMP, a
Draw Things JSON from XMP, and ComfyUI/SwarmUI JSON in the EXIF Make/Model tags. When none of
that holds parameters, the pixels' low bits are tried for "stealth pnginfo" (A1111 extension
and NovelAI; studio/core/readers/stealth.py): only the columns the hidden text needs are looked at.

Everything here raises nothing but MetadataError naming the file, whatever the bytes.
"""

from __future__ import annotations

import io
import logging
import stat
import struct
import xml.etree.ElementTree as ET
import zlib
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.core.metadata import (
    MAX_TEXT_CHARS,
    MAX_TEXT_KEYS,
    PARAMETERS_KEY,
    STUDIO_KEY,
    SWEEP_KEY,
    MetadataError,
    one_line,
    parse_image_info,
    request_from_parameters,
)
from studio.core.readers import KNOWN_KEYS, XMP_COMMENT_KEY, stealth
from studio.gallery.sources import resolve_sources
from studio.gallery.xmp import SWEEP_PROPERTY, request_from_xmp

if TYPE_CHECKING:
    from studio.core.request import GenerationRequest

USER_COMMENT = 0x9286  # EXIF tag, in the Exif IFD
EXIF_IFD = 0x8769
EXIF_MAKE, EXIF_MODEL = 0x010F, 0x0110  # ComfyUI's WebP: "workflow:{...}" / "prompt:{...}"
# Hidden pixel text is only looked for in images up to this many pixels (4096 x 4096, Studio's
# largest), so a huge file cannot stall an import by being decoded.
MAX_DECODE_PIXELS = 4096 * 4096
# Up to this many pixels an image is decoded whole to look for hidden text; bigger ones are only
# decoded when their top rows hold the stealth signature.
QUICK_PIXELS = 1024 * 1024
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"
MAX_CHUNKS = 100_000
MAX_XMP_BYTES = 1_000_000
_TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")
_XMP_NAMES = ("{http://ns.adobe.com/exif/1.0/}UserComment", "{http://purl.org/dc/elements/1.1/}description")

log = logging.getLogger(__name__)


def read_image_parameters(path: Path) -> dict[str, str]:
    """The text keys of an image for import: PNG text chunks as they are, and for JPEG/WebP the
    EXIF UserComment as `parameters`. MetadataError naming the file, and nothing else, for a file
    that is missing, unreadable, not an image, damaged, or over Pillow's safety limits."""
    try:
        return _read_text_keys(Path(path))
    except MetadataError as exc:
        raise exc.for_file(path) from None
    except Exception as exc:  # a crafted file can make an image decoder raise almost anything
        log.debug("reading %s failed", path, exc_info=True)
        raise MetadataError(f"not an image Studio can read ({_describe(exc)})", path) from None


def parameters_from_file(path: Path) -> dict[str, Any]:
    """What Studio reads from an image file: `parse_image_info`'s fields, `source` and `tool`,
    plus the runnable, validated `request` and `missing`: one line per source image or mask the
    file names that is not on this machine (left out of the request; studio/gallery/sources.py).
    MetadataError naming the file, and nothing else, when there is none Studio can use."""
    found = read_file_fields(path)
    try:
        request = request_from_parameters(found)
        request, missing = resolve_sources(request, found.get("refs"))
        return {**found, "request": request_from_parameters({"request": request}), "missing": missing}
    except MetadataError as exc:
        raise exc.for_file(path) from None
    except Exception as exc:  # a parser bug must not crash an import; the tests fuzz for these
        log.warning("reading the parameters of %s failed", path, exc_info=True)
        raise MetadataError(f"its parameters could not be read ({_describe(exc)})", path) from None


def read_file_fields(path: Path) -> dict[str, Any]:
    """The fields the file's metadata holds, as read (no defaults filled in, nothing validated):
    what `studio inspect` shows. MetadataError naming the file when it holds none."""
    info = read_image_parameters(path)
    try:
        return parse_image_info(info)
    except MetadataError as exc:
        raise exc.for_file(path) from None
    except Exception as exc:
        log.warning("reading the parameters of %s failed", path, exc_info=True)
        raise MetadataError(f"its parameters could not be read ({_describe(exc)})", path) from None


def request_from_file(path: Path) -> GenerationRequest:
    """Import: the runnable request embedded in an image file (ours or another tool's).
    MetadataError (one line, naming the file) when the file has none Studio can use."""
    return parameters_from_file(path)["request"]


def _read_text_keys(path: Path) -> dict[str, str]:
    from PIL import Image as PILImage
    from PIL import UnidentifiedImageError

    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        raise MetadataError("there is no file at that path") from None
    except OSError as exc:
        raise MetadataError(f"it cannot be read ({_reason(exc)})") from None
    if not stat.S_ISREG(mode):  # a folder, or a pipe or device that could block forever
        raise MetadataError("it is not a regular file")
    try:
        image = PILImage.open(path)
    except UnidentifiedImageError:
        raise MetadataError("not an image Studio can read (unknown file format)") from None
    except PermissionError as exc:
        raise MetadataError(f"it cannot be read ({_reason(exc)})") from None
    except PILImage.DecompressionBombError as exc:
        raise MetadataError(f"it is too large to open safely ({_describe(exc)})") from None
    except ValueError as exc:
        if "MAX_TEXT" not in str(exc):
            raise
        # Pillow's own limits on PNG text (MAX_TEXT_CHUNK, MAX_TEXT_MEMORY): left as they are.
        raise MetadataError("its text chunks are larger than Pillow reads safely "
                            f"({_describe(exc)})") from None
    with image:
        out = {str(k): v for k, v in image.info.items() if isinstance(v, str)}
        out.update({str(k): v.decode("utf-8", "replace") for k, v in image.info.items()
                    if k in (PARAMETERS_KEY, "comment") and isinstance(v, bytes)})
        if image.format == "PNG":
            out.update(png_text_chunks(path))
        if PARAMETERS_KEY not in out and (image.format != "PNG" or "exif" in image.info):
            out.update(_exif_keys(image))
        xmp = image.info.get("xmp") or image.info.get("XML:com.adobe.xmp")
        if xmp:
            out.update(_xmp_keys(xmp))
        if not any(key in out for key in KNOWN_KEYS):
            out.update(_stealth_keys(image, path))
    for key in ("exif", "xmp", "XML:com.adobe.xmp", "icc_profile"):
        out.pop(key, None)
    if len(out) > MAX_TEXT_KEYS:
        raise MetadataError(f"it has {len(out)} text entries; Studio reads at most {MAX_TEXT_KEYS}")
    return out


def png_text_chunks(path: Path) -> dict[str, str]:
    """Every PNG text chunk, before or after the pixel data, by walking the chunk list (the pixel
    data is skipped, not decoded). Keys are Latin-1 (tEXt/zTXt) or UTF-8 (iTXt); compressed text
    is inflated up to MAX_TEXT_CHARS. A damaged chunk list ends the walk; what was read stays."""
    out: dict[str, str] = {}
    with open(path, "rb") as f:
        if f.read(8) != PNG_SIGNATURE:
            return out
        for _ in range(MAX_CHUNKS):
            head = f.read(8)
            if len(head) < 8:
                break
            length, kind = struct.unpack(">I4s", head)
            if kind == b"IEND":
                break
            if kind not in _TEXT_CHUNKS or length > 4 * MAX_TEXT_CHARS or len(out) >= MAX_TEXT_KEYS:
                f.seek(length + 4, 1)
                continue
            data = f.read(length)
            f.seek(4, 1)  # the CRC: a writer's damage there is no reason to drop the text
            if len(data) < length:
                break
            item = _text_chunk(kind, data)
            if item is not None:
                out[item[0]] = item[1]
    return out


def _text_chunk(kind: bytes, data: bytes) -> tuple[str, str] | None:
    key, sep, rest = data.partition(b"\0")
    if not sep or not key:
        return None
    if kind == b"tEXt":
        return key.decode("latin-1"), rest.decode("latin-1")
    if kind == b"zTXt":
        text = _inflate(rest[1:])
        return None if text is None else (key.decode("latin-1"), text.decode("latin-1"))
    # iTXt: compression flag, method, language\0, translated keyword\0, text
    if len(rest) < 2:
        return None
    flag, body = rest[0], rest[2:]
    parts = body.split(b"\0", 2)
    if len(parts) < 3:
        return None
    raw = _inflate(parts[2]) if flag else parts[2]
    return None if raw is None else (key.decode("latin-1"), raw.decode("utf-8", "replace"))


def _inflate(data: bytes) -> bytes | None:
    inflater = zlib.decompressobj()
    try:
        raw = inflater.decompress(data, MAX_TEXT_CHARS * 4)
    except zlib.error:
        return None
    return None if inflater.unconsumed_tail else raw


def _exif_keys(image: Any) -> dict[str, str]:
    """EXIF text: UserComment as `parameters`; ComfyUI's "prompt:{graph}" and SwarmUI's JSON in
    the Make/Model tags. {} when the EXIF block is missing or unreadable."""
    from studio.gallery.export import decode_user_comment

    out: dict[str, str] = {}
    try:
        exif = image.getexif()
        comment = exif.get_ifd(EXIF_IFD).get(USER_COMMENT)
        tags = [exif.get(EXIF_MAKE), exif.get(EXIF_MODEL)]
    except Exception:  # damaged EXIF is common in the wild: treat it as absent
        log.debug("no readable EXIF in %s", getattr(image, "filename", "?"), exc_info=True)
        return out
    if comment:
        text = decode_user_comment(comment, exif.endian != "<")
        if text.strip():
            out[PARAMETERS_KEY] = text
    for tag in tags:
        if isinstance(tag, bytes):
            tag = tag.decode("utf-8", "replace")
        if not isinstance(tag, str):
            continue
        name, sep, value = tag.partition(":")
        if sep and name in ("prompt", "workflow") and value.lstrip().startswith("{"):
            out[name] = value.rstrip("\0")
        elif "sui_image_params" in tag and PARAMETERS_KEY not in out:
            out[PARAMETERS_KEY] = tag.rstrip("\0")
    return out


def _xmp_keys(packet: Any) -> dict[str, str]:
    """Studio's request and a grid's sweep (studio:request/sweep), and a JSON object in the
    packet's exif:UserComment or dc:description (Draw Things) as XMP_COMMENT_KEY."""
    out: dict[str, str] = {}
    request_json = request_from_xmp(packet)
    if request_json:
        out[STUDIO_KEY] = request_json
    sweep_json = request_from_xmp(packet, SWEEP_PROPERTY)
    if sweep_json:
        out[SWEEP_KEY] = sweep_json
    if isinstance(packet, str):
        packet = packet.encode("utf-8", "replace")
    if not isinstance(packet, bytes | bytearray) or len(packet) > MAX_XMP_BYTES:
        return out
    if b"UserComment" not in packet and b"description" not in packet:
        return out
    try:
        root = ET.fromstring(bytes(packet))
    except (ET.ParseError, ValueError):
        return out
    for element in root.iter():
        if element.tag in _XMP_NAMES:
            text = "".join(element.itertext()).strip()  # the value may sit in rdf:Alt/rdf:li
            if text.startswith("{"):
                out[XMP_COMMENT_KEY] = text
                break
    return out


def _stealth_keys(image: Any, path: Path) -> dict[str, str]:
    """Text hidden in the pixels' low bits, or {} (also for images too big to decode cheaply).
    In a big image the signature is looked for in its top rows first, decoded alone: the whole
    picture is only decoded when the signature is there."""
    width, height = image.size
    if (image.format != "PNG" or width * height > MAX_DECODE_PIXELS or image.mode not in ("RGBA", "RGB")
            or not width or not height):
        return {}
    channels = ("alpha", "rgb") if image.mode == "RGBA" else ("rgb",)
    header_rows = stealth.HEADER_BYTES * 8  # the header runs down column 0 (a third of it for RGB)
    if width * height > QUICK_PIXELS and height >= header_rows:
        top = _top_rows(path, header_rows)
        if top is not None:
            with top:
                if not any(stealth.header(_low_bits(top, c, 0, stealth.HEADER_BYTES), c) for c in channels):
                    return {}
    try:
        image.load()
    except Exception:  # damaged pixel data: no hidden text to be had
        log.debug("decoding %s failed", getattr(image, "filename", "?"), exc_info=True)
        return {}
    channels = ("alpha", "rgb") if image.mode == "RGBA" else ("rgb",)
    for channel in channels:
        head = _low_bits(image, channel, 0, stealth.HEADER_BYTES)
        found = stealth.header(head, channel)
        if found is None:
            continue
        compressed, size = found
        data = _low_bits(image, channel, stealth.HEADER_BYTES, size)
        if len(data) < size:
            raise MetadataError("the parameters hidden in its pixels are cut short")
        return stealth.decode(data, compressed)
    return {}


def _top_rows(path: Path, rows: int) -> Any:
    """The top `rows` rows of an 8-bit RGB/RGBA, non-interlaced PNG as an image, by inflating only
    the start of its pixel data and handing Pillow a PNG of just those rows (it undoes the row
    filters). None for any other kind of PNG, or a damaged one."""
    from PIL import Image as PILImage

    with open(path, "rb") as f:
        if f.read(8) != PNG_SIGNATURE:
            return None
        header, raw, inflater, need = b"", b"", zlib.decompressobj(), 0
        for _ in range(MAX_CHUNKS):
            head = f.read(8)
            if len(head) < 8:
                return None
            length, kind = struct.unpack(">I4s", head)
            if kind == b"IHDR":
                header = f.read(length)
                f.seek(4, 1)
                if len(header) != 13 or header[8:10] not in (b"\x08\x02", b"\x08\x06") or header[12] != 0:
                    return None  # not 8-bit RGB/RGBA, or interlaced
                width = struct.unpack(">I", header[:4])[0]
                need = rows * (1 + width * (3 if header[9] == 2 else 4))
            elif kind == b"IDAT" and need:
                data = f.read(length)
                f.seek(4, 1)
                try:
                    raw += inflater.decompress(data, need - len(raw))
                    while inflater.unconsumed_tail and len(raw) < need:
                        raw += inflater.decompress(inflater.unconsumed_tail, need - len(raw))
                except zlib.error:
                    return None
                if len(raw) >= need:
                    break
            elif kind == b"IEND":
                return None
            else:
                f.seek(length + 4, 1)
        else:
            return None
    small = header[:4] + struct.pack(">I", rows) + header[8:]
    data = (PNG_SIGNATURE + _chunk(b"IHDR", small) + _chunk(b"IDAT", zlib.compress(raw[:need], 1))
            + _chunk(b"IEND", b""))
    try:
        top = PILImage.open(io.BytesIO(data))
        top.load()
    except Exception:  # damaged filter bytes and the like: no signature to be had
        return None
    return top


def _chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def _low_bits(image: Any, channel: str, start: int, count: int) -> bytes:
    """Bytes `start`..`start+count` of the low-bit stream (down each column, left to right),
    from only the columns that hold them."""
    import numpy as np

    width, height = image.size
    per_pixel = 1 if channel == "alpha" else 3
    bits_needed = (start + count) * 8
    columns = -(-bits_needed // (per_pixel * height))
    if columns > width:
        return b""
    pixels = np.asarray(image.crop((0, 0, columns, height)))  # (height, columns, bands)
    planes = pixels[:, :, 3:4] if channel == "alpha" else pixels[:, :, :3]
    bits = (planes.transpose(1, 0, 2) & 1).reshape(-1)[start * 8:bits_needed]
    return np.packbits(bits).tobytes()


def _reason(exc: OSError) -> str:
    return exc.strerror or str(exc) or type(exc).__name__


def _describe(exc: BaseException) -> str:
    text = one_line(exc, 160)
    return text if text else type(exc).__name__
