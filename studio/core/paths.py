"""Where Studio keeps its data: everything lives under STUDIO_HOME."""

from __future__ import annotations

import os
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
    home.mkdir(parents=True, exist_ok=True)
    return home


def subdir(name: str) -> Path:
    """A named folder inside STUDIO_HOME (gallery, models, cache, inputs...), created on demand."""
    path = studio_home() / name
    path.mkdir(parents=True, exist_ok=True)
    return path


def repo_resources() -> Path:
    """The resources/ folder shipped beside the package (bundled model, configs)."""
    return Path(__file__).resolve().parents[2] / "resources"


def bundled_model_path() -> Path:
    """The small default model trained in this repo."""
    return repo_resources() / "models" / "studio-shapes"


def bundled_model_present() -> bool:
    """Whether the bundled model is there (a checkout without it falls back to a tiny test model)."""
    return (bundled_model_path() / "model_index.json").is_file()
