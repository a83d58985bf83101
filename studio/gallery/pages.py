"""Reading gallery rows straight from the pages of a damaged SQLite file, as the sqlite3 shell's
`.recover` does, for where that shell is missing or cannot run (Windows has none; Debian 12's is
built without the page table it needs).

Every page that looks like a table b-tree leaf is decoded by the documented file format (cell
pointer array, varints, record header, overflow chains); cells that decode to an `images` row of
Studio's schema are kept. A damaged page, cell or chain is skipped, never fatal. Nothing is
written. https://www.sqlite.org/fileformat2.html describes every structure read here.
"""

from __future__ import annotations

import struct
from collections.abc import Iterator
from pathlib import Path

# Column order of `images` as the migrations build it (m001, then m002, m004 and m005 append).
IMAGE_COLUMNS = (
    "id", "created", "request_json", "prompt", "negative", "seed", "steps", "guidance", "width",
    "height", "scheduler", "model_name", "model_hash", "mode", "timings_json", "info_json", "path",
    "sha256", "thumbnail", "favourite", "parent_id", "deleted_at", "tags_text", "pixels_sha256",
    "rating", "stack_id", "cover_id", "scratch", "session",
)
_M001_COLUMNS = 22
_TABLE_LEAF = 0x0D
_MAX_OVERFLOW_PAGES = 4096


def _varint(buf: bytes, at: int) -> tuple[int, int]:
    value = 0
    for k in range(8):
        byte = buf[at + k]
        value = (value << 7) | (byte & 0x7F)
        if byte < 0x80:
            return value, at + k + 1
    return (value << 8) | buf[at + 8], at + 9


MISSING = object()  # a value past the end of a cut-short payload


def _record(payload: bytes) -> list[object]:
    """The values of a record; those past the end of a payload cut short (its overflow chain
    broken) are MISSING, so the columns before a lost thumbnail are still read."""
    header_size, at = _varint(payload, 0)
    types = []
    while at < header_size:
        serial, at = _varint(payload, at)
        types.append(serial)
    values: list[object] = []
    body = header_size
    for serial in types:
        if body >= len(payload) and serial not in (0, 8, 9):
            values.append(MISSING)
            continue
        if serial == 0:
            values.append(None)
        elif 1 <= serial <= 6:
            size = (1, 2, 3, 4, 6, 8)[serial - 1]
            values.append(int.from_bytes(payload[body:body + size], "big", signed=True))
            body += size
        elif serial == 7:
            values.append(struct.unpack(">d", payload[body:body + 8])[0])
            body += 8
        elif serial in (8, 9):
            values.append(serial - 8)
        elif serial >= 12:
            size = (serial - 12) // 2
            raw = payload[body:body + size]
            values.append(raw if serial % 2 == 0 else raw.decode("utf-8", "replace"))
            body += size
        else:
            raise ValueError("reserved serial type")
        if body > len(payload):
            values[-1] = MISSING
    return values


class _File:
    def __init__(self, data: bytes) -> None:
        self.data = data
        size = int.from_bytes(data[16:18], "big") if len(data) >= 100 else 0
        size = 65536 if size == 1 else size
        # A damaged header gives no page size: Studio's databases use SQLite's default, 4096.
        self.page_size = size if size >= 512 and size & (size - 1) == 0 else 4096
        reserved = data[20] if len(data) >= 100 and data[20] < 64 else 0
        self.usable = self.page_size - reserved
        self.pages = len(data) // self.page_size

    def page(self, number: int) -> bytes:
        start = (number - 1) * self.page_size
        return self.data[start:start + self.page_size]

    def payload(self, page: bytes, at: int) -> tuple[int, bytes]:
        """(rowid, payload) of the table-leaf cell at `at`, following its overflow chain."""
        size, at = _varint(page, at)
        rowid, at = _varint(page, at)
        usable = self.usable
        most = usable - 35
        if size <= most:
            return rowid, page[at:at + size]
        least = (usable - 12) * 32 // 255 - 23
        local = least + (size - least) % (usable - 4)
        local = local if local <= most else least
        parts = [page[at:at + local]]
        next_page = int.from_bytes(page[at + local:at + local + 4], "big")
        remaining = size - local
        hops = 0
        while remaining > 0:
            hops += 1
            if not 1 <= next_page <= self.pages or hops > _MAX_OVERFLOW_PAGES:
                break  # a broken chain: what was read so far still holds the first columns
            overflow = self.page(next_page)
            take = min(remaining, usable - 4)
            parts.append(overflow[4:4 + take])
            remaining -= take
            next_page = int.from_bytes(overflow[:4], "big")
        return rowid, b"".join(parts)

    def leaf_cells(self) -> Iterator[tuple[int, bytes]]:
        for number in range(1, self.pages + 1):
            page = self.page(number)
            header = 100 if number == 1 else 0
            if len(page) < header + 8 or page[header] != _TABLE_LEAF:
                continue
            count = int.from_bytes(page[header + 3:header + 5], "big")
            pointers = page[header + 8:header + 8 + 2 * count]
            for k in range(len(pointers) // 2):
                offset = int.from_bytes(pointers[2 * k:2 * k + 2], "big")
                if not header + 8 <= offset < len(page):
                    continue
                try:
                    yield self.payload(page, offset)
                except (IndexError, ValueError):
                    continue


def _image_row(rowid: int, values: list[object]) -> dict[str, object] | None:
    if not _M001_COLUMNS <= len(values) <= len(IMAGE_COLUMNS):
        return None
    row = {k: v for k, v in zip(IMAGE_COLUMNS, values, strict=False) if v is not MISSING}
    path, request = row.get("path"), row.get("request_json")
    if not (isinstance(path, str) and path.startswith("images/") and isinstance(request, str)
            and isinstance(row.get("created"), int | float)):
        return None
    row["id"] = rowid  # an INTEGER PRIMARY KEY is stored as the rowid, NULL in the record
    return row


def image_rows(path: Path) -> list[dict[str, object]]:
    """Every `images` row that can still be decoded from the file's pages, by rowid (the last
    copy found wins when a freed page still holds an older one)."""
    try:
        data = path.read_bytes()
    except OSError:
        return []
    found: dict[int, dict[str, object]] = {}
    for rowid, payload in _File(data).leaf_cells():
        try:
            row = _image_row(rowid, _record(payload))
        except (IndexError, ValueError, struct.error):
            continue
        if row is not None:
            found[rowid] = row
    return [found[k] for k in sorted(found)]
