"""A deterministic mutator for the import fuzz corpus (tests/fuzz/): from each small seed image it
derives damaged variants, the same ones on every run. Used by tests/test_metadata_hardening.py
and benchmarks/bench_parse.py.

Most mutations are structure-aware, so that they reach the metadata parsers instead of stopping
at the first bad checksum: PNG text chunks are rewritten with mutated text and a correct CRC,
JSON gets values of the wrong type and deep nesting, the A1111 line gets the patterns that made
the old reader backtrack. The rest are plain byte damage (flips, cuts, splices).
"""

from __future__ import annotations

import json
import random
import struct
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

CORPUS = Path(__file__).resolve().parent / "fuzz"
SEED_SUFFIXES = (".png", ".jpg", ".webp")
PNG_MAGIC = b"\x89PNG\r\n\x1a\n"
TEXT_CHUNKS = (b"tEXt", b"zTXt", b"iTXt")

# Values of every JSON type, including the ones the audit found crashing the reader.
ODD_VALUES: list[Any] = [
    True, False, None, 0, -1, 1.5, 2**64, 10**30, "5", "", "x" * 300, "\x00", [], {}, [1, 2],
    ["6", 0], {"a": [1]}, "Steps: 5", float("nan"), float("inf"), "夕暮れ", ["a", 0.5],
]
ODD_SNIPPETS = [
    " " * 3000, "\t" * 500, '"', '\\' * 999, '"' + "\\\"" * 500, ":" * 500, "," * 500, "\n",
    "Negative prompt:", "Steps: 1e999, ", "Size: 99999999999x1, ", "Seed: -1, ", "(" * 2000,
    "A" + " " * 2000 + "B", "Key: value, " * 300, "\x00", "\u202e", "ǅ" * 50, "CFG scale: nan, ",
    '{"a": ' * 400, "[" * 5000, "Seed: " + "9" * 5000 + ", ", "×", "Size: 512×512, ",
]


def seed_files() -> list[Path]:
    return sorted(p for p in CORPUS.iterdir() if p.suffix in SEED_SUFFIXES)


def mutated_files(folder: Path, count: int, start: int = 0) -> Iterator[Path]:
    """Write `count` mutated files into `folder`, cycling through the seeds; the same files for
    the same (start, count) on every run."""
    seeds = [(p, p.read_bytes()) for p in seed_files()]
    for index in range(start, start + count):
        seed_path, data = seeds[index % len(seeds)]
        rng = random.Random(f"{seed_path.name}:{index}")
        path = folder / f"{index:05d}_{seed_path.stem}{seed_path.suffix}"
        path.write_bytes(mutate(data, rng))
        yield path


def mutate(data: bytes, rng: random.Random) -> bytes:
    if data.startswith(PNG_MAGIC) and rng.random() < 0.8:
        return _mutate_png(data, rng)
    if rng.random() < 0.5:
        return _mutate_embedded_text(data, rng)
    return _mutate_bytes(data, rng)


# ---- PNG: rewrite chunks, keep the checksums right ------------------------------------------
def _chunks(data: bytes) -> list[tuple[bytes, bytes]]:
    chunks, pos = [], len(PNG_MAGIC)
    while pos + 8 <= len(data):
        length, kind = struct.unpack(">I4s", data[pos:pos + 8])
        chunks.append((kind, data[pos + 8:pos + 8 + length]))
        pos += 12 + length
    return chunks


def _pack(chunks: list[tuple[bytes, bytes]]) -> bytes:
    out = [PNG_MAGIC]
    for kind, body in chunks:
        out.append(struct.pack(">I", len(body)) + kind + body + struct.pack(">I", zlib.crc32(kind + body)))
    return b"".join(out)


def _mutate_png(data: bytes, rng: random.Random) -> bytes:
    chunks = _chunks(data)
    texts = [i for i, (kind, _) in enumerate(chunks) if kind in TEXT_CHUNKS]
    roll = rng.random()
    if texts and roll < 0.7:
        for i in rng.sample(texts, rng.randint(1, len(texts))):
            chunks[i] = _mutate_text_chunk(*chunks[i], rng)
    elif roll < 0.8 and texts:  # move a text chunk after the pixels, or duplicate it
        i = rng.choice(texts)
        chunk = chunks.pop(i) if rng.random() < 0.5 else chunks[i]
        chunks.insert(len(chunks) - 1, chunk)
    elif roll < 0.9:  # a header that claims another size, colour type or depth
        kind, body = chunks[0]
        width, height = rng.choice([(0, 1), (1, 0), (2**31 - 1, 2**31 - 1), (20000, 20000),
                                    (10000, 10000), (16, 16), (3, 5)])
        body = struct.pack(">II", width, height) + bytes(rng.choice([b"\x08\x02", b"\x10\x06", b"\x01\x03",
                                                                    b"\x08\x07", b"\x03\x03"])) + body[10:]
        chunks[0] = (kind, body)
    else:
        chunks.insert(rng.randrange(1, len(chunks)), (rng.choice(TEXT_CHUNKS + (b"eXIf", b"IDAT")),
                                                       _random_bytes(rng, rng.randint(0, 64))))
    return _pack(chunks)


def _mutate_text_chunk(kind: bytes, body: bytes, rng: random.Random) -> tuple[bytes, bytes]:
    key, _, rest = body.partition(b"\0")
    if kind == b"tEXt":
        text = mutate_text(rest.decode("latin-1"), rng)
        return kind, key + b"\0" + text.encode("latin-1", "replace")
    if kind == b"zTXt":
        text = mutate_text(zlib.decompress(rest[1:]).decode("latin-1"), rng)
        return kind, key + b"\0\0" + zlib.compress(text.encode("latin-1", "replace"))
    flag, method, rest = rest[:1], rest[1:2], rest[2:]
    language, _, rest = rest.partition(b"\0")
    translated, _, value = rest.partition(b"\0")
    raw = zlib.decompress(value) if flag == b"\1" else value
    text = mutate_text(raw.decode("utf-8", "replace"), rng)
    encoded = text.encode("utf-8", "surrogatepass")  # lone surrogates too: invalid UTF-8
    if flag == b"\1":
        encoded = zlib.compress(encoded)
    return kind, key + b"\0" + flag + method + language + b"\0" + translated + b"\0" + encoded


# ---- text and JSON ---------------------------------------------------------------------------
def mutate_text(text: str, rng: random.Random) -> str:
    """Mutated metadata text: JSON gets wrong types and deep nesting; any text gets snippets."""
    try:
        data = json.loads(text)
    except ValueError:
        data = None
    if isinstance(data, dict) and rng.random() < 0.7:
        return _mutate_json(data, rng)
    for _ in range(rng.randint(1, 4)):
        roll = rng.random()
        pos = rng.randint(0, len(text))
        if roll < 0.5:
            text = text[:pos] + rng.choice(ODD_SNIPPETS) + text[pos:]
        elif roll < 0.65:
            end = rng.randint(pos, len(text))
            text = text[:pos] + text[pos:end] * rng.randint(2, 50) + text[end:]
        elif roll < 0.8:
            text = text[:pos] + text[rng.randint(pos, len(text)):]
        elif roll < 0.9:
            text = text.replace(rng.choice([",", ":", "\n", " ", '"']), rng.choice(["", ",,", "\n", ": ", '"']))
        else:
            text = text[:pos] + chr(rng.choice([0xD800, 0xDFFF, 0xFFFE, 0x10FFFF, 0x85, 0x2028])) + text[pos:]
    return text


def _mutate_json(data: Any, rng: random.Random) -> str:
    for _ in range(rng.randint(1, 3)):
        holder, key = _random_slot(data, rng)
        if holder is None:
            break
        roll = rng.random()
        if roll < 0.6:
            holder[key] = rng.choice(ODD_VALUES)
        elif roll < 0.75:
            value = holder[key]
            for _ in range(rng.choice([3, 50, 300])):
                value = [value]
            holder[key] = value
        elif isinstance(holder, dict):
            del holder[key]
    text = json.dumps(data, ensure_ascii=rng.random() < 0.5)
    if rng.random() < 0.1:  # past any sane nesting
        depth = rng.choice([1000, 100_000])
        text = "[" * depth + text + "]" * depth
    return text


def _random_slot(data: Any, rng: random.Random) -> tuple[Any, Any]:
    """A random (container, key) inside `data`, walking down a few levels."""
    holder, key = None, None
    node = data
    for _ in range(rng.randint(1, 4)):
        if isinstance(node, dict) and node:
            holder, key = node, rng.choice(list(node))
        elif isinstance(node, list) and node:
            holder, key = node, rng.randrange(len(node))
        else:
            break
        node = holder[key]
    return holder, key


# ---- other formats: damage the embedded text in place, or the bytes ---------------------------
def _mutate_embedded_text(data: bytes, rng: random.Random) -> bytes:
    """Overwrite part of the EXIF UserComment (or any embedded text) with odd bytes of the same
    length, so the file's offsets stay valid and the damage reaches the text reader."""
    starts = [i for marker in (b"ASCII\0\0\0", b"UNICODE\0", b"{", b"Steps")
              for i in _find_all(data, marker)]
    if not starts:
        return _mutate_bytes(data, rng)
    start = rng.choice(starts) + rng.randint(0, 16)
    length = rng.randint(1, 64)
    junk = (rng.choice([b'"', b"\\", b":", b",", b"\0", b"\xff", b"\xd8\x00", b"[", b" "]) * length)[:length]
    return data[:start] + junk + data[start + length:]


def _find_all(data: bytes, marker: bytes) -> list[int]:
    found, pos = [], data.find(marker)
    while pos >= 0:
        found.append(pos)
        pos = data.find(marker, pos + 1)
    return found


def _mutate_bytes(data: bytes, rng: random.Random) -> bytes:
    buffer = bytearray(data)
    for _ in range(rng.randint(1, 8)):
        roll = rng.random()
        pos = rng.randrange(len(buffer)) if buffer else 0
        if roll < 0.4 and buffer:
            buffer[pos] ^= 1 << rng.randrange(8)
        elif roll < 0.6 and buffer:
            buffer[pos] = rng.choice([0x00, 0xFF, 0x7F, 0x80])
        elif roll < 0.75:
            del buffer[rng.randrange(len(buffer) + 1):]
        elif roll < 0.9:
            buffer[pos:pos] = _random_bytes(rng, rng.randint(1, 32))
        else:
            end = rng.randint(pos, len(buffer))
            buffer[pos:pos] = buffer[pos:end]
    return bytes(buffer)


def _random_bytes(rng: random.Random, count: int) -> bytes:
    return bytes(rng.randrange(256) for _ in range(count))
