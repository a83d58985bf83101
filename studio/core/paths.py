"""Where Studio keeps its data: everything lives under STUDIO_HOME."""

from __future__ import annotations

import os
import site
import sys
from pathlib import Path

_APP_NAME = "Studio"


def studio_home() -> Path:
    """The data folder: $STUDIO_HOME, else the platform's user data folder. Created on demand."""
    env = os.environ.get("STUDIO_HOME")
    if env:
        home = Path(env).expanduser()
    else:
        from platformdirs import user_data_path

        home = user_data_path(_APP_NAME, appauthor=False)
    try:
        home.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass  # unwritable: what needs to write there says so in its own words; the rest runs
    return home


def subdir(name: str) -> Path:
    """A named folder inside STUDIO_HOME (gallery, models, cache, inputs...), created on demand."""
    path = studio_home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def repo_resources() -> Path:
    """The resources/ folder (bundled model, checkpoint configs, icon): beside the package in a
    checkout or editable install, in a PyInstaller bundle its _internal/resources, else where a
    wheel put it (<prefix>/share/studio/resources)."""
    frozen = getattr(sys, "_MEIPASS", None) if getattr(sys, "frozen", False) else None
    if frozen:  # packaging/studio.spec puts resources/ there
        return Path(frozen) / "resources"
    beside = Path(__file__).resolve().parents[2] / "resources"
    if (beside / "configs").is_dir():
        return beside
    for prefix in (sys.prefix, site.USER_BASE or ""):
        installed = Path(prefix) / "share" / "studio" / "resources"
        if prefix and installed.is_dir():
            return installed
    return beside  # neither: callers report the missing file by this path


def bundled_model_path() -> Path:
    """The small default model trained in this repo."""
    return repo_resources() / "models" / "studio-shapes"


def bundled_model_present() -> bool:
    """Whether the bundled model is there (a checkout without it falls back to a tiny test model)."""
    return (bundled_model_path() / "model_index.json").is_file()
