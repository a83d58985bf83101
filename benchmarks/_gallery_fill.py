"""A large gallery made fast, straight into SQLite: 100,000 records in seconds, for the scale
benchmarks (benchmarks/bench_gallery_scale.py and the window's) and tests.

    fill(home, n)   # home as Gallery.open(home) takes it: the gallery is home/gallery

The rows are what the gallery itself writes (schema by Gallery.open, search index and tag mirror
kept by the schema's own triggers), with a mix an artist's gallery has after a year: prompts from
a small vocabulary, five models, sizes, favourites, tags, ratings (about half unrated), ten boards,
grids stacked under their grid record, edit chains, a few soft-deleted rows and scratch frames of
live slider sessions. Image files are NOT written (rows only: the listing never opens them); every
row shares one real WebP thumbnail. Deterministic for a given n and seed.
"""

from __future__ import annotations

import json
import random
import sqlite3
import time
from pathlib import Path

WORDS = ("fox owl whale lighthouse castle forest river dusk dawn neon portrait city desert glacier "
         "dragon robot garden market harbor storm tiger lantern orchard canyon").split()
STYLES = ("oil painting", "watercolor", "photo, 35mm", "ink sketch", "low poly", "pixel art")
MODELS = ("sd15", "sdxl-base", "dreamshaper", "studio-shapes", "tiny")
SIZES = ((512, 512), (768, 512), (512, 768), (1024, 1024), (64, 64))
BOARDS = tuple(f"board {k}" for k in range(10))
TAGS = ("keeper", "print", "wip", "reference", "odd")
START = 1_700_000_000.0  # the first record's time; then about 5 minutes apart


def _thumbnail() -> bytes:
    from PIL import Image

    from studio.gallery.files import thumbnail_bytes

    return thumbnail_bytes(Image.linear_gradient("L").resize((128, 128)).convert("RGB")) or b""


def fill(gallery_home: Path, n: int, seed: int = 27) -> None:
    """Add `n` records to the gallery under `gallery_home` (made if missing)."""
    from studio.core.request import GenerationRequest
    from studio.gallery import Gallery

    Gallery.open(gallery_home, clean_min_age=None).close()  # schema, migrations, marks journal
    rng = random.Random(seed)
    # The request JSON of every row from one template (json.dumps per row would double the time).
    template = json.dumps(dict(GenerationRequest(prompt="x").to_dict(), prompt="\x01", seed=-101,
                               width=-102, height=-103, mode="\x02"))
    template = (template.replace("{", "{{").replace("}", "}}").replace('"\\u0001"', "{prompt}").replace("-101", "{seed}")
                .replace("-102", "{width}").replace("-103", "{height}").replace('"\\u0002"', '"{mode}"'))
    thumb = _thumbnail()
    conn = sqlite3.connect(Path(gallery_home) / "gallery" / "gallery.db", isolation_level=None)
    try:
        conn.execute("PRAGMA synchronous = OFF")  # a benchmark's scratch file: speed over safety
        cur = conn.cursor()
        cur.execute("BEGIN")
        first = int(cur.execute("SELECT coalesce(max(id), 0) FROM images").fetchone()[0]) + 1
        rows, tags, members = [], [], []
        grid_left, grid_head, chain_head, session = 0, None, None, None
        for k in range(n):
            row_id = first + k
            prompt = f"a {rng.choice(WORDS)} near a {rng.choice(WORDS)}, {rng.choice(STYLES)}, detailed"
            width, height = rng.choice(SIZES)
            mode = "txt2img"
            stack_id = parent_id = scratch = None
            if grid_left > 0:  # a grid's cells come first, then the grid (here: cells after the head)
                stack_id = parent_id = grid_head
                grid_left -= 1
            elif rng.random() < 0.02:
                grid_head, grid_left = row_id, rng.randrange(4, 10)
            elif chain_head is not None and rng.random() < 0.08:  # an edit of a recent picture
                stack_id, parent_id = chain_head, chain_head
                mode = "img2img"
            elif rng.random() < 0.05:  # a live slider session's frames
                session = session if session and rng.random() < 0.8 else f"session-{row_id}"
                scratch = session
            else:
                chain_head = row_id
            created = START + row_id * 300.0
            deleted = created + 60 if rng.random() < 0.01 else None
            rating = rng.choice((0, 0, 0, 0, 0, 1, 2, 3, 3, 4, 5))
            request = template.format(prompt=json.dumps(prompt), seed=row_id, width=width, height=height,
                                      mode=mode)
            rows.append((row_id, created, request, prompt, "blurry", row_id, 20, 5.0, width,
                         height, "Euler a", rng.choice(MODELS), "0123456789", mode, "{}",
                         "{}", f"images/fill/{row_id}.png", f"{row_id:064x}", thumb,
                         int(rng.random() < 0.05), parent_id, deleted, rating, stack_id, scratch,
                         scratch))
            if rng.random() < 0.1:
                tags.append((row_id, rng.choice(TAGS)))
            if rng.random() < 0.3:
                members.append((rng.randrange(len(BOARDS)) + 1, row_id, created))
        # The search index is filled in one pass at the end (what m003 does for existing rows):
        # many times faster than its trigger row by row, same index.
        triggers = [r[0] for r in cur.execute(
            "SELECT sql FROM sqlite_master WHERE name IN ('images_fts_insert', 'images_fts_update')")]
        cur.execute("DROP TRIGGER images_fts_insert")
        cur.execute("DROP TRIGGER images_fts_update")  # the tag mirror's updates would fire it
        cur.executemany(
            "INSERT INTO images (id, created, request_json, prompt, negative, seed, steps, guidance, "
            "width, height, scheduler, model_name, model_hash, mode, timings_json, info_json, path, "
            "sha256, thumbnail, favourite, parent_id, deleted_at, rating, stack_id, scratch, session) "
            "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)", rows)
        cur.executemany("INSERT OR IGNORE INTO tags (image_id, tag) VALUES (?, ?)", tags)
        cur.executemany("INSERT OR IGNORE INTO boards (id, name, created) VALUES (?, ?, ?)",
                        [(k + 1, name, time.time()) for k, name in enumerate(BOARDS)])
        cur.executemany("INSERT OR IGNORE INTO board_images (board_id, image_id, added) VALUES (?, ?, ?)",
                        members)
        cur.execute("INSERT INTO images_fts(images_fts) VALUES ('rebuild')")
        for sql in triggers:
            cur.execute(sql)
        cur.execute("COMMIT")
    finally:
        conn.close()
