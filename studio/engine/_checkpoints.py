"""Single-file checkpoints turned into pipelines, safely and offline.

What a folder or file holds is told by family.py (`inspect_source`, re-exported here).
`load_single_file` builds a pipeline from an original (LDM/SGM
layout) checkpoint with diffusers' single-file loader, fed with configs shipped in
resources/configs (or the YAML / diffusers folder the artist gave the file) and the CLIP
tokenizer shipped there, so nothing is ever downloaded.

torch and diffusers are imported inside the loading functions only.
"""

from __future__ import annotations

import gzip
import hashlib
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

from studio.core.atomic import atomic_write_text
from studio.core.paths import repo_resources, subdir
from studio.engine.family import (  # noqa: F401 - inspection moved to family.py; old names kept here
    ARCH_NAMES,
    ARCHES,
    NEEDS_CONFIG,
    PICKLE_SUFFIXES,
    ModelInfo,
    _first_line,
    _read_json,
    classify_checkpoint,
    inspect_file,
    inspect_folder,
    inspect_source,
    load_pickle_weights,
    native_size_for,
    pickle_refusal,
    safetensors_header,
    unet_context_width,
)
from studio.engine.jobs import UserError

# ---- loading ---------------------------------------------------------------------------------


def load_single_file(
    info: ModelInfo, dtype: Any = None, config_dir: Path | None = None, allow_unsafe_pickles: bool = False
) -> Any:
    """A txt2img (or, for 9-channel UNets, inpaint) pipeline built from a single-file checkpoint.

    `config_dir` is a diffusers folder whose configs (and tokenizers, if it has them) describe the
    checkpoint: the one the artist gave (info.config) if a folder, else the one for `info` from
    resources/configs, patched for the variant. A YAML the artist gave goes to diffusers as
    `original_config`, which then builds the UNet and VAE from it; never a download either way.
    """
    import pickle

    import diffusers
    from diffusers.loaders.single_file_utils import SingleFileComponentError

    path = info.path
    if path.suffix.lower() in PICKLE_SUFFIXES and not allow_unsafe_pickles:
        raise UserError(pickle_refusal(path))  # inspect_source already refused; belt and braces
    given = info.config
    if config_dir is not None:
        config = Path(config_dir)
    else:
        config = given if given is not None and given.is_dir() else variant_config_dir(info)
    class_name = pipeline_class_name(info.family, "inpaint" if info.inpaint else "txt2img")
    kwargs: dict[str, Any] = {"original_config": str(given)} if given is not None and given.is_file() else {}
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
    except (OSError, ValueError, KeyError, RuntimeError, TypeError, pickle.UnpicklingError,
            SingleFileComponentError) as exc:
        if given is not None:
            raise UserError(f"cannot load {path.name} with the config {given.name}: {_first_line(exc)}") from None
        raise UserError(f"cannot load {path.name}: {_first_line(exc)}; if it is not a standard "
                        f"{ARCH_NAMES.get(info.arch, info.arch)} model, {NEEDS_CONFIG}") from None
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


def _patch_json(path: Path, **changes: Any) -> None:
    data = json.loads(path.read_text(encoding="utf-8"))
    data.update(changes)
    path.write_text(json.dumps(data, indent=2) + "\n", encoding="utf-8")
