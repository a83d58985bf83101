"""Image files of the gallery: encoding with embedded parameters, thumbnails, durable writes,
and cleaning what a crash left behind."""

from __future__ import annotations

import hashlib
import io
import logging
import os
import secrets
import time
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING

from studio.core.atomic import atomic_write_bytes

if TYPE_CHECKING:
    from PIL.Image import Image

log = logging.getLogger(__name__)

THUMBNAIL_SIZE = 128
TEMP_SUFFIX = ".tmp"  # what studio.core.atomic names its temp files: .<name>.<random>.tmp
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".webp"}


def png_bytes(image: Image, text: dict[str, str], compress_level: int = 6) -> bytes:
    """PNG with text chunks: tEXt for Latin-1 values, iTXt (UTF-8) for anything else."""
    from PIL.PngImagePlugin import PngInfo

    chunks = PngInfo()
    for key, value in text.items():
        try:
            value.encode("latin-1")
        except UnicodeEncodeError:
            chunks.add_itxt(key, value)
        else:
            chunks.add_text(key, value)
    buffer = io.BytesIO()
    _displayable(image).save(buffer, format="PNG", pnginfo=chunks, compress_level=compress_level)
    return buffer.getvalue()


def thumbnail_bytes(image: Image, size: int = THUMBNAIL_SIZE) -> bytes:
    """A small WebP (a few kB) kept in the database row, so the grid never opens image files."""
    thumb = _displayable(image).copy()
    thumb.thumbnail((size, size))
    buffer = io.BytesIO()
    thumb.save(buffer, format="WEBP", quality=80, method=4)
    return buffer.getvalue()


def _displayable(image: Image) -> Image:
    return image if image.mode in ("RGB", "RGBA", "L") else image.convert("RGB")


def sha256_bytes(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def pixels_sha256(image: Image) -> str:
    """A hash of what the image looks like (RGB pixels and size), whatever file format holds it."""
    rgb = image if image.mode == "RGB" else image.convert("RGB")
    digest = hashlib.sha256(f"{rgb.width}x{rgb.height}:".encode())
    digest.update(rgb.tobytes())
    return digest.hexdigest()


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def new_image_path(images_dir: Path, created: float, seed: int, suffix: str = ".png") -> Path:
    """images/YYYY/MM/<date-time>_<seed>_<random>.png: sortable by name, never colliding."""
    when = datetime.fromtimestamp(created)
    folder = images_dir / f"{when:%Y}" / f"{when:%m}"
    return folder / f"{when:%Y%m%d-%H%M%S}_{seed}_{secrets.token_hex(4)}{suffix}"


def write_durably(path: Path, data: bytes) -> None:
    """Atomic write (temp, fsync, rename), then fsync the folder so the rename itself survives a
    power cut: only after this may a database row point at the file."""
    atomic_write_bytes(path, data)
    if hasattr(os, "O_DIRECTORY"):
        fd = os.open(path.parent, os.O_RDONLY | os.O_DIRECTORY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)


def remove_temp_files(images_dir: Path, min_age: float = 600.0) -> list[Path]:
    """Delete the temp files a killed writer left (.<name>.<random>.tmp), if older than `min_age`
    seconds so that a writer in another process keeps its own. Image files are never touched:
    one the database does not know is adopted (studio.gallery.heal), not removed."""
    removed: list[Path] = []
    if not images_dir.is_dir():
        return removed
    cutoff = time.time() - min_age
    for root, _dirs, names in os.walk(images_dir):
        for name in names:
            if not (name.startswith(".") and name.endswith(TEMP_SUFFIX)):
                continue
            path = Path(root) / name
            try:
                if path.stat().st_mtime > cutoff:
                    continue
                path.unlink()
            except OSError:
                continue
            removed.append(path)
    if removed:
        log.info("removed %d leftover temp files from the gallery", len(removed))
    return removed
