"""Gallery benchmark: recording 10,000 images, full-text search over them, and opening the panel.

    python benchmarks/bench_gallery.py [--n 10000] [--size 256]

Figures, each beside a reference measured in the same run on the same data:
  * insert: Gallery.add() per image (PNG with parameters + thumbnail + durable file + commit),
    against a bare INSERT of the same row (what the database alone costs);
  * database size per record, thumbnails included;
  * search: median of 20 FTS queries (goal < 20 ms), against a LIKE '%word%' scan;
  * panel: GalleryPanel built and shown offscreen until the first thumbnails are painted
    (goal < 300 ms), against a bare QListView with the same first page of icons.
Runs in a temporary STUDIO_HOME; nothing is left behind.
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

SEARCH_GOAL_MS = 20.0
PANEL_GOAL_MS = 300.0
PAGE = 100  # the panel's page size
WORDS = ("fox owl whale lighthouse castle forest river dusk dawn neon portrait city desert glacier "
         "dragon robot garden market harbor storm").split()
STYLES = ("oil painting", "watercolor", "photo, 35mm", "ink sketch", "low poly", "pixel art")


def _prompt(rng: random.Random) -> str:
    return f"a {rng.choice(WORDS)} near a {rng.choice(WORDS)}, {rng.choice(STYLES)}, detailed"


def _image(rng: random.Random, size: int):
    from PIL import Image, ImageDraw

    image = Image.linear_gradient("L").resize((size, size)).convert("RGB")
    draw = ImageDraw.Draw(image)
    for _ in range(12):
        x, y = rng.randrange(size), rng.randrange(size)
        r = rng.randrange(4, size // 3)
        draw.ellipse((x - r, y - r, x + r, y + r), fill=tuple(rng.randrange(256) for _ in range(3)))
    return image


def bench_insert(gallery, n: int, size: int, rng: random.Random) -> float:
    from studio.core.request import GenerationRequest

    images = [_image(rng, size) for _ in range(16)]  # drawing is not what we measure
    start = time.perf_counter()
    for i in range(n):
        request = GenerationRequest(_prompt(rng), negative_prompt="blurry", seed=i, steps=20,
                                    width=size, height=size)
        gallery.add(request, images[i % len(images)], {"total": 1.0},
                    {"model_name": rng.choice(["tiny", "sd15", "sdxl"]), "model_hash": "0123456789"})
        if (i + 1) % 1000 == 0:
            print(f"  ... {i + 1} recorded", file=sys.stderr)
    return (time.perf_counter() - start) / n


def bench_bare_insert(n: int) -> float:
    import sqlite3

    from studio.gallery.schema import MIGRATIONS

    with tempfile.TemporaryDirectory() as tmp:
        conn = sqlite3.connect(Path(tmp) / "bare.db", isolation_level=None)
        conn.execute("PRAGMA journal_mode = WAL")
        conn.execute("PRAGMA synchronous = NORMAL")
        cur = conn.cursor()
        for migration in MIGRATIONS:
            migration(cur)
        thumb = b"\0" * 4000
        start = time.perf_counter()
        for i in range(n):
            cur.execute("BEGIN IMMEDIATE")
            cur.execute(
                "INSERT INTO images (created, request_json, prompt, negative, seed, steps, guidance, "
                "width, height, scheduler, mode, path, sha256, thumbnail) "
                "VALUES (?, '{}', ?, '', ?, 20, 5, 256, 256, 'Euler a', 'txt2img', 'x', 'h', ?)",
                (time.time(), f"prompt {i} fox", i, thumb))
            cur.execute("COMMIT")
        elapsed = (time.perf_counter() - start) / n
        conn.close()
    return elapsed


def bench_search(gallery, rng: random.Random) -> tuple[float, float, float]:
    """Medians in ms: the FTS query (count + ids of the first page), the same plus building the
    first page of Records as the panel does, and the LIKE-scan reference for the first."""
    queries = [rng.choice(WORDS) for _ in range(10)] + [
        f"{rng.choice(WORDS)} {rng.choice(STYLES).split()[0]}" for _ in range(5)] + [
        rng.choice(WORDS)[:3] for _ in range(5)]  # prefixes, as while typing
    fts, page, like = [], [], []
    conn = gallery._db.connection()  # the reference scans the same table directly
    for query in queries:
        filters = gallery_filters(query)
        t0 = time.perf_counter()
        gallery.count(filters)
        gallery.ids(0, PAGE, filters)
        fts.append(time.perf_counter() - t0)
        t0 = time.perf_counter()
        gallery.count(filters)
        gallery.list(0, PAGE, filters)
        page.append(time.perf_counter() - t0)
        word = query.split()[0]
        t0 = time.perf_counter()
        conn.execute("SELECT count(*) FROM images WHERE deleted_at IS NULL AND "
                     "(prompt LIKE ? OR negative LIKE ? OR tags_text LIKE ?)", (f"%{word}%",) * 3).fetchone()
        conn.execute("SELECT id FROM images WHERE deleted_at IS NULL AND (prompt LIKE ? OR negative LIKE ? "
                     "OR tags_text LIKE ?) ORDER BY created DESC LIMIT ?", (*(f"%{word}%",) * 3, PAGE)).fetchall()
        like.append(time.perf_counter() - t0)
    return (statistics.median(fts) * 1000, statistics.median(page) * 1000, statistics.median(like) * 1000)


def gallery_filters(text: str):
    from studio.gallery import Filters

    return Filters(text=text)


def _paint_waiter(widget):
    from PySide6.QtCore import QEvent, QObject

    class Watch(QObject):
        painted = False

        def eventFilter(self, obj, event):  # noqa: N802 - Qt's name
            if event.type() == QEvent.Type.Paint:
                Watch.painted = True
            return False

    watch = Watch()
    widget.installEventFilter(watch)
    return watch


def bench_panel(gallery) -> tuple[float, float]:
    from PySide6.QtCore import QSize
    from PySide6.QtGui import QPixmap, QStandardItem, QStandardItemModel
    from PySide6.QtWidgets import QApplication, QListView

    app = QApplication.instance() or QApplication([])
    from studio.ui.gallery_panel import GalleryPanel

    def wait(done) -> float:
        while not done():
            app.processEvents()
        return time.perf_counter()

    t0 = time.perf_counter()
    panel = GalleryPanel(gallery)
    panel.resize(900, 1000)
    watch = _paint_waiter(panel.view.viewport())
    panel.show()
    t1 = wait(lambda: watch.painted and panel.model.cached_thumbnails() > 0)
    panel_ms = (t1 - t0) * 1000
    panel.close()

    # Reference: a bare icon list of the same first page, thumbnails read the same way.
    t0 = time.perf_counter()
    ids = gallery.ids(0, 200)
    model = QStandardItemModel()
    for record_id in ids[:60]:
        pixmap = QPixmap()
        pixmap.loadFromData(gallery.thumbnail(record_id))
        model.appendRow(QStandardItem(pixmap, str(record_id)))
    view = QListView()
    view.setViewMode(QListView.ViewMode.IconMode)
    view.setIconSize(QSize(128, 128))
    view.setModel(model)
    view.resize(900, 800)
    watch2 = _paint_waiter(view.viewport())
    view.show()
    t1 = wait(lambda: watch2.painted)
    ref_ms = (t1 - t0) * 1000
    view.close()
    return panel_ms, ref_ms


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--n", type=int, default=10_000, help="records to insert (default 10000)")
    parser.add_argument("--size", type=int, default=256, help="image side in px (default 256)")
    args = parser.parse_args()
    rng = random.Random(6)
    with tempfile.TemporaryDirectory() as tmp:
        os.environ["STUDIO_HOME"] = tmp
        from studio.gallery import Gallery

        gallery = Gallery.open()
        print(f"recording {args.n} images of {args.size}x{args.size} px ...", file=sys.stderr)
        per_add = bench_insert(gallery, args.n, args.size, rng)
        per_bare = bench_bare_insert(min(args.n, 2000))
        gallery._db.connection().execute("PRAGMA wal_checkpoint(TRUNCATE)")
        db_bytes = gallery.db_path.stat().st_size
        thumbs = gallery._db.connection().execute(
            "SELECT avg(length(thumbnail)) FROM images").fetchone()[0]
        image_bytes = sum(p.stat().st_size for p in gallery.images_dir.rglob("*.png"))
        gallery.close()
        t0 = time.perf_counter()
        Gallery.open().close()  # as scripts open it: orphan-file scan included
        scan_ms = (time.perf_counter() - t0) * 1000
        t0 = time.perf_counter()
        gallery = Gallery.open(clean_min_age=None)  # as the window opens it (scan on a worker)
        open_ms = (time.perf_counter() - t0) * 1000
        search_ms, page_ms, like_ms = bench_search(gallery, rng)
        panel_ms, bare_ms = bench_panel(gallery)
        gallery.close()

    print(f"insert:  {per_add * 1000:.2f} ms per image via Gallery.add "
          f"(bare INSERT+COMMIT {per_bare * 1000:.2f} ms; ratio {per_add / per_bare:.1f}x)")
    print(f"size:    {db_bytes / args.n / 1024:.2f} KiB of database per record "
          f"(thumbnail {thumbs / 1024:.2f} KiB); image files {image_bytes / args.n / 1024:.1f} KiB each")
    print(f"search:  {search_ms:.2f} ms median of 20 FTS queries (count + first {PAGE} ids) over "
          f"{args.n} (goal {SEARCH_GOAL_MS:.0f} ms: {search_ms / SEARCH_GOAL_MS:.2f} of goal; "
          f"LIKE scan {like_ms:.2f} ms, FTS is {like_ms / search_ms:.1f}x faster)")
    print(f"         {page_ms:.2f} ms with the first {PAGE} records built, as the panel shows them "
          f"({page_ms / SEARCH_GOAL_MS:.2f} of goal)")
    print(f"open:    {open_ms:.0f} ms for Gallery.open() with {args.n} entries as the window does it; "
          f"{scan_ms:.0f} ms with the orphan-file scan the window runs on its worker thread")
    print(f"panel:   {panel_ms:.0f} ms to first thumbnails painted with {args.n} entries "
          f"(goal {PANEL_GOAL_MS:.0f} ms: {panel_ms / PANEL_GOAL_MS:.2f} of goal; "
          f"bare QListView of 60 icons {bare_ms:.0f} ms)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
