"""Model families, told from configs and file headers alone: the one place Studio decides a model's
architecture (SD 1.x / 2.x / SDXL), variant (base, inpaint, v-prediction) and native size.

`detect_family(source)` answers for a diffusers folder or single-file checkpoint; `inspect_source`
gives the fuller ModelInfo (distilled or not, scheduler) the library shows. A single file is told
by `classify_checkpoint` from the layout checkpoint_layout.py reads in its header, or by the config
the artist gave it (checkpoint_config.py), which has the last word. No weights are read
(except an allowed pickle, which has no header), and torch is imported only for such a pickle, so
the model library and the window can call these on every file.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.engine.checkpoint_config import ConfigFacts, read_config, stored_config
from studio.engine.checkpoint_layout import (
    ADM_ARCH,
    UNET_IN,
    WIDTH_ARCH,
    Layout,
    checkpoint_layout,
    shape_keys,
)
from studio.engine.jobs import UserError

SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth")
ARCHES = ("sd1", "sd2", "sdxl")
NEEDS_CONFIG = "give its config with --config"  # how errors a config can fix end

VAE_PREFIX = "first_stage_model."

PIPELINE_ARCH = {
    "StableDiffusionPipeline": "sd",
    "StableDiffusionImg2ImgPipeline": "sd",
    "StableDiffusionInpaintPipeline": "sd",
    "StableDiffusionXLPipeline": "sdxl",
    "StableDiffusionXLImg2ImgPipeline": "sdxl",
    "StableDiffusionXLInpaintPipeline": "sdxl",
}
# Name fragments of few-step distilled models, checked in order ("hyper" alone would match
# "hyperrealistic", so only Hyper-SD's own spellings count).
DISTILLED_HINTS = (("turbo", "turbo"), ("lcm", "lcm"), ("lightning", "lightning"),
                   ("hyper-sd", "hyper"), ("hyper_sd", "hyper"), ("hypersd", "hyper"))
# Stability's own Turbo models are trained at 512 px; Turbo fine-tunes of SDXL keep 1024.
OFFICIAL_TURBO_NAMES = ("sd_xl_turbo", "sdxl-turbo", "sdxl_turbo", "sd-turbo", "sd_turbo")


def pickle_refusal(path: Path) -> str:
    return (
        f"{path.name} is a pickle ({path.suffix}), which can run code when loaded, so Studio does not "
        f"open it; convert it to .safetensors first (e.g. `python -c \"import torch, safetensors.torch as s; "
        f"d = torch.load('{path.name}', weights_only=True); s.save_file(d.get('state_dict', d), "
        f"'{path.stem}.safetensors')\"`) or turn on allow_unsafe_pickles in the engine settings"
    )


@dataclass(frozen=True)
class ModelInfo:
    """What a model source holds, found without loading its weights."""

    path: Path
    kind: str  # "diffusers" (folder) or "checkpoint" (single file)
    arch: str  # "sd1", "sd2" or "sdxl"
    inpaint: bool = False  # 9-channel inpainting UNet
    prediction: str = "epsilon"  # or "v_prediction"
    distilled: str = ""  # "", "turbo", "lcm", "lightning" or "hyper": few steps, low guidance
    scheduler: str = ""  # the scheduler class a folder ships with
    context_width: int = 0  # the UNet's cross-attention width (768 for SD 1.x); 0 if unread
    config: Path | None = None  # the YAML or diffusers folder the artist gave a single file

    @property
    def family(self) -> str:
        return "sdxl" if self.arch == "sdxl" else "sd"


# ---- inspecting ------------------------------------------------------------------------------


def inspect_source(path: Path | str, allow_unsafe_pickles: bool = False,
                   config: Path | str | None = None) -> ModelInfo:
    """Describe a diffusers folder or single-file checkpoint; UserError (one line) if it is neither.

    A single file is described with `config` (YAML or diffusers folder) when given, else with the
    config remembered for it (checkpoint_config), if any."""
    path = Path(path).expanduser()
    if not path.exists():
        raise UserError(f"model not found: {path}")
    if path.is_dir():
        if config is not None:
            raise UserError(f"{path.name} is a diffusers folder with configs of its own; a config is for single files")
        return inspect_folder(path, allow_unsafe_pickles)
    return inspect_file(path, allow_unsafe_pickles, config)


def inspect_folder(folder: Path, allow_unsafe_pickles: bool = False) -> ModelInfo:
    index = _read_json(folder / "model_index.json", folder, "model_index.json")
    class_name = str(index.get("_class_name", ""))
    family = PIPELINE_ARCH.get(class_name)
    if family is None:
        raise UserError(f"{folder.name} is a {class_name or 'unknown pipeline'}, which Studio cannot run")
    _check_folder_weights(folder, index, allow_unsafe_pickles)
    unet = _read_json(folder / "unet" / "config.json", folder, "unet/config.json")
    scheduler = {}
    sched_path = folder / "scheduler" / "scheduler_config.json"
    if sched_path.is_file():
        scheduler = _read_json(sched_path, folder, "scheduler/scheduler_config.json")
    arch = "sdxl" if family == "sdxl" else _sd_arch(folder, unet_context_width(unet))
    in_channels = int(unet.get("in_channels", 4))
    sched_class = str(scheduler.get("_class_name", ""))
    hints = f"{_name_hints(folder)} {sched_class} {json.dumps(scheduler)}".lower()
    distilled = "lcm" if sched_class == "LCMScheduler" else _distilled_hint(hints)
    return ModelInfo(
        path=folder,
        kind="diffusers",
        arch=arch,
        inpaint=in_channels == 9,
        prediction=str(scheduler.get("prediction_type", "epsilon")),
        distilled=distilled,
        scheduler=sched_class,
        context_width=unet_context_width(unet),
    )


def _sd_arch(folder: Path, width: int) -> str:
    """SD 1.x or 2.x: by the published width (768 / 1024), else by the text encoder, as a toy or
    distilled model's width says nothing: OpenCLIP (SD 2) uses GELU where OpenAI's CLIP (SD 1) uses
    quick GELU."""
    if width in (768, 1024):
        return "sd1" if width == 768 else "sd2"
    try:
        encoder = json.loads((folder / "text_encoder" / "config.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return "sd1"
    return "sd2" if isinstance(encoder, dict) and encoder.get("hidden_act") == "gelu" else "sd1"


def unet_context_width(unet_config: dict[str, Any]) -> int:
    """A UNet config's cross-attention width, the text width it reads (768 for SD 1.x); 0 if absent.

    cross_attention_dim is an int, or a list of one per block (equal in SD-style UNets).
    """
    value = unet_config.get("cross_attention_dim")
    try:
        return int(value[0] if isinstance(value, list) else value)
    except (TypeError, ValueError, IndexError):
        return 0


def _check_folder_weights(folder: Path, index: dict[str, Any], allow_unsafe_pickles: bool) -> None:
    for part in ("unet", "vae", "text_encoder", "text_encoder_2"):
        entry = index.get(part)
        if not isinstance(entry, list) or not entry or entry[0] is None:
            continue
        files = [p.name for p in (folder / part).glob("*") if p.is_file()]
        if any(name.endswith(".safetensors") for name in files):
            continue
        if any(name.endswith(PICKLE_SUFFIXES) for name in files):
            if allow_unsafe_pickles:
                continue
            raise UserError(
                f"{folder.name} stores its {part} weights as pickled files, which can run code when loaded; "
                "find a .safetensors version or turn on allow_unsafe_pickles in the engine settings"
            )
        raise UserError(f"{folder.name} has no {part} weights (an incomplete download, or configs only?)")


def inspect_file(path: Path, allow_unsafe_pickles: bool = False, config: Path | str | None = None) -> ModelInfo:
    config = config if config is not None else stored_config(path)
    facts = read_config(config) if config is not None else None
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        if not allow_unsafe_pickles:
            raise UserError(pickle_refusal(path))
        keys, shapes, metadata = _pickle_header(path)
    elif suffix in SAFE_SUFFIXES:
        keys, shapes, metadata = safetensors_header(path)
    else:
        raise UserError(f"{path.name} is not a model file Studio reads (use a .safetensors file or a diffusers folder)")
    return classify_checkpoint(path, keys, shapes, metadata, facts)


def safetensors_header(path: Path) -> tuple[set[str], dict[str, tuple[int, ...]], dict[str, str]]:
    """Tensor names, the shapes we look at, and metadata, from the header only (no weights read)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            keys = set(handle.keys())
            shapes = {k: tuple(handle.get_slice(k).get_shape()) for k in shape_keys(keys)}
            metadata = dict(handle.metadata() or {})
    except (SafetensorError, OSError, ValueError) as exc:
        raise UserError(f"{path.name} is not a readable .safetensors file (damaged or incomplete download?): {_first_line(exc)}") from None
    _check_complete(path, keys)
    return keys, shapes, metadata


def _check_complete(path: Path, keys: set[str]) -> None:
    # safe_open accepts a file cut short after the header; the data end it promises must be there.
    with open(path, "rb") as handle:
        header_len = int.from_bytes(handle.read(8), "little")
        header = json.loads(handle.read(header_len))
    ends = [int(v["data_offsets"][1]) for k, v in header.items() if k != "__metadata__"]
    if 8 + header_len + max(ends, default=0) > path.stat().st_size:
        raise UserError(f"{path.name} is incomplete (the file is shorter than its header says): download it again")


def _pickle_header(path: Path) -> tuple[set[str], dict[str, tuple[int, ...]], dict[str, str]]:
    state = load_pickle_weights(path)
    return set(state), {k: tuple(v.shape) for k, v in state.items() if hasattr(v, "shape")}, {}


def load_pickle_weights(path: Path) -> dict[str, Any]:
    """Load a pickled checkpoint with torch's weights-only unpickler: plain tensors or a clear error."""
    import pickle

    import torch

    try:
        try:
            state = torch.load(str(path), map_location="cpu", weights_only=True, mmap=True)
        except RuntimeError as exc:  # files from before torch 1.6's zip format cannot be mapped
            if "mmap" not in str(exc):
                raise
            state = torch.load(str(path), map_location="cpu", weights_only=True)
    except (pickle.UnpicklingError, RuntimeError, EOFError, OSError) as exc:
        raise UserError(
            f"{path.name} holds more than plain weights and cannot be opened safely ({_first_line(exc)}); "
            "find a .safetensors version of it"
        ) from None
    while isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    if not isinstance(state, dict):
        raise UserError(f"{path.name} is not a model checkpoint")
    return state


def _arch_of(layout: Layout) -> str:
    """sd1 / sd2 / sdxl / refiner, or "" when the layout is none of them.

    The published widths decide when the file has them (as diffusers' own loader tells SD 1 from
    SD 2: an SD 2 file with its text encoder saved in CLIP's layout is still SD 2); files with
    other widths (small test models, distillations) go by where their text encoders sit."""
    slots = tuple(prefix for prefix, _, _ in layout.encoders)
    by_slot = {
        ("cond_stage_model.transformer.",): "sd1",
        ("cond_stage_model.model.",): "sd2",
        ("conditioner.embedders.0.transformer.", "conditioner.embedders.1.model."): "sdxl",
        ("conditioner.embedders.1.model.",): "sdxl",  # as Studio always took it: bigG in SDXL's second slot
        ("conditioner.embedders.0.model.",): "refiner",
    }.get(slots, "")
    if not by_slot:
        return ""
    sgm = by_slot in ("sdxl", "refiner")  # Stability's SGM layout (conditioner.*) vs LDM (cond_stage_model.*)
    arch = WIDTH_ARCH.get(layout.context_width) or ADM_ARCH.get(layout.adm_width) or by_slot
    if (arch in ("sdxl", "refiner")) != sgm:
        return ""
    if sgm and layout.adm_width in ADM_ARCH and ADM_ARCH[layout.adm_width] != arch:
        return ""
    # The text features the UNet reads are its encoders' outputs side by side.
    widths = [width for _, _, width in layout.encoders]
    if layout.context_width and all(widths) and sum(widths) != layout.context_width:
        return ""
    return arch


def classify_checkpoint(
    path: Path, keys: set[str], shapes: dict[str, tuple[int, ...]], metadata: dict[str, str],
    config: ConfigFacts | None = None,
) -> ModelInfo:
    """THE place a single file's family and variant are told: SD 1.x, SD 2.x (epsilon or
    v-prediction), SDXL base or refiner, inpainting (9-channel UNet), distilled (turbo & co), from
    its tensor names and a few shapes (header only), metadata and name; `config` (the one the
    artist gave for this file) has the last word. UserError, one line, naming what was found when
    it is none of those."""
    name = path.name
    if any(".lora_down." in k or ".lora_A." in k or k.startswith("lora_unet_") for k in keys):
        raise UserError(f"{name} is a LoRA, not a full model: add it to the LoRA list instead")
    if UNET_IN not in keys:
        if any(k.startswith(("encoder.", "decoder.")) for k in keys):
            raise UserError(f"{name} is a VAE on its own, not a full model")
        if any(k.startswith(("down_blocks.", "conv_in.")) for k in keys):
            raise UserError(f"{name} holds diffusers UNet weights alone; Studio needs a full checkpoint or a diffusers folder")
        raise UserError(f"{name} is not a Stable Diffusion checkpoint (it has no UNet weights)")
    if not any(k.startswith(VAE_PREFIX) for k in keys):
        raise UserError(f"{name} has no VAE weights; Studio needs a full checkpoint (UNet, VAE and text encoder)")
    layout = checkpoint_layout(keys, shapes)
    arch = _arch_of(layout)
    if layout.in_channels not in (4, 9):
        arch = ""
    hints = f"{name} {metadata.get('modelspec.title', '')} {metadata.get('modelspec.architecture', '')}".lower()
    if config is not None:  # the artist's config says what the file is
        arch, inpaint, prediction = config.arch, config.inpaint, config.prediction
    elif not arch:
        raise UserError(f"{name}: not a Stable Diffusion checkpoint Studio knows (found: {layout.describe()}); "
                        f"{NEEDS_CONFIG}")
    else:
        inpaint = layout.in_channels == 9
        prediction = _prediction(arch, inpaint, keys, metadata, hints)
    if arch == "refiner":
        raise UserError(f"{name} is an SDXL refiner (found: {layout.describe()}), which only finishes another "
                        "model's pictures; Studio cannot run it on its own")
    return ModelInfo(
        path=path,
        kind="checkpoint",
        arch=arch,
        inpaint=inpaint,
        prediction=prediction,
        distilled=_distilled_hint(hints),
        context_width=layout.context_width,
        config=config.path if config is not None else None,
    )


def _prediction(arch: str, inpaint: bool, keys: set[str], metadata: dict[str, str], hints: str) -> str:
    declared = str(metadata.get("modelspec.prediction_type", "")).lower()
    if "v_pred" in keys or declared in ("v", "v_prediction") or "vpred" in hints or "v-pred" in hints:
        return "v_prediction"
    if declared in ("epsilon", "eps"):
        return "epsilon"
    # SD 2.x at 768 px (2.0-v, 2.1) predicts v; the 512 px "base" models and SD 2's inpainting
    # model (512 px) predict noise.
    if arch == "sd2" and not inpaint and "base" not in hints and "512" not in hints:
        return "v_prediction"
    return "epsilon"


def _distilled_hint(text: str) -> str:
    return next((kind for fragment, kind in DISTILLED_HINTS if fragment in text), "")


def _name_hints(path: Path) -> str:
    # The last three parts: a HF cache snapshot is models--owner--name/snapshots/<hash>.
    return " ".join(path.parts[-3:]).lower()


def native_size_for(info: ModelInfo) -> int:
    """The image size (px) a checkpoint was trained at, from its architecture and variant."""
    if info.distilled == "turbo" and any(name in _name_hints(info.path) for name in OFFICIAL_TURBO_NAMES):
        return 512
    if info.arch == "sdxl":
        return 1024
    if info.arch == "sd2" and info.prediction == "v_prediction":
        return 768
    return 512


# ---- the family -------------------------------------------------------------------------------

CONTEXT_WIDTH_ARCH = {768: "sd1", 1024: "sd2", 2048: "sdxl"}  # text-encoder width -> family
ARCH_NAMES = {"sd1": "SD 1.x", "sd2": "SD 2.x", "sdxl": "SDXL"}


@dataclass(frozen=True)
class Family:
    """What kind of model a source is: what picks pipelines, configs, defaults and LoRA checks."""

    arch: str  # "sd1", "sd2" or "sdxl"
    variant: str  # "base", "inpaint" or "v-prediction"
    native_size: int  # px the model was trained at
    distilled: str = ""  # "", "turbo", "lcm", "lightning" or "hyper"
    context_width: int = 0  # the text width its UNet reads (768 for SD 1.x); 0 if unknown

    @property
    def name(self) -> str:
        return ARCH_NAMES.get(self.arch, self.arch)


def detect_family(source: Path | str, allow_unsafe_pickles: bool = False) -> Family:
    """The family of a diffusers folder or single-file checkpoint; UserError (one line) if it is
    neither, or not one Studio runs."""
    return family_of(inspect_source(source, allow_unsafe_pickles))


def family_of(info: ModelInfo) -> Family:
    """The family of an inspected source."""
    if info.inpaint:
        variant = "inpaint"
    elif info.prediction == "v_prediction":
        variant = "v-prediction"
    else:
        variant = "base"
    # a folder's configs (or the config folder given to a single file) say its size; a file's
    # family and variant do (a YAML's image_size is no guide: SD 1's says 32 latents)
    configs = info.path if info.kind == "diffusers" else info.config
    try:
        size = folder_native_size(configs) if configs is not None and configs.is_dir() else native_size_for(info)
    except UserError:
        size = native_size_for(info)
    width = info.context_width or next((w for w, a in CONTEXT_WIDTH_ARCH.items() if a == info.arch), 0)
    return Family(info.arch, variant, size, info.distilled, width)


def folder_native_size(folder: Path) -> int:
    """unet.sample_size x the VAE's downscale factor, from a diffusers folder's configs: 512 for
    SD 1.x, 768 for SD 2.x-v, 1024 for SDXL. UserError (one line) if they cannot be read."""
    try:
        unet = json.loads((folder / "unet" / "config.json").read_text(encoding="utf-8"))
        vae = json.loads((folder / "vae" / "config.json").read_text(encoding="utf-8"))
        sample = unet["sample_size"]
        sample = sample[0] if isinstance(sample, list) else int(sample)
        return int(sample) * 2 ** (len(vae["block_out_channels"]) - 1)
    except (OSError, ValueError, KeyError, TypeError, IndexError) as exc:
        raise UserError(f"cannot read the model's unet/vae config in {folder} ({exc})") from None


def arch_for_width(width: int) -> str:
    """The family whose text encoder is `width` wide (768/1024/2048), or "" (tiny and odd models)."""
    return CONTEXT_WIDTH_ARCH.get(int(width), "")


def pipeline_arch(pipe: Any) -> str:
    """A loaded pipeline's family by its class and cross-attention width; "" when the width is
    none of SD's (the tiny test models)."""
    if type(pipe).__name__.startswith("StableDiffusionXL"):
        return "sdxl"
    return arch_for_width(pipe.unet.config.cross_attention_dim)


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
    """SD 1.x / 2.x / SDXL from the width of a LoRA's cross-attention key projection."""
    return arch_for_width(lora_context_width(path))


# ---- helpers ---------------------------------------------------------------------------------


def _read_json(path: Path, model: Path, label: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{model} is not a diffusers model folder (it has no {label})") from None
    except (OSError, ValueError) as exc:
        raise UserError(f"{model.name} has an unreadable {label} ({_first_line(exc)})") from None
    if not isinstance(data, dict):
        raise UserError(f"{model.name} has an unreadable {label}")
    return data


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
