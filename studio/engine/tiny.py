"""The tiny random SD1-architecture model: the fallback default when no bundled model is present,
and the model tests and benchmarks run. Public and torch-free; the builder lives in _tiny.py.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

from studio.core.paths import subdir

NATIVE_SIZE = 64  # px, must match studio.engine._tiny.NATIVE_SIZE


def tiny_model_cache() -> Path:
    """Where the default tiny model is built on first use: STUDIO_HOME/cache/tiny-model."""
    return subdir("cache") / "tiny-model"


def ensure_tiny_model(path: Path | None = None, seed: int = 0, arch: str = "sd1") -> Path:
    """Build the tiny model ("sd1", or "sdxl" for tests) into `path` (default: the cache) unless
    it is already there.

    Built in a temp folder beside it and renamed into place, so a crash never leaves half a model.
    """
    path = Path(path) if path is not None else tiny_model_cache()
    if (path / "model_index.json").is_file():
        return path
    from studio.engine._tiny import save_tiny_pipeline

    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=path.parent, prefix=f".{path.name}."))
    try:
        save_tiny_pipeline(tmp, seed=seed, arch=arch)
        if path.exists():  # an incomplete earlier attempt
            shutil.rmtree(path)
        os.replace(tmp, path)
    finally:
        if tmp.exists():
            shutil.rmtree(tmp, ignore_errors=True)
    return path
