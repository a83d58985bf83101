"""The kinds of database damage the gallery must survive, shared by tests/test_gallery_heal.py and
benchmarks/bench_gallery_damage.py: a small gallery with favourites, tags, lineage and a deleted
entry, and one function per kind of damage done to its closed database file."""

from __future__ import annotations

import os
import random
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from PIL import Image

from studio.core.request import GenerationRequest
from studio.gallery import Gallery

PAGE = 4096


@dataclass(frozen=True)
class Made:
    """What the sample gallery holds, to compare with after the damage."""

    prompts: dict[str, int]  # prompt -> id
    favourites: frozenset[str]  # prompts
    tags: dict[str, frozenset[str]]  # prompt -> tags
    deleted: frozenset[str]
    child_of: dict[str, str]  # child prompt -> parent prompt
    files: frozenset[str]  # image file names


def make_gallery(home: Path, count: int = 12, age_s: float = 3600.0) -> Made:
    """`count` pictures, every third a favourite, every fourth tagged, one child, one deleted;
    the files dated `age_s` ago (older than any orphan clean-up's grace period)."""
    rng = random.Random(5)
    prompts: dict[str, int] = {}
    favourites, deleted, tags = set(), set(), {}
    with Gallery.open(home) as gallery:
        for n in range(count):
            image = Image.new("RGB", (64, 64), tuple(rng.randrange(256) for _ in range(3)))
            prompt = f"picture number {n} of a red circle"
            parent = prompts.get(f"picture number {n - 1} of a red circle") if n == 5 else None
            record = gallery.add(GenerationRequest(prompt, seed=n), image, {"total": 0.5}, {},
                                 parent_id=parent, created=time.time() - age_s + n)
            prompts[prompt] = record.id
            if n % 3 == 0:
                gallery.set_favourite(record.id)
                favourites.add(prompt)
            if n % 4 == 0:
                tags[prompt] = frozenset({"sky", f"set{n}"})
                for tag in tags[prompt]:
                    gallery.add_tag(record.id, tag)
        gone = "picture number 7 of a red circle"
        gallery.delete(prompts[gone])
        deleted.add(gone)
        names = frozenset(p.name for p in gallery.images_dir.rglob("*.png"))
    for path in (home / "gallery" / "images").rglob("*.png"):
        os.utime(path, (time.time() - age_s, time.time() - age_s))
    return Made(prompts, frozenset(favourites), tags, frozenset(deleted),
                {"picture number 5 of a red circle": "picture number 4 of a red circle"}, names)


def db_file(home: Path) -> Path:
    return home / "gallery" / "gallery.db"


def random_header(path: Path) -> None:
    data = bytearray(path.read_bytes())
    data[:64] = random.Random(1).randbytes(64)
    path.write_bytes(bytes(data))


def truncate_to(fraction: float):
    def damage(path: Path) -> None:
        data = path.read_bytes()
        path.write_bytes(data[: int(len(data) * fraction)])
    damage.__name__ = f"truncated_to_{int(fraction * 100)}pc"
    return damage


def zero_length(path: Path) -> None:
    path.write_bytes(b"")


def damaged_data_page(path: Path) -> None:
    """Random bytes over one page of the images table (a b-tree page, not the header)."""
    data = bytearray(path.read_bytes())
    conn = sqlite3.connect(path)
    try:
        root = conn.execute("SELECT rootpage FROM sqlite_master WHERE name = 'images'").fetchone()[0]
    finally:
        conn.close()
    start = (root - 1) * PAGE
    data[start: start + PAGE] = random.Random(2).randbytes(PAGE)
    path.write_bytes(bytes(data))


def flipped_byte_per_page(path: Path) -> None:
    """One bit flipped at a random place in every page after the first."""
    data = bytearray(path.read_bytes())
    rng = random.Random(3)
    for start in range(PAGE, len(data), PAGE):
        at = start + rng.randrange(min(PAGE, len(data) - start))
        data[at] ^= 1 << rng.randrange(8)
    path.write_bytes(bytes(data))


def bad_json_row(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("UPDATE images SET request_json = '{\"prompt\": ', timings_json = '[', "
                     "info_json = 'not json' WHERE id IN (SELECT min(id) FROM images)")
    finally:
        conn.close()


def dropped_search_index(path: Path) -> None:
    conn = sqlite3.connect(path, isolation_level=None)
    try:
        conn.execute("DROP TABLE images_fts")
    finally:
        conn.close()


DAMAGES = [random_header, truncate_to(0.5), truncate_to(0.1), zero_length, damaged_data_page,
           flipped_byte_per_page, bad_json_row, dropped_search_index]
