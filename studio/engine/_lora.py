"""LoRA adapters on SD / SDXL pipelines through diffusers' PEFT integration.

`apply_loras(pipe, [(path, weight), ...])` makes exactly those adapters active at those weights.
Each file is loaded once per pipeline (named by its path, size and mtime, so an edited file loads
again) and kept for reuse; the pipelines made with from_pipe share the UNet and text encoders, so
they see the same adapters.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from studio.engine.family import ARCH_NAMES, PICKLE_SUFFIXES, lora_arch, pickle_refusal
from studio.engine.family import pipeline_arch as pipeline_arch  # its old home
from studio.engine.jobs import UserError

log = logging.getLogger(__name__)

MAX_KEPT = 8  # adapters kept loaded (active or not) before the oldest unused ones are dropped


def adapter_name(path: Path) -> str:
    stat = path.stat()
    key = f"{path.resolve()}|{stat.st_size}|{stat.st_mtime_ns}"
    return "lora_" + hashlib.sha256(key.encode()).hexdigest()[:12]


def apply_loras(pipe: Any, loras: Sequence[tuple[str, float]], allow_unsafe_pickles: bool = False) -> list[str]:
    """Activate exactly `loras` on `pipe`; returns the adapter names in order. UserError if one can't load."""
    loaded: list[str] = getattr(pipe, "_studio_loras", [])
    names, weights = [], []
    for raw_path, weight in loras:
        path = Path(raw_path).expanduser()
        if not path.is_file():
            raise UserError(f"LoRA not found: {path}")
        if path.suffix.lower() in PICKLE_SUFFIXES and not allow_unsafe_pickles:
            raise UserError(pickle_refusal(path))
        file_arch, model_arch = lora_arch(path), pipeline_arch(pipe)
        if file_arch and model_arch and file_arch != model_arch:
            raise UserError(
                f"{path.name} is a LoRA for {ARCH_NAMES[file_arch]}, but the model is {ARCH_NAMES[model_arch]}"
            )
        name = adapter_name(path)
        if name not in loaded:
            _load(pipe, path, name)
            loaded.append(name)
        names.append(name)
        weights.append(float(weight))
    pipe._studio_loras = loaded
    if names:
        pipe.enable_lora()
        pipe.set_adapters(names, adapter_weights=weights)
    elif loaded:
        pipe.disable_lora()
    _drop_unused(pipe, loaded, set(names))
    return names


def _load(pipe: Any, path: Path, name: str) -> None:
    try:
        import peft  # noqa: F401 - diffusers needs it for adapters
    except ImportError:
        raise UserError("LoRAs need the peft package: pip install peft") from None
    try:
        pipe.load_lora_weights(str(path), adapter_name=name)
    except (OSError, ValueError, KeyError, RuntimeError, TypeError) as exc:
        text = str(exc).strip().splitlines()
        raise UserError(f"cannot apply LoRA {path.name}: {text[0][:200] if text else type(exc).__name__}") from None
    if name not in _adapters(pipe):
        raise UserError(f"{path.name} has no LoRA weights this model can use")


def _adapters(pipe: Any) -> set[str]:
    return {name for names in pipe.get_list_adapters().values() for name in names}


def _drop_unused(pipe: Any, loaded: list[str], active: set[str]) -> None:
    unused = [name for name in loaded if name not in active]
    while len(loaded) > MAX_KEPT and unused:
        name = unused.pop(0)
        pipe.delete_adapters(name)
        loaded.remove(name)
