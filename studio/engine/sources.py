"""Where a model's weights come from, and what they are by content: torch-free.

A source is the bundled model, a diffusers folder, a single-file checkpoint or a snapshot in the
local Hugging Face cache. This module finds the one a request names (`model_dir_for`), its native
size, and hashes for it; the torch loaders (_loader, _checkpoints) build pipelines from a source,
and family.py tells what kind of model it is.

Hashes: `file_sha256` (cached in STUDIO_HOME/cache/model-hashes.json by path, size and mtime, so a
file is read once); `content_hash` for any location (a folder's is a hash over its weight files'
and configs' hashes by relative path, so a copied folder has the same one); `quick_identity` a cheap stat-based key;
`find_by_hash` the first of some candidates whose content hash is a given one (a Ray worker's
way to find a model the window named by hash).
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
from collections.abc import Callable, Iterable
from pathlib import Path

from studio.core.atomic import atomic_write_text
from studio.core.paths import bundled_model_path, bundled_model_present, subdir
from studio.engine.family import PICKLE_SUFFIXES, SAFE_SUFFIXES, detect_family, folder_native_size
from studio.engine.jobs import UserError
from studio.engine.tiny import NATIVE_SIZE as TINY_NATIVE_SIZE
from studio.engine.tiny import tiny_model_cache

# What makes a folder's pixels: weights and their configs (not READMEs, not hidden caches).
HASHED_SUFFIXES = SAFE_SUFFIXES + PICKLE_SUFFIXES + (".json",)
_hash_lock = threading.Lock()


# ---- locations ---------------------------------------------------------------------------------
def default_model_dir() -> tuple[Path, bool]:
    """The folder the empty model name means, and whether it is the built-in tiny fallback."""
    if bundled_model_present():
        return bundled_model_path(), False
    return tiny_model_cache(), True


def model_dir_for(model: str) -> Path:
    """Resolve request.model to a diffusers folder or checkpoint file; UserError (one line) if it
    cannot be one."""
    if not model:
        return default_model_dir()[0]
    path = Path(model).expanduser()
    if not path.exists():
        raise UserError(f"model not found: {path}")
    if path.is_file():  # a single-file checkpoint: family.inspect_source checks it
        return path
    if not (path / "model_index.json").is_file():
        raise UserError(f"{path} is not a diffusers model folder (it has no model_index.json)")
    return path


def native_size(model: str) -> int:
    """The image size (px) the model was trained at, read from its configs without loading it.

    unet.sample_size x the VAE's downscale factor: 512 for SD 1.x, 768 for SD 2.x-v, 1024 for SDXL.
    """
    if not model:
        folder, is_tiny = default_model_dir()
        if is_tiny and not (folder / "model_index.json").is_file():
            return TINY_NATIVE_SIZE  # not built yet
    else:
        folder = model_dir_for(model)
    if folder.is_file():
        return detect_family(folder).native_size
    return folder_native_size(folder)


def hf_cache_dir() -> Path:
    """The local Hugging Face hub cache, as huggingface_hub finds it (env vars first)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home).expanduser() / "hub"


# ---- hashes ------------------------------------------------------------------------------------
def _hash_cache_file() -> Path:
    return subdir("cache") / "model-hashes.json"


def file_sha256(path: Path, progress: Callable[[float], None] | None = None) -> str:
    """sha256 of a file, cached by path, size and mtime (so a changed file is hashed again)."""
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    with _hash_lock:
        cache = _read_hash_cache()
    if key in cache:
        return cache[key]
    digest = hashlib.sha256()
    done = 0
    with open(path, "rb") as handle:
        while chunk := handle.read(8 << 20):
            digest.update(chunk)
            done += len(chunk)
            if progress is not None and stat.st_size:
                progress(done / stat.st_size)
    value = digest.hexdigest()
    with _hash_lock:
        cache = _read_hash_cache()
        cache[key] = value
        atomic_write_text(_hash_cache_file(), json.dumps(cache, indent=1, sort_keys=True))
    return value


def short_hash(path: Path | str) -> str:
    """A1111-style short hash of a single file: the first 10 hex digits of its sha256."""
    return file_sha256(Path(path))[:10]


def cached_sha256(path: Path | str) -> str:
    """The cached hash if there is one, else "" (never reads the file)."""
    path = Path(path)
    try:
        stat = path.stat()
    except OSError:
        return ""
    with _hash_lock:
        return _read_hash_cache().get(f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}", "")


def _read_hash_cache() -> dict[str, str]:
    try:
        data = json.loads(_hash_cache_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}


def content_hash(location: Path | str, progress: Callable[[float], None] | None = None) -> str:
    """sha256 of what a model is, wherever it lies ("" = the default model): a file's own sha256;
    for a folder, a sha256 over each weight and config file's relative path and sha256 (so a folder
    and its copy elsewhere agree). Every file hash is cached; UserError (one line) if unreadable."""
    path = model_dir_for(str(location))
    try:
        if path.is_file():
            return file_sha256(path, progress)
        weights = _hashed_files(path)
        total = sum(p.stat().st_size for p in weights) or 1
        digest, done = hashlib.sha256(), 0
        for file in weights:
            size = file.stat().st_size

            def part(fraction: float, before: int = done, size: int = size) -> None:
                progress(min(1.0, (before + fraction * size) / total))  # type: ignore[misc]

            value = file_sha256(file, part if progress is not None else None)
            digest.update(f"{file.relative_to(path).as_posix()}:{value}\n".encode())
            done += size
    except OSError as exc:
        raise UserError(f"cannot read {path.name} to hash it ({exc.strerror or exc})") from None
    return digest.hexdigest()


def _hashed_files(folder: Path) -> list[Path]:
    """The files a folder's content hash covers, sorted."""
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in HASHED_SUFFIXES
                  and not any(part.startswith(".") for part in p.relative_to(folder).parts))


def find_by_hash(wanted: str, candidates: Iterable[Path | str]) -> Path | None:
    """The first candidate whose content_hash is `wanted`, or None. Candidates whose hashes are all
    cached are tried first (stat only); the others are read once, then cached like any hash."""
    paths = [Path(c) for c in candidates]
    paths.sort(key=lambda p: not _fully_cached(p))  # stable: the caller's order within each group
    for path in paths:
        try:
            if content_hash(path) == wanted:
                return path
        except (UserError, OSError):  # unreadable or no model: not this one
            continue
    return None


def _fully_cached(path: Path) -> bool:
    try:
        return all(cached_sha256(f) for f in ([path] if path.is_file() else _hashed_files(path)))
    except OSError:
        return False


def quick_identity(source: Path) -> str:
    """Cheap identity of a loaded source, never reading weights: a file's name, size and mtime; a
    folder's model_index.json bytes plus every file's path, size and mtime."""
    if source.is_file():
        stat = source.stat()
        key = f"{source.name}:{stat.st_size}:{stat.st_mtime_ns}"
        return hashlib.sha256(key.encode()).hexdigest()[:16]
    digest = hashlib.sha256((source / "model_index.json").read_bytes())
    for path in sorted(p for p in source.rglob("*") if p.is_file()):
        stat = path.stat()
        digest.update(f"{path.relative_to(source).as_posix()}:{stat.st_size}:{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]
