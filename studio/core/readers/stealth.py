""""Stealth pnginfo": parameters hidden in the least significant bits of the pixels (the A1111
stealth-pnginfo extension, and NovelAI, which writes its keys this way).

The bit stream runs down each column, left to right, most significant bit first: either one bit
per pixel from the alpha channel, or three (R, G, B) per pixel. It holds a 15-byte signature, a
32-bit big-endian count of the data's bits, then the data: gzip when the signature says "comp",
UTF-8 text when "info". A1111 hides its "parameters" text; NovelAI a JSON object of its PNG keys.
Reading the pixels is the caller's (studio/gallery/image_reader.py); this is the bytes.
"""

from __future__ import annotations

import json
import zlib

from studio.core.readers._common import MAX_TEXT_CHARS, MetadataError, maybe_json_object

SIGNATURES = {
    b"stealth_pnginfo": ("alpha", False),
    b"stealth_pngcomp": ("alpha", True),
    b"stealth_rgbinfo": ("rgb", False),
    b"stealth_rgbcomp": ("rgb", True),
}
SIGNATURE_BYTES = 15
HEADER_BYTES = SIGNATURE_BYTES + 4


def header(stream: bytes, channel: str) -> tuple[bool, int] | None:
    """(compressed, data length in bytes) when `stream` starts with a stealth header written in
    `channel` ("alpha" or "rgb"), else None."""
    if len(stream) < HEADER_BYTES:
        return None
    kind = SIGNATURES.get(stream[:SIGNATURE_BYTES])
    if kind is None or kind[0] != channel:
        return None
    bits = int.from_bytes(stream[SIGNATURE_BYTES:HEADER_BYTES], "big")
    return kind[1], (bits + 7) // 8


def decode(data: bytes, compressed: bool) -> dict[str, str]:
    """The text keys hidden in a stealth payload: NovelAI's JSON object of keys as they are,
    A1111's text as `parameters`. MetadataError (one line) for a damaged payload."""
    if compressed:
        inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # gzip
        try:
            raw = inflater.decompress(data, MAX_TEXT_CHARS * 4)
        except zlib.error:
            raise MetadataError("the parameters hidden in its pixels are damaged (bad gzip data)") from None
        if inflater.unconsumed_tail:
            raise MetadataError("the parameters hidden in its pixels are larger than Studio reads")
    else:
        raw = data
    text = raw.decode("utf-8", "replace")
    keys = maybe_json_object(text)
    if keys is not None:
        return {str(k): v if isinstance(v, str) else json.dumps(v) for k, v in keys.items()}
    return {"parameters": text}
