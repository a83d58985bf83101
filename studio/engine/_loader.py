"""Model loading on the inference thread: one model kept loaded, swapped only when request.model changes.

`pipeline_from_source` is the single place a source turns into a pipeline; single-file checkpoints
(_checkpoints.py) and device/dtype/memory options (_devices.py) plug in there and in `pick_device`.
"""

from __future__ import annotations

import gc
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from diffusers import DiffusionPipeline
from diffusers.utils import logging as diffusers_logging
from transformers.utils import logging as transformers_logging

from studio.core.events import Loading
from studio.core.settings import EngineSettings
from studio.engine._devices import DevicePlan, place_pipeline, plan
from studio.engine._embeddings import PromptEncoder
from studio.engine._previews import PreviewMap, preview_map_for
from studio.engine._schedulers import SchedulerCache
from studio.engine._taesd import tiny_decoder_preview
from studio.engine.checkpoint_config import stored_config
from studio.engine.family import Family, ModelInfo, family_of, inspect_source
from studio.engine.jobs import JobContext, UserError
from studio.engine.sources import default_model_dir, model_dir_for
from studio.engine.sources import quick_identity as content_hash  # its old name here
from studio.engine.tiny import ensure_tiny_model

log = logging.getLogger(__name__)

# Loading progress goes to Loading events; console bars would only clutter the CLI's progress line.
diffusers_logging.disable_progress_bar()
transformers_logging.disable_progress_bar()

SD_PIPELINES = {
    "StableDiffusionPipeline": "sd",
    "StableDiffusionXLPipeline": "sdxl",
    "StableDiffusionInpaintPipeline": "sd",  # 9-channel inpainting UNets
    "StableDiffusionXLInpaintPipeline": "sdxl",
}


@dataclass
class LoadedModel:
    key: str  # request.model as given ("" = the default model)
    name: str
    source: Path
    content_hash: str
    arch: str  # "sd1", "sd2" or "sdxl"
    family: Family  # told from the source (family.py), as the library and defaults tell it
    pipe: Any
    device: torch.device
    dtype: torch.dtype
    preview_map: PreviewMap
    encoder: PromptEncoder  # one per loaded model, so its cache lives as long as the model
    schedulers: SchedulerCache = field(repr=False, default=None)  # type: ignore[assignment]
    config: Path | None = None  # the config the artist gave a single file (checkpoint_config)

    @property
    def vae_scale_factor(self) -> int:
        return int(getattr(self.pipe, "vae_scale_factor", 8))

    @property
    def latent_channels(self) -> int:
        # The VAE's, not the UNet's input channels: inpainting UNets take 9 (latents + mask + image).
        return int(self.pipe.vae.config.latent_channels)

    def native_size(self) -> int:
        sample = self.pipe.unet.config.sample_size
        sample = sample[0] if isinstance(sample, (list, tuple)) else sample
        return int(sample) * self.vae_scale_factor

    def info(self, scheduler: str) -> dict[str, Any]:
        return {
            "model": self.name,
            "model_path": str(self.source),
            "model_hash": self.content_hash,
            "arch": self.arch,
            "device": str(self.device),
            "dtype": str(self.dtype).removeprefix("torch."),
            "scheduler": scheduler,
            "preview_map": self.preview_map.source,
            # the file's name only: pictures get shared, local paths stay on this machine
            **({"model_config": self.config.name} if self.config is not None else {}),
        }


def pick_device(settings: EngineSettings) -> tuple[torch.device, torch.dtype]:
    """CUDA, then MPS, then CPU; fp16 on GPUs, fp32 on CPU; settings override (see _devices.py)."""
    device_plan = plan(settings)
    for note in device_plan.notes:
        log.warning("%s", note)
    return device_plan.device, device_plan.dtype


def pipeline_class_name(folder: Path) -> str:
    try:
        index = json.loads((folder / "model_index.json").read_text(encoding="utf-8"))
        return str(index["_class_name"])
    except (OSError, ValueError, KeyError) as exc:
        raise UserError(f"{folder} has an unreadable model_index.json ({exc})") from None


def pipeline_from_source(
    source: Path,
    device: torch.device,
    dtype: torch.dtype,
    settings: EngineSettings | None = None,
    info: ModelInfo | None = None,
) -> Any:
    """Turn a model source into a ready pipeline on `device`. The one plug-in point for new sources.

    `info`: the source already inspected (family.inspect_source), so a pickle is not read twice."""
    from studio.engine._checkpoints import load_single_file

    settings = settings or EngineSettings()
    # One-line errors for wrong files/folders, refused pickles and missing weights, before loading.
    if info is None:
        info = inspect_source(source, settings.allow_unsafe_pickles)
    if source.is_file():  # a single-file checkpoint (.safetensors; pickles only when allowed)
        pipe = load_single_file(info, dtype=dtype, allow_unsafe_pickles=settings.allow_unsafe_pickles)
        for note in place_pipeline(pipe, settings, DevicePlan(device, dtype)):
            log.warning("%s", note)
        return pipe
    class_name = pipeline_class_name(source)
    if class_name not in SD_PIPELINES:
        raise UserError(f"{source.name} is a {class_name}, which Studio cannot run yet")
    extra: dict[str, Any] = {}
    if SD_PIPELINES[class_name] == "sd":
        extra = {"safety_checker": None, "requires_safety_checker": False}
    try:
        pipe = DiffusionPipeline.from_pretrained(
            source, local_files_only=True, dtype=dtype,
            # pickled .bin weights can run code on load: safetensors only unless allowed
            use_safetensors=None if settings.allow_unsafe_pickles else True, **extra
        )
    except (OSError, ValueError, KeyError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"cannot load model {source.name}: {first}") from None
    for note in place_pipeline(pipe, settings, DevicePlan(device, dtype)):
        log.warning("%s", note)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def _config_of(model: str) -> Path | None:
    """The config remembered for a single-file `model` (a new one means loading it again)."""
    return stored_config(model) if model and Path(model).expanduser().is_file() else None


class ModelLoader:
    """Keeps at most one model loaded; lives on (and is only used from) the inference thread."""

    def __init__(self, settings: EngineSettings) -> None:
        self.settings = settings
        self.current: LoadedModel | None = None

    def get(self, model: str, job: JobContext) -> LoadedModel:
        """The loaded model for `model`, loading it first if needed. On failure the old one stays."""
        if self.current is not None and self.current.key == model and self.current.config == _config_of(model):
            return self.current
        job.emit(Loading(job.job_id, "finding model", 0.0))
        if not model:
            folder, is_tiny = default_model_dir()
            if is_tiny and not (folder / "model_index.json").is_file():
                job.emit(Loading(job.job_id, "building the tiny default model", 0.05))
                ensure_tiny_model(folder)
        else:
            folder = model_dir_for(model)
        name = folder.name
        job.emit(Loading(job.job_id, f"loading {name}", 0.1))
        device, dtype = pick_device(self.settings)
        info = inspect_source(folder, self.settings.allow_unsafe_pickles)
        pipe = pipeline_from_source(folder, device, dtype, self.settings, info)
        job.emit(Loading(job.job_id, f"preparing {name}", 0.9))
        family = family_of(info)
        arch = family.arch
        loaded = LoadedModel(
            key=model,
            name=name,
            source=folder,
            content_hash=content_hash(folder),
            arch=arch,
            family=family,
            pipe=pipe,
            device=device,
            dtype=dtype,
            # a TAESD decoder in the models folder when the user has one, else the linear map
            preview_map=tiny_decoder_preview(self.settings.resolved_models_dir(), arch, device, dtype)
            or preview_map_for(folder, arch, int(pipe.vae.config.latent_channels)),
            encoder=PromptEncoder(pipe),
            schedulers=SchedulerCache(pipe.scheduler.config),
            config=info.config,
        )
        self.unload()
        self.current = loaded
        job.emit(Loading(job.job_id, f"{name} ready", 1.0))
        log.info("loaded %s (%s, %s, %s, %s)", name, arch, loaded.content_hash, device, dtype)
        return loaded

    def unload(self) -> None:
        if self.current is None:
            return
        self.current = None
        gc.collect()
        if torch.cuda.is_available():
            torch.cuda.empty_cache()
