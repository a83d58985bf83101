"""Engine settings: how to run models on this machine (not what to draw, which is the request).

Stored as JSON in STUDIO_HOME/settings.json, written atomically; unknown keys are ignored and bad
values fall back to defaults, so a hand-edited file never stops the app from opening.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.atomic import atomic_write_text
from studio.core.paths import studio_home

log = logging.getLogger(__name__)

DEVICES = ("auto", "cuda", "mps", "cpu")
DTYPES = ("auto", "float32", "float16", "bfloat16")
GRID_RUNNERS = ("auto", "local", "ray")  # auto: Ray when STUDIO_RAY_ADDRESS is set
MAX_RAY_ACTORS = 256
# "local" starts Ray on this computer, "auto" joins the one running here, else the head's address
_RAY_ADDRESS = re.compile(r"^(local|auto|(ray://)?[A-Za-z0-9._-]+:\d{1,5})$")


@dataclass(frozen=True)
class EngineSettings:
    device: str = "auto"  # auto picks CUDA, then Apple MPS, then CPU
    dtype: str = "auto"  # auto: fp16 on CUDA/MPS, fp32 on CPU
    attention_slicing: bool = False
    vae_tiling: bool = False  # decode large images in tiles to save memory
    cpu_offload: bool = False  # model CPU offload for small GPUs
    allow_unsafe_pickles: bool = False  # .ckpt/.bin/.pt can run code on load: off unless asked
    models_dir: str = ""  # "" means STUDIO_HOME/models
    preview_every: int = 1  # preview every N steps (1 = every step)
    threads: int = 0  # torch's CPU threads for a job; 0 = the machine's physical cores
    grids_on: str = "auto"  # where grids and batches run: local, ray, or auto (STUDIO_RAY_ADDRESS)
    ray_address: str = ""  # "" = STUDIO_RAY_ADDRESS, else "local"
    ray_actors: int = 0  # 0 = Ray's executor decides (one per GPU, else CPU actors)
    scratch_keep_days: int = 7  # live slider frames never kept are purged after this many days

    def validated(self) -> EngineSettings:
        fixes: dict[str, Any] = {}
        if self.device not in DEVICES:
            fixes["device"] = "auto"
        if self.dtype not in DTYPES:
            fixes["dtype"] = "auto"
        if not isinstance(self.preview_every, int) or self.preview_every < 1:
            fixes["preview_every"] = 1
        if not isinstance(self.threads, int) or isinstance(self.threads, bool) or self.threads < 0:
            fixes["threads"] = 0
        if self.grids_on not in GRID_RUNNERS:
            fixes["grids_on"] = "auto"
        if ray_address_problem(self.ray_address):
            fixes["ray_address"] = ""
        if not isinstance(self.ray_actors, int) or isinstance(self.ray_actors, bool) \
                or not 0 <= self.ray_actors <= MAX_RAY_ACTORS:
            fixes["ray_actors"] = 0
        if not isinstance(self.scratch_keep_days, int) or isinstance(self.scratch_keep_days, bool) \
                or not 0 <= self.scratch_keep_days <= 3650:
            fixes["scratch_keep_days"] = 7
        return dataclasses.replace(self, **fixes) if fixes else self

    def engine_part(self) -> EngineSettings:
        """These settings less where grids run (and gallery upkeep): what a loaded engine depends on."""
        return dataclasses.replace(self, grids_on="auto", ray_address="", ray_actors=0,
                                   scratch_keep_days=7)

    def grids_use_ray(self) -> bool:
        """Whether grids and batches go to Ray (single pictures always stay on this computer)."""
        if self.grids_on == "auto":
            return bool(os.environ.get("STUDIO_RAY_ADDRESS", "").strip())
        return self.grids_on == "ray"

    def resolved_ray_address(self) -> str:
        return self.ray_address or os.environ.get("STUDIO_RAY_ADDRESS", "").strip() or "local"

    def resolved_models_dir(self) -> Path:
        path = Path(self.models_dir).expanduser() if self.models_dir else studio_home() / "models"
        try:
            path.mkdir(parents=True, exist_ok=True)
        except OSError:
            pass  # a read-only STUDIO_HOME: nothing to list there, and the bundled model still runs
        return path


def ray_address_problem(address: str) -> str | None:
    """One line saying what is wrong with a Ray address as typed; None if it will do ("" = default)."""
    if not address or _RAY_ADDRESS.match(address):
        return None
    return (f"{address!r} is not a Ray address; write local (start Ray here), auto, or the head's "
            "host:port, e.g. 10.0.0.5:6379")


def settings_path() -> Path:
    return studio_home() / "settings.json"


def load_settings() -> EngineSettings:
    path = settings_path()
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return EngineSettings()
    except (OSError, ValueError) as exc:
        log.warning("ignoring unreadable settings file %s: %s", path, exc)
        return EngineSettings()
    if not isinstance(data, dict):
        return EngineSettings()
    known = {f.name: f for f in dataclasses.fields(EngineSettings)}
    kwargs = {}
    for key, value in data.items():
        default = known[key].default if key in known else None
        if key in known and type(value) is type(default):
            kwargs[key] = value
    return EngineSettings(**kwargs).validated()


def save_settings(settings: EngineSettings) -> None:
    atomic_write_text(settings_path(), json.dumps(dataclasses.asdict(settings), indent=2))
