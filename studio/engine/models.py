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
import hashlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.atomic import atomic_write_text
from studio.core.paths import bundled_model_path, bundled_model_present, studio_home, subdir
from studio.core.settings import EngineSettings, load_settings
from studio.engine.jobs import UserError

log = logging.getLogger(__name__)

MODEL_SUFFIXES = (".safetensors", ".ckpt", ".bin", ".pt", ".pth")
TINY_DECODER_NAMES = ("taesd", "taesdxl")
_hash_lock = threading.Lock()


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
    context_width: int = 0  # a diffusers folder's cross-attention width (768 for SD 1.x); 0 if not read

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
    from studio.engine._checkpoints import inspect_source

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
        context_width=info.context_width,
    )


CONTEXT_WIDTH_ARCH = {768: "sd1", 1024: "sd2", 2048: "sdxl"}  # text-encoder width -> family
ARCH_NAMES = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL"}


def lora_context_width(path: Path) -> int:
    """Width of the text features a LoRA's cross-attention keys read (768/1024/2048); 0 if unknown."""
    if path.suffix.lower() != ".safetensors":
        return 0
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            for key in handle.keys():
                if "attn2" in key and "to_k" in key and ("lora_down" in key or "lora_A" in key):
                    return int(handle.get_slice(key).get_shape()[1])
    except (SafetensorError, OSError):
        return 0
    return 0


def lora_arch(path: Path) -> str:
    """SD 1.x / 2.x / SDXL from the width of a cross-attention key projection (768/1024/2048)."""
    return CONTEXT_WIDTH_ARCH.get(lora_context_width(path), "")


def model_context_width(model: str) -> int:
    """The cross-attention width of `model`'s UNet ("" = the default model); 0 if it can't be read."""
    from studio.engine._checkpoints import inspect_source, unet_context_width
    from studio.engine.backend import model_dir_for

    try:
        folder = model_dir_for(model)
        if folder.is_file():
            arch = inspect_source(folder).arch
            return next((w for w, a in CONTEXT_WIDTH_ARCH.items() if a == arch), 0)
        return unet_context_width(json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8")))
    except (UserError, OSError, ValueError, KeyError, TypeError, IndexError, AttributeError):
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


def hf_cache_dir() -> Path:
    """The local Hugging Face hub cache, as huggingface_hub finds it (env vars first)."""
    if os.environ.get("HF_HUB_CACHE"):
        return Path(os.environ["HF_HUB_CACHE"]).expanduser()
    home = os.environ.get("HF_HOME") or os.path.join(os.path.expanduser("~"), ".cache", "huggingface")
    return Path(home).expanduser() / "hub"


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


def add_model(path: Path | str, settings: EngineSettings | None = None) -> ModelEntry:
    """Check a model or LoRA file/folder and remember it where it is (no copy). UserError if unusable."""
    path = Path(path).expanduser().resolve()
    settings = settings or load_settings()
    if not path.exists():
        raise UserError(f"not found: {path}")
    entry = describe(path, "added", settings)
    if entry.error:
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
    from studio.engine._checkpoints import inspect_source, native_size_for

    if isinstance(model, ModelEntry):
        path = Path(model.path)
    else:
        path = Path(model) if str(model) else bundled_model_path()
    try:
        info = inspect_source(path, allow_unsafe_pickles=False)
    except UserError:
        info = None
    if info is None:
        base = dict(_ARCH_DEFAULTS["sd1"])
        size = 512
    else:
        base = dict(_ARCH_DEFAULTS[info.arch])
        size = native_size_for(info) if info.kind == "checkpoint" else _folder_native_size(path, base["size"])
        if info.distilled:
            base.update(_DISTILLED_DEFAULTS[info.distilled])
    base.pop("size", None)
    return {**base, "width": size, "height": size}


def _folder_native_size(folder: Path, fallback: int) -> int:
    try:
        unet = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
        vae = json.loads((folder / "vae" / "config.json").read_text(encoding="utf-8"))
        sample = unet["sample_size"]
        sample = sample[0] if isinstance(sample, list) else sample
        return int(sample) * 2 ** (len(vae["block_out_channels"]) - 1)
    except (OSError, ValueError, KeyError, TypeError, IndexError):
        return fallback


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
