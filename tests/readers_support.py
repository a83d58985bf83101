"""Image files in other tools' metadata layouts, made in code for the reader tests: PNG text
chunks (before or after the pixel data), EXIF UserComment in JPEG/WebP, XMP, and "stealth
pnginfo" (text in the pixels' low bits). Byte layouts from the formats' documentation."""

from __future__ import annotations

import gzip
import json
import struct
import zlib
from pathlib import Path

import numpy as np
from PIL import Image

from studio.gallery.export import exif_block, user_comment


def chunk(kind: bytes, body: bytes) -> bytes:
    return struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body))


def text_chunk(key: str, value: str, kind: str = "tEXt") -> bytes:
    if kind == "tEXt":
        return chunk(b"tEXt", key.encode("latin-1") + b"\0" + value.encode("latin-1"))
    if kind == "zTXt":
        return chunk(b"zTXt", key.encode("latin-1") + b"\0\0" + zlib.compress(value.encode("latin-1")))
    # iTXt, compressed: flag 1, method 0, no language, no translated keyword
    return chunk(b"iTXt", key.encode("latin-1") + b"\0\x01\x00\0\0" + zlib.compress(value.encode("utf-8")))


def png(path: Path, keys: dict[str, str], *, after: bool = False, kind: str = "tEXt",
        size: tuple[int, int] = (8, 8)) -> Path:
    """An RGB PNG holding `keys` as text chunks, before the pixel data or (after=True) behind it."""
    width, height = size
    rows = b"".join(b"\0" + b"\x40\x80\xc0" * width for _ in range(height))
    texts = b"".join(text_chunk(k, v, kind) for k, v in keys.items())
    header = chunk(b"IHDR", struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0))
    data = chunk(b"IDAT", zlib.compress(rows))
    body = header + data + texts if after else header + texts + data
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + body + chunk(b"IEND", b""))
    return path


def exif_image(path: Path, comment: str, fmt: str = "JPEG", xmp: bytes | None = None) -> Path:
    """A JPEG or WebP with `comment` in EXIF UserComment (UNICODE prefix, UTF-16BE: piexif's way)."""
    extra = {"xmp": xmp} if xmp is not None else {}
    Image.new("RGB", (8, 8), (40, 80, 120)).save(path, format=fmt, exif=exif_block(user_comment(comment)), **extra)
    return path


def xmp_user_comment(value: str) -> bytes:
    """An XMP packet with `value` in exif:UserComment, inside rdf:Alt/rdf:li as Draw Things writes."""
    escaped = value.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return (
        '<x:xmpmeta xmlns:x="adobe:ns:meta/"><rdf:RDF xmlns:rdf="http://www.w3.org/1999/02/22-rdf-syntax-ns#">'
        '<rdf:Description rdf:about="" xmlns:exif="http://ns.adobe.com/exif/1.0/">'
        f'<exif:UserComment><rdf:Alt><rdf:li xml:lang="x-default">{escaped}</rdf:li></rdf:Alt></exif:UserComment>'
        "</rdf:Description></rdf:RDF></x:xmpmeta>"
    ).encode()


def stealth_png(path: Path, payload: str | dict, *, channel: str = "alpha", compressed: bool = True,
                size: tuple[int, int] = (64, 64)) -> Path:
    """A PNG with `payload` hidden in the low bits: down each column, left to right, alpha (one bit
    a pixel) or R, G, B (three); signature, 32-bit bit count, then the data (gzip if compressed)."""
    text = json.dumps(payload) if isinstance(payload, dict) else payload
    data = gzip.compress(text.encode()) if compressed else text.encode()
    signature = f"stealth_{'png' if channel == 'alpha' else 'rgb'}{'comp' if compressed else 'info'}".encode()
    stream = signature + struct.pack(">I", len(data) * 8) + data
    bits = np.unpackbits(np.frombuffer(stream, dtype=np.uint8))
    width, height = size
    rng = np.random.default_rng(5)
    pixels = rng.integers(0, 256, (height, width, 4), dtype=np.uint8)
    pixels[:, :, 3] = 255
    by_column = pixels.transpose(1, 0, 2)  # a view: (width, height, 4), column-major order
    if channel == "alpha":
        plane = by_column[:, :, 3].reshape(-1)
        assert len(bits) <= plane.size, "payload too big for the image"
        plane[: len(bits)] = (plane[: len(bits)] & 0xFE) | bits
        by_column[:, :, 3] = plane.reshape(width, height)
        mode, out = "RGBA", pixels
    else:
        plane = by_column[:, :, :3].reshape(-1)
        assert len(bits) <= plane.size, "payload too big for the image"
        plane[: len(bits)] = (plane[: len(bits)] & 0xFE) | bits
        by_column[:, :, :3] = plane.reshape(width, height, 3)
        mode, out = "RGB", pixels[:, :, :3]
    Image.fromarray(np.ascontiguousarray(out)).convert(mode).save(path, format="PNG")
    return path
