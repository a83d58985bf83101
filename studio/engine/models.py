"""The model library: every model and LoRA this machine has, with architecture, size and hash.

Sources: the bundled default model; STUDIO_HOME/models (EngineSettings.models_dir), scanned two
levels deep; files and folders added from elsewhere (`add_model`, kept in STUDIO_HOME/library.json);
and the local Hugging Face cache, read only. Nothing here touches the network except
`download_from_hub`, and only when the user asks. Torch-free: headers and configs are read, never
weights. Content hashes (sha256; A1111's short hash is its first 10 hex digits) are computed only
when asked and cached in STUDIO_HOME/cache/model-hashes.json by path, size and mtime.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.atomic import atomic_write_text
from studio.core.paths import bundled_model_path, bundled_model_present, studio_home
from studio.core.settings import EngineSettings, load_settings
from studio.engine.checkpoint_config import store_config, stored_config  # noqa: F401 - for callers
from studio.engine.family import (  # noqa: F401 - ARCH_NAMES, CONTEXT_WIDTH_ARCH, lora_*: their old home
    ARCH_NAMES,
    CONTEXT_WIDTH_ARCH,
    NEEDS_CONFIG,
    detect_family,
    inspect_source,
    lora_arch,
    lora_context_width,
)
from studio.engine.jobs import UserError
from studio.engine.sources import (  # noqa: F401 - hashes and the HF cache: their old home
    cached_sha256,
    file_sha256,
    hf_cache_dir,
    model_dir_for,
    short_hash,
)

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".safetensors", ".ckpt", ".bin", ".pt", ".pth")
TINY_DECODER_NAMES = ("taesd", "taesdxl")


@dataclass(frozen=True)
class ModelEntry:
    name: str
    path: str
    kind: str  # "diffusers", "checkpoint", "lora" or "taesd" (a tiny preview decoder)
    source: str  # "bundled", "library" (models folder), "added" or "hf-cache"
    size: int  # bytes on disk
    arch: str = ""  # "sd1", "sd2", "sdxl"; "" when unknown
    inpaint: bool = False
    prediction: str = "epsilon"
    distilled: str = ""
    error: str = ""  # why it cannot be used as it is (one line); "" when usable
    sha256: str = ""  # filled only when hashes are asked for
    context_width: int = 0  # the UNet's cross-attention width (768 for SD 1.x); 0 if not read
    config: str = ""  # the config (YAML or diffusers folder) given to a single file; "" if none

    @property
    def arch_label(self) -> str:
        """The family as shown to people (SD 1.x, SD 2.x, SDXL, ?). A model with SD's layout but a
        text width of its own (the bundled shapes model: 128) is no SD 1.x for LoRAs, and says so."""
        label = ARCH_NAMES.get(self.arch, "?")
        return f"own, {label} layout" if self.own_text_width else label

    @property
    def own_text_width(self) -> bool:
        """A known text width that is none of SD 1.x's, 2.x's or SDXL's."""
        return bool(self.context_width) and self.context_width not in CONTEXT_WIDTH_ARCH

    @property
    def short_hash(self) -> str:
        return self.sha256[:10]

    def to_dict(self) -> dict[str, Any]:
        return {**dataclasses.asdict(self), "short_hash": self.short_hash}


# ---- listing -----------------------------------------------------------------------------------


def list_models(settings: EngineSettings | None = None, hashes: bool = False) -> list[ModelEntry]:
    """Every model and LoRA, bundled first, then the models folder, added paths and the HF cache."""
    settings = settings or load_settings()
    seen: set[str] = set()
    entries: list[ModelEntry] = []
    candidates: list[tuple[Path, str]] = []
    if bundled_model_present():
        candidates.append((bundled_model_path(), "bundled"))
    candidates += [(p, "library") for p in _scan_folder(settings.resolved_models_dir())]
    candidates += [(Path(p), "added") for p in added_paths()]
    for path, source in candidates:
        key = str(path.resolve())
        if key not in seen:
            seen.add(key)
            entries.append(describe(path, source, settings))
    entries += [e for e in _scan_hf_cache(settings) if str(Path(e.path).resolve()) not in seen]
    if hashes:
        entries = [dataclasses.replace(e, sha256=file_sha256(Path(e.path))) if Path(e.path).is_file() else e
                   for e in entries]
    return entries


def list_loras(settings: EngineSettings | None = None) -> list[ModelEntry]:
    return [e for e in list_models(settings) if e.kind == "lora"]


def describe(path: Path, source: str, settings: EngineSettings | None = None) -> ModelEntry:
    """One library entry; an unusable file still gets an entry, with the reason in `error`."""
    settings = settings or EngineSettings()
    name = path.name if source != "bundled" else f"{path.name} (bundled)"
    size = _size(path)
    if path.is_dir() and path.name.lower() in TINY_DECODER_NAMES and (path / "config.json").is_file():
        arch = "sdxl" if path.name.lower() == "taesdxl" else "sd1"
        return ModelEntry(name, str(path), "taesd", source, size, arch=arch)
    if path.is_file() and path.suffix.lower() in MODEL_SUFFIXES[1:] and settings.allow_unsafe_pickles:
        # An allowed pickle has no header: telling its architecture means loading it all. Later.
        return ModelEntry(name, str(path), "checkpoint", source, size)
    try:
        info = inspect_source(path, settings.allow_unsafe_pickles)
    except UserError as exc:
        if "is a LoRA" in str(exc):
            return ModelEntry(name, str(path), "lora", source, size, arch=lora_arch(path))
        kind = "diffusers" if path.is_dir() else "checkpoint"
        return ModelEntry(name, str(path), kind, source, size, error=str(exc))
    return ModelEntry(
        name, str(path), info.kind, source, size, arch=info.arch, inpaint=info.inpaint,
        prediction=info.prediction, distilled=info.distilled,
        context_width=info.context_width, config=str(info.config or ""),
    )


def model_context_width(model: str) -> int:
    """The cross-attention width of `model`'s UNet ("" = the default model); 0 if it can't be read."""
    try:
        return detect_family(model_dir_for(model)).context_width
    except (UserError, OSError):
        return 0  # the job itself will say what is wrong with the model


def lora_mismatch(model: str, loras: Any) -> str:
    """One line naming the first ticked LoRA made for another model family, or "" (header reads only).

    Checked while the artist picks, so a wrong LoRA is explained before Generate instead of
    failing the job; unknown widths (other LoRA formats, unreadable files) are left to the job.
    """
    width = model_context_width(model) if loras else 0
    if not width:
        return ""
    for path, _weight in loras:
        lora_width = lora_context_width(Path(path))
        if lora_width and lora_width != width:
            made_for = ARCH_NAMES.get(CONTEXT_WIDTH_ARCH.get(lora_width, ""), f"{lora_width}-wide")
            this = ARCH_NAMES.get(CONTEXT_WIDTH_ARCH.get(width, "")) or (
                "the bundled model" if not model else f"a {width}-wide model")
            return f"LoRA {Path(path).name} is for {made_for} models and this one is {this}: untick it or pick another model"
    return ""


def _scan_folder(root: Path, depth: int = 2) -> Iterator[Path]:
    try:
        children = sorted(root.iterdir(), key=lambda p: p.name.lower())
    except OSError:
        return
    for child in children:
        if child.name.startswith("."):
            continue
        if child.is_dir():
            if (child / "model_index.json").is_file() or child.name.lower() in TINY_DECODER_NAMES:
                yield child
            elif depth > 1:
                yield from _scan_folder(child, depth - 1)
        elif child.suffix.lower() in MODEL_SUFFIXES:
            yield child


def _scan_hf_cache(settings: EngineSettings) -> list[ModelEntry]:
    """Diffusers pipelines already in the HF cache (newest snapshot of each), never downloading."""
    root = hf_cache_dir()
    if not root.is_dir():
        return []
    entries = []
    for repo in sorted(root.glob("models--*")):
        snapshots = [s for s in (repo / "snapshots").glob("*") if (s / "model_index.json").is_file()]
        if not snapshots:
            continue
        newest = max(snapshots, key=lambda s: s.stat().st_mtime)
        entry = describe(newest, "hf-cache", settings)
        repo_id = repo.name.removeprefix("models--").replace("--", "/")
        entries.append(dataclasses.replace(entry, name=repo_id, size=_size(repo / "blobs")))
    return entries


def _size(path: Path) -> int:
    try:
        if path.is_file():
            return path.stat().st_size
        return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())
    except OSError:
        return 0


# ---- added paths -------------------------------------------------------------------------------


def _library_file() -> Path:
    return studio_home() / "library.json"


def added_paths() -> list[str]:
    try:
        data = json.loads(_library_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return []
    paths = data.get("paths", []) if isinstance(data, dict) else []
    return [p for p in paths if isinstance(p, str)]


def add_model(path: Path | str, settings: EngineSettings | None = None, needing_config: bool = False) -> ModelEntry:
    """Check a model or LoRA file/folder and remember it where it is (no copy). UserError if unusable;
    with `needing_config`, a single file that only wants its config is kept (the entry says so)."""
    path = Path(path).expanduser().resolve()
    settings = settings or load_settings()
    if not path.exists():
        raise UserError(f"not found: {path}")
    entry = describe(path, "added", settings)
    if entry.error and not (needing_config and entry.error.endswith(NEEDS_CONFIG)):
        raise UserError(entry.error)
    paths = added_paths()
    if str(path) not in paths:
        atomic_write_text(_library_file(), json.dumps({"paths": [*paths, str(path)]}, indent=2))
    return entry


def remove_model(path: Path | str) -> bool:
    """Forget an added path (the file stays where it is). True if it was in the library."""
    target = str(Path(path).expanduser().resolve())
    paths = added_paths()
    if target not in paths:
        return False
    atomic_write_text(_library_file(), json.dumps({"paths": [p for p in paths if p != target]}, indent=2))
    return True


# ---- configs of single files ----------------------------------------------------------------------


def set_model_config(model: Path | str, config: Path | str | None,
                     settings: EngineSettings | None = None) -> ModelEntry:
    """Give a single-file model its config (a YAML or diffusers folder; None takes it away), kept
    for every later job on it. The file is checked with the config first: UserError, one line, if
    either is unusable, and nothing is stored."""
    path = Path(model).expanduser()
    if not path.exists():
        raise UserError(f"model not found: {path}")
    if path.is_dir():
        raise UserError(f"{path.name} is a diffusers folder with configs of its own; a config is for single files")
    settings = settings or load_settings()
    if config is not None:
        inspect_source(path, settings.allow_unsafe_pickles, config=config)
    store_config(path, config)
    return describe(path, "added", settings)


# ---- defaults and downloads ----------------------------------------------------------------------

_ARCH_DEFAULTS = {
    "sd1": {"steps": 25, "guidance_scale": 7.0, "scheduler": "DPM++ 2M Karras", "size": 512},
    "sd2": {"steps": 25, "guidance_scale": 7.0, "scheduler": "DPM++ 2M Karras", "size": 768},
    "sdxl": {"steps": 30, "guidance_scale": 6.0, "scheduler": "DPM++ 2M Karras", "size": 1024},
}
_DISTILLED_DEFAULTS = {
    "turbo": {"steps": 4, "guidance_scale": 0.0, "scheduler": "Euler a"},
    "lightning": {"steps": 4, "guidance_scale": 0.0, "scheduler": "Euler"},
    "lcm": {"steps": 4, "guidance_scale": 1.0, "scheduler": "LCM"},
    "hyper": {"steps": 8, "guidance_scale": 1.0, "scheduler": "Euler a"},
}


def recommended_defaults(model: str | Path | ModelEntry) -> dict[str, Any]:
    """Sampler settings that suit the model: steps, guidance_scale, scheduler, width, height.

    Distilled models (Turbo, Lightning, LCM, Hyper) want few steps and little or no guidance.
    """
    if isinstance(model, ModelEntry):
        path = Path(model.path)
    else:
        path = Path(model) if str(model) else bundled_model_path()
    try:
        family = detect_family(path, allow_unsafe_pickles=False)
    except UserError:
        family = None
    if family is None:
        base = dict(_ARCH_DEFAULTS["sd1"])
        size = 512
    else:
        base = dict(_ARCH_DEFAULTS[family.arch])
        size = family.native_size
        if family.distilled:
            base.update(_DISTILLED_DEFAULTS[family.distilled])
    base.pop("size", None)
    return {**base, "width": size, "height": size}


def download_from_hub(repo_id: str, progress: Callable[[int], None] | None = None) -> Path:
    """Download a diffusers pipeline (safetensors only) into the HF cache when the user asks.

    Refused while HF_HUB_OFFLINE is set. `progress` gets the bytes downloaded so far about once a
    second (read from the cache folder's size, as diffusers takes no progress callback). Returns
    the local snapshot folder, which the library lists from then on. Remote code is never trusted.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").strip().lower() in ("1", "true", "yes", "on"):
        raise UserError(f"downloads are turned off (HF_HUB_OFFLINE is set); unset it to download {repo_id}")
    if repo_id.count("/") != 1 or any(not part for part in repo_id.split("/")):
        raise UserError(f"{repo_id!r} is not a Hugging Face model id (expected owner/name)")
    from diffusers import DiffusionPipeline

    done = threading.Event()
    blobs = hf_cache_dir() / f"models--{repo_id.replace('/', '--')}" / "blobs"

    def report() -> None:
        while not done.wait(1.0):
            progress(_size(blobs))  # type: ignore[misc]

    watcher = threading.Thread(target=report, name="studio-download-progress", daemon=True)
    if progress is not None:
        watcher.start()
    try:
        folder = DiffusionPipeline.download(repo_id, use_safetensors=True, trust_remote_code=False)
    except Exception as exc:  # network, auth, missing repo: all reported in one line
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"could not download {repo_id}: {first}") from None
    finally:
        done.set()
    return Path(folder)
