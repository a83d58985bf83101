"""Model sources, read safely and offline: diffusers folders and single-file checkpoints.

`inspect_source` tells what a folder or file holds (architecture, inpainting, prediction type,
distilled or not) from configs or the safetensors header alone: no weights are read, so the model
library can call it on every file. `load_single_file` builds a pipeline from an original (LDM/SGM
layout) checkpoint with diffusers' single-file loader, fed with configs shipped in
resources/configs and the CLIP tokenizer shipped there, so nothing is ever downloaded.

torch and diffusers are imported inside the loading functions only: inspecting stays light.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.atomic import atomic_write_text
from studio.core.paths import repo_resources, subdir
from studio.engine.jobs import UserError

SAFE_SUFFIXES = (".safetensors",)
PICKLE_SUFFIXES = (".ckpt", ".bin", ".pt", ".pth")
ARCHES = ("sd1", "sd2", "sdxl")

UNET_IN = "model.diffusion_model.input_blocks.0.0.weight"
SD1_CLIP = "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight"
SD2_OPENCLIP = "cond_stage_model.model.token_embedding.weight"
SDXL_OPENCLIP = "conditioner.embedders.1.model."
SDXL_REFINER = "conditioner.embedders.0.model."
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
    context_width: int = 0  # a folder UNet's cross-attention width (768 for SD 1.x); 0 if unread

    @property
    def family(self) -> str:
        return "sdxl" if self.arch == "sdxl" else "sd"


# ---- inspecting ------------------------------------------------------------------------------


def inspect_source(path: Path | str, allow_unsafe_pickles: bool = False) -> ModelInfo:
    """Describe a diffusers folder or single-file checkpoint; UserError (one line) if it is neither."""
    path = Path(path).expanduser()
    if not path.exists():
        raise UserError(f"model not found: {path}")
    if path.is_dir():
        return inspect_folder(path, allow_unsafe_pickles)
    return inspect_file(path, allow_unsafe_pickles)


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
    arch = "sdxl" if family == "sdxl" else ("sd2" if unet.get("cross_attention_dim") == 1024 else "sd1")
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


def inspect_file(path: Path, allow_unsafe_pickles: bool = False) -> ModelInfo:
    suffix = path.suffix.lower()
    if suffix in PICKLE_SUFFIXES:
        if not allow_unsafe_pickles:
            raise UserError(pickle_refusal(path))
        keys, shapes, metadata = _pickle_header(path)
    elif suffix in SAFE_SUFFIXES:
        keys, shapes, metadata = safetensors_header(path)
    else:
        raise UserError(f"{path.name} is not a model file Studio reads (use a .safetensors file or a diffusers folder)")
    return classify_checkpoint(path, keys, shapes, metadata)


def safetensors_header(path: Path) -> tuple[set[str], dict[str, tuple[int, ...]], dict[str, str]]:
    """Tensor names, the shapes we look at, and metadata, from the header only (no weights read)."""
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="numpy") as handle:
            keys = set(handle.keys())
            shapes = {k: tuple(handle.get_slice(k).get_shape()) for k in _shape_keys(keys)}
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


def _shape_keys(keys: set[str]) -> list[str]:
    wanted = [UNET_IN, SD1_CLIP, SD2_OPENCLIP, SDXL_OPENCLIP + "positional_embedding"]
    return [k for k in wanted if k in keys]


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


def classify_checkpoint(
    path: Path, keys: set[str], shapes: dict[str, tuple[int, ...]], metadata: dict[str, str]
) -> ModelInfo:
    """Architecture and variant from tensor names and a few shapes (see module docstring)."""
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
    if any(k.startswith(SDXL_OPENCLIP) for k in keys):
        arch = "sdxl"
    elif any(k.startswith(SDXL_REFINER) for k in keys):
        raise UserError(f"{name} is an SDXL refiner, which Studio cannot run on its own")
    elif SD2_OPENCLIP in keys:
        arch = "sd2"
    elif SD1_CLIP in keys:
        arch = "sd1"
    else:
        raise UserError(f"{name} has no text encoder Studio knows (it is not SD 1.x, SD 2.x or SDXL)")
    in_channels = shapes[UNET_IN][1]
    if in_channels not in (4, 9):
        raise UserError(f"{name} has a UNet with {in_channels} input channels, which Studio cannot run")
    hints = f"{name} {metadata.get('modelspec.title', '')} {metadata.get('modelspec.architecture', '')}".lower()
    return ModelInfo(
        path=path,
        kind="checkpoint",
        arch=arch,
        inpaint=in_channels == 9,
        prediction=_prediction(arch, keys, metadata, hints),
        distilled=_distilled_hint(hints),
    )


def _prediction(arch: str, keys: set[str], metadata: dict[str, str], hints: str) -> str:
    declared = str(metadata.get("modelspec.prediction_type", "")).lower()
    if "v_pred" in keys or declared in ("v", "v_prediction") or "vpred" in hints or "v-pred" in hints:
        return "v_prediction"
    if declared in ("epsilon", "eps"):
        return "epsilon"
    # SD 2.x at 768 px (2.0-v, 2.1) predicts v; only the 512 px "base" variants predict noise.
    if arch == "sd2" and "base" not in hints and "512" not in hints:
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


# ---- loading ---------------------------------------------------------------------------------


def load_single_file(
    info: ModelInfo, dtype: Any = None, config_dir: Path | None = None, allow_unsafe_pickles: bool = False
) -> Any:
    """A txt2img (or, for 9-channel UNets, inpaint) pipeline built from a single-file checkpoint.

    `config_dir` is a diffusers folder whose configs (and tokenizers, if it has them) describe the
    checkpoint; by default the one for `info` from resources/configs, patched for the variant.
    """
    import pickle

    import diffusers

    path = info.path
    if path.suffix.lower() in PICKLE_SUFFIXES and not allow_unsafe_pickles:
        raise UserError(pickle_refusal(path))  # inspect_source already refused; belt and braces
    config = Path(config_dir) if config_dir is not None else variant_config_dir(info)
    class_name = pipeline_class_name(info.family, "inpaint" if info.inpaint else "txt2img")
    kwargs: dict[str, Any] = {}
    if not (config / "tokenizer").is_dir():
        kwargs["tokenizer"] = clip_tokenizer(pad_token="!" if info.arch == "sd2" else "<|endoftext|>")
    if info.arch == "sdxl" and not (config / "tokenizer_2").is_dir():
        kwargs["tokenizer_2"] = clip_tokenizer(pad_token="!")
    if info.family == "sd":
        kwargs.update(safety_checker=None, requires_safety_checker=False)
    try:
        pipe = getattr(diffusers, class_name).from_single_file(
            str(path), config=str(config), local_files_only=True, dtype=dtype, **kwargs
        )
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, pickle.UnpicklingError) as exc:
        raise UserError(f"cannot load {path.name}: {_first_line(exc)}") from None
    pipe.set_progress_bar_config(disable=True)
    return pipe


def pipeline_class_name(family: str, mode: str) -> str:
    prefix = "StableDiffusionXL" if family == "sdxl" else "StableDiffusion"
    suffix = {"txt2img": "", "blend": "", "img2img": "Img2Img", "inpaint": "Inpaint"}[mode]
    return f"{prefix}{suffix}Pipeline"


def pipeline_for(pipe: Any, mode: str) -> Any:
    """The pipeline for `mode` (txt2img, img2img, inpaint) sharing `pipe`'s loaded components.

    A 9-channel inpainting UNet only runs in the inpaint pipeline, whatever the mode: callers give
    it a white mask (repaint everything) for txt2img/img2img.
    """
    import diffusers

    family = "sdxl" if type(pipe).__name__.startswith("StableDiffusionXL") else "sd"
    if int(pipe.unet.config.in_channels) == 9:
        mode = "inpaint"
    wanted = getattr(diffusers, pipeline_class_name(family, mode))
    if type(pipe) is wanted:
        return pipe
    # Kept on the pipe: later jobs reuse the wrapper (it holds no weights of its own).
    derived_by_class = pipe.__dict__.setdefault("_studio_derived", {})
    if wanted.__name__ not in derived_by_class:
        derived = wanted.from_pipe(pipe)
        derived.set_progress_bar_config(disable=True)
        derived_by_class[wanted.__name__] = derived
    return derived_by_class[wanted.__name__]


# ---- bundled configs and tokenizer -------------------------------------------------------------


def configs_root() -> Path:
    return repo_resources() / "configs"


def variant_config_dir(info: ModelInfo) -> Path:
    """resources/configs/<arch>, patched for inpainting / prediction type into STUDIO_HOME/cache."""
    base = configs_root() / info.arch
    if not (base / "model_index.json").is_file():
        raise UserError(f"Studio's configs for {info.arch} are missing from {base}; reinstall Studio")
    base_pred = _read_json(base / "scheduler" / "scheduler_config.json", base, "scheduler")["prediction_type"]
    if not info.inpaint and info.prediction == base_pred:
        return base
    fingerprint = hashlib.sha256()
    for file in sorted(base.rglob("*.json")):
        fingerprint.update(file.read_bytes())
    name = f"{info.arch}-{'inpaint' if info.inpaint else 'plain'}-{info.prediction}-{fingerprint.hexdigest()[:8]}"
    target = subdir("cache") / "configs" / name
    if (target / "model_index.json").is_file():
        return target
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(dir=target.parent, prefix=f".{name}."))
    try:
        shutil.copytree(base, tmp, dirs_exist_ok=True)
        _patch_json(tmp / "scheduler" / "scheduler_config.json", prediction_type=info.prediction)
        if info.inpaint:
            _patch_json(tmp / "unet" / "config.json", in_channels=9)
            _patch_json(tmp / "model_index.json", _class_name=pipeline_class_name(info.family, "inpaint"))
        if info.arch == "sd2" and info.prediction == "epsilon":  # the 512 px base model
            _patch_json(tmp / "unet" / "config.json", sample_size=64)
            _patch_json(tmp / "vae" / "config.json", sample_size=512)
        os.replace(tmp, target)
    except OSError:
        if not (target / "model_index.json").is_file():  # another thread may have won the race
            raise
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return target


def clip_tokenizer(pad_token: str = "<|endoftext|>") -> Any:
    """The real CLIP BPE tokenizer (SD 1.x, 2.x and both SDXL encoders share its vocabulary).

    Built from OpenAI's MIT-licensed bpe_simple_vocab_16e6.txt.gz in resources/configs/clip-tokenizer,
    written once as vocab.json/merges.txt in STUDIO_HOME/cache. SD 2.x and SDXL's second encoder
    pad with "!" (OpenCLIP), SD 1.x and SDXL's first with the end token.
    """
    from transformers import CLIPTokenizer

    folder = subdir("cache") / "clip-tokenizer"
    vocab_file, merges_file = folder / "vocab.json", folder / "merges.txt"
    if not (vocab_file.is_file() and merges_file.is_file()):
        vocab, merges = clip_vocab_and_merges()
        atomic_write_text(merges_file, "#version: 0.2\n" + "\n".join(merges) + "\n")
        atomic_write_text(vocab_file, json.dumps({token: i for i, token in enumerate(vocab)}))
    return CLIPTokenizer(str(vocab_file), str(merges_file), pad_token=pad_token, model_max_length=77)


def clip_vocab_and_merges() -> tuple[list[str], list[str]]:
    bpe = configs_root() / "clip-tokenizer" / "bpe_simple_vocab_16e6.txt.gz"
    try:
        lines = gzip.open(bpe, "rt", encoding="utf-8").read().split("\n")
    except OSError as exc:
        raise UserError(f"the CLIP tokenizer vocabulary is missing or damaged ({bpe}): reinstall Studio ({exc})") from None
    # CLIP uses the first 48,894 merges; its vocabulary is the 256 byte symbols, the same with an
    # end-of-word mark, one token per merge, then the start and end tokens (49,408 in all).
    merges = lines[1 : 49152 - 256 - 2 + 1]
    symbols = list(_byte_symbols().values())
    vocab = symbols + [s + "</w>" for s in symbols] + ["".join(m.split(" ")) for m in merges]
    return vocab + ["<|startoftext|>", "<|endoftext|>"], merges


def _byte_symbols() -> dict[int, str]:
    # Byte-level BPE needs a printable character per byte: printable Latin-1 bytes stand for
    # themselves (listed first), the rest map to code points from 256 upwards, in byte order.
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    table = {b: chr(b) for b in printable}
    extra = 0
    for b in range(256):
        if b not in table:
            table[b] = chr(256 + extra)
            extra += 1
    return table


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


def _patch_json(path: Path, **changes: Any) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:200] if text else type(exc).__name__
