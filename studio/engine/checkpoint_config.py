"""The config an artist gives a single-file checkpoint: the original YAML (LDM/SGM, the
`v1-inference.yaml` kind) or a diffusers config folder, read for what it says the model is, and
remembered per file in STUDIO_HOME/model-configs.json, where the engine (in whatever process runs
the job) finds it. Torch-free; the loader passes a YAML to diffusers as `original_config` and a
folder as `config`.

Only the file names of configs reach pictures' metadata (LoadedModel.info): paths stay here.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.atomic import atomic_write_text
from studio.core.paths import studio_home
from studio.engine.jobs import UserError

YAML_SUFFIXES = (".yaml", ".yml")
# The published UNets' cross-attention widths.
CONTEXT_ARCH = {768: "sd1", 1024: "sd2", 2048: "sdxl", 1280: "refiner"}


@dataclass(frozen=True)
class ConfigFacts:
    """What a config says the checkpoint is."""

    path: Path
    arch: str  # "sd1", "sd2", "sdxl" or "refiner"
    inpaint: bool = False
    prediction: str = "epsilon"  # or "v_prediction"


def read_config(path: Path | str) -> ConfigFacts:
    """The facts in a YAML config or diffusers config folder; UserError (one line) if it is neither."""
    path = Path(path).expanduser()
    if not path.exists():
        raise UserError(f"config not found: {path}")
    if path.is_dir():
        return _folder_facts(path.resolve())
    if path.suffix.lower() not in YAML_SUFFIXES:
        raise UserError(f"{path.name} is not a model config: give the checkpoint's .yaml file or a diffusers folder")
    return _yaml_facts(path.resolve())


def _yaml_facts(path: Path) -> ConfigFacts:
    import yaml

    try:
        data = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, yaml.YAMLError) as exc:
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise UserError(f"{path.name} is not a readable YAML file ({first})") from None
    params = _dig(data, "model", "params")
    unet = _dig(params, "unet_config", "params") or _dig(params, "network_config", "params")
    if not unet:
        raise UserError(f"{path.name} is not a Stable Diffusion config (it has no model.params.unet_config "
                        "or network_config)")
    sgm = "network_config" in params
    width = _int(unet.get("context_dim"))
    encoders = " ".join(str(e.get("target", "")) for e in _dig(params, "conditioner_config", "params")
                        .get("emb_models", []) if isinstance(e, dict))
    encoders += str(_dig(params, "cond_stage_config").get("target", ""))
    arch = CONTEXT_ARCH.get(width, "")
    if not arch:  # a model with widths of its own: its text encoder tells the family
        if sgm:
            arch = "sdxl" if "FrozenCLIPEmbedder" in encoders.replace("FrozenCLIPEmbedderWithKey", "") else "refiner"
        elif "OpenCLIP" in encoders:
            arch = "sd2"
        elif "CLIP" in encoders:
            arch = "sd1"
        else:
            raise UserError(f"{path.name}: cannot tell the model family from its text encoder ({encoders or 'none'})")
    if (arch in ("sdxl", "refiner")) != sgm:
        raise UserError(f"{path.name} describes a {width}-wide UNet in the {'SGM' if sgm else 'LDM'} layout, "
                        "which is no Stable Diffusion model Studio knows")
    scaling = str(_dig(params, "denoiser_config", "params", "scaling_config").get("target", ""))
    v_pred = params.get("parameterization") == "v" or scaling.endswith("VScaling")
    inpaint = _in_channels(path, unet.get("in_channels", 4)) == 9
    return ConfigFacts(path, arch, inpaint, "v_prediction" if v_pred else "epsilon")


def _folder_facts(path: Path) -> ConfigFacts:
    index = _json(path / "model_index.json", path)
    unet = _json(path / "unet" / "config.json", path)
    class_name = str(index.get("_class_name", ""))
    if not class_name.startswith("StableDiffusion") or "Upscale" in class_name or "Depth" in class_name:
        raise UserError(f"{path.name} is a config for {class_name or 'an unknown pipeline'}, which Studio cannot run")
    if class_name.startswith("StableDiffusionXL"):
        no_first_encoder = not (isinstance(index.get("text_encoder"), list) and index["text_encoder"][0])
        arch = "refiner" if no_first_encoder else "sdxl"
    else:
        width = unet.get("cross_attention_dim")
        width = _int(width[0] if isinstance(width, list) and width else width)
        encoder = _json_or_empty(path / "text_encoder" / "config.json")
        arch = CONTEXT_ARCH.get(width) or ("sd2" if encoder.get("hidden_act") == "gelu" else "sd1")
    scheduler = _json_or_empty(path / "scheduler" / "scheduler_config.json")
    prediction = str(scheduler.get("prediction_type", "epsilon"))
    return ConfigFacts(path, arch, _in_channels(path, unet.get("in_channels", 4)) == 9, prediction)


# ---- remembered per model file ------------------------------------------------------------------


def _store_file() -> Path:
    return studio_home() / "model-configs.json"


def _store() -> dict[str, str]:
    try:
        data = json.loads(_store_file().read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return {k: v for k, v in data.items() if isinstance(k, str) and isinstance(v, str)} if isinstance(data, dict) else {}


def _key(model: Path | str) -> str:
    return str(Path(model).expanduser().resolve())


def stored_config(model: Path | str) -> Path | None:
    """The config remembered for a single-file model, or None."""
    value = _store().get(_key(model))
    return Path(value) if value else None


def store_config(model: Path | str, config: Path | str | None) -> None:
    """Remember `config` for `model` (None forgets it). Check both first (models.set_model_config)."""
    store = _store()
    if config is None:
        store.pop(_key(model), None)
    else:
        store[_key(model)] = str(Path(config).expanduser().resolve())
    atomic_write_text(_store_file(), json.dumps(store, indent=2, sort_keys=True))


# ---- helpers ------------------------------------------------------------------------------------


def _dig(data: Any, *keys: str) -> dict[str, Any]:
    for key in keys:
        data = data.get(key) if isinstance(data, dict) else None
    return data if isinstance(data, dict) else {}


def _in_channels(path: Path, value: Any) -> int:
    # 4: text to image; 9: inpainting. Others (8: InstructPix2Pix, 5: depth, 7: upscaler) need
    # pipelines Studio does not have.
    channels = _int(value)
    if channels not in (4, 9):
        raise UserError(f"{path.name} describes a UNet with {value} input channels, which Studio cannot run "
                        "(it runs 4-channel models and 9-channel inpainting models)")
    return channels


def _int(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        return 0


def _json(path: Path, folder: Path) -> dict[str, Any]:
    data = _json_or_empty(path)
    if not data:
        raise UserError(f"{folder.name} is not a diffusers config folder (it has no readable "
                        f"{path.relative_to(folder).as_posix()})")
    return data


def _json_or_empty(path: Path) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    return data if isinstance(data, dict) else {}
