"""Sources named by content hash in a file's parameters, found again on this machine.

Files Studio writes name an edit's source image and mask as "sha256:<hex>" (see
studio/core/shareable.py). Opening such a file looks for them, in order:
1. STUDIO_HOME/inputs, where the window and the command line keep sources and masks under their
   hash ("source-<first 20 hex>.png");
2. the gallery picture the source came from (`init_image_gallery_id`): when its pixels, written
   as the inputs folder writes them, have that very hash, the input is written back;
3. a gallery picture whose file has that hash (a gallery file used as the source directly).
What is not found is said in one line each; nothing here raises.
"""

from __future__ import annotations

import hashlib
import io
import logging
import sqlite3
from pathlib import Path
from typing import Any

from studio.core.atomic import atomic_write_bytes
from studio.core.paths import studio_home
from studio.core.request import MAX_SIZE, MIN_SIZE, GenerationRequest
from studio.core.shareable import ref_hash

log = logging.getLogger(__name__)

# The kind each field's file has in the inputs folder (engine/imageops.save_input names them so).
_KINDS = {"init_image": "source", "mask_image": "mask"}
_LABELS = {"init_image": "source image", "mask_image": "mask"}
_INPUT_HASH_CHARS = 20


def resolve_sources(request: GenerationRequest, refs: dict[str, Any] | None = None,
                    home: Path | None = None, drop_missing: bool = True,
                    use_gallery: bool = True) -> tuple[GenerationRequest, tuple[str, ...]]:
    """`request` with its hash-named sources replaced by local files, and one line for each that
    is not on this machine. A missing source is dropped with its mask (and the size made one a
    new picture can have), a missing mask alone: the rest of the request stays runnable. With
    `drop_missing=False` the references stay as they are (a gallery row keeps what was made)."""
    refs = refs or {}
    home = Path(home) if home is not None else studio_home()
    changes: dict[str, Any] = {}
    missing: list[str] = []
    for field in _KINDS:
        value = getattr(request, field)
        digest = ref_hash(value)
        if digest is None:
            continue  # a path (older files) or nothing
        gallery_id = refs.get("init_image_gallery_id") if field == "init_image" else None
        try:
            found = _find(home, field, digest, gallery_id, use_gallery) if digest else None
        except Exception:  # noqa: BLE001 - a look-up problem is a missing source, not a failed open
            log.debug("looking for %s %s failed", field, value, exc_info=True)
            found = None
        if found is not None:
            changes[field] = str(found)
            continue
        where = f", gallery picture {gallery_id}" if gallery_id else ""
        missing.append(f"the {_LABELS[field]} ({value[:19]}…{where}) is not in this gallery or its "
                       "inputs folder" + (": left out" if drop_missing else ""))
        if drop_missing:
            changes[field] = None
    if drop_missing and "init_image" in changes and changes["init_image"] is None:
        changes["mask_image"] = None  # a mask without its picture means nothing
        changes["width"], changes["height"] = _new_size(request.width), _new_size(request.height)
    if drop_missing and None in (changes.get("init_image", ""), changes.get("mask_image", "")):
        changes["mode"] = ""  # an inpaint without its mask (or picture) is what is left: infer it
    return (request.replace(**changes) if changes else request), tuple(missing)


def _new_size(side: int) -> int:
    """An edit keeps its source's size (any); a new picture needs a multiple of 8 in range."""
    return min(MAX_SIZE, max(MIN_SIZE, round(side / 8) * 8))


def _find(home: Path, field: str, digest: str, gallery_id: int | None, use_gallery: bool) -> Path | None:
    kind = _KINDS[field]
    inputs = home / "inputs"
    if len(digest) >= _INPUT_HASH_CHARS and inputs.is_dir():
        for path in sorted(inputs.glob(f"*-{digest[:_INPUT_HASH_CHARS]}.png")):
            if _sha256(path.read_bytes()).startswith(digest):
                return path
    if not use_gallery:
        return None
    rows = _gallery_rows(home / "gallery", gallery_id, digest)
    for path, sha in rows:
        if sha == digest and path.is_file():
            return path  # the gallery file itself was the source
        if path.is_file():
            data = _as_input(path)
            if data is not None and _sha256(data).startswith(digest):
                target = inputs / f"{kind}-{_sha256(data)[:_INPUT_HASH_CHARS]}.png"
                if not target.exists():
                    atomic_write_bytes(target, data)
                return target
    return None


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _as_input(path: Path) -> bytes | None:
    """A gallery picture's pixels as the inputs folder stores a source: a plain PNG of them."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            image.load()
            buffer = io.BytesIO()
            image.save(buffer, format="PNG")
    except (OSError, ValueError, SyntaxError, Image.DecompressionBombError):
        return None
    return buffer.getvalue()


def _gallery_rows(root: Path, gallery_id: int | None, digest: str) -> list[tuple[Path, str]]:
    """(file, sha256) of the gallery picture with `gallery_id` and of those whose file has the
    hash, read without opening the gallery for writing (no migration, no healing)."""
    db = root / "gallery.db"
    if not db.is_file() or not digest:
        return []
    found: list[tuple[Path, str]] = []
    try:
        conn = sqlite3.connect(f"{db.as_uri()}?mode=ro", uri=True, timeout=2)
    except sqlite3.Error:
        return []
    try:
        if gallery_id is not None:
            found += conn.execute("SELECT path, sha256 FROM images WHERE id = ?", (gallery_id,)).fetchall()
        found += conn.execute("SELECT path, sha256 FROM images WHERE sha256 = ? LIMIT 1", (digest,)).fetchall()
    except sqlite3.Error:
        log.debug("gallery look-up for a source failed", exc_info=True)
    finally:
        conn.close()
    return [(root / str(path), str(sha)) for path, sha in found if isinstance(path, str)]
