"""Where and how a model runs: device and dtype choice, memory options, and out-of-memory advice.

CUDA, then Apple MPS, then CPU unless EngineSettings.device says otherwise; half precision on GPUs
(fp16, or bf16 when asked and supported), fp32 on the CPU, where half precision is slow or missing.
"""

from __future__ import annotations

import gc
import logging
from dataclasses import dataclass
from typing import Any

import torch

from studio.core.settings import EngineSettings
from studio.engine.jobs import UserError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DevicePlan:
    device: torch.device
    dtype: torch.dtype
    notes: tuple[str, ...] = ()  # settings we could not honour, in words, for a JobWarning


def mps_available() -> bool:
    backend = getattr(torch.backends, "mps", None)
    return backend is not None and backend.is_available()


def choose_device(settings: EngineSettings) -> torch.device:
    name = settings.device
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        return torch.device("mps" if mps_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise UserError("the engine settings ask for a CUDA GPU but none is available: set device to auto or cpu")
    if name == "mps" and not mps_available():
        raise UserError("the engine settings ask for Apple MPS but it is not available: set device to auto or cpu")
    return torch.device(name)


def choose_dtype(settings: EngineSettings, device: torch.device) -> tuple[torch.dtype, tuple[str, ...]]:
    kind = device.type
    wanted = settings.dtype
    if wanted == "auto":
        return (torch.float32 if kind == "cpu" else torch.float16), ()
    if wanted == "float32":
        return torch.float32, ()
    if kind == "cpu" and wanted == "float16":
        return torch.float32, ("float16 is slow or unsupported on the CPU: using float32",)
    if wanted == "bfloat16" and not bf16_supported(device):
        fallback = torch.float32 if kind == "cpu" else torch.float16
        name = str(fallback).removeprefix("torch.")
        return fallback, (f"bfloat16 is not supported on this {kind.upper()}: using {name}",)
    return getattr(torch, wanted), ()


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_available() and torch.cuda.is_bf16_supported()
    if device.type == "mps":
        try:
            torch.zeros(1, dtype=torch.bfloat16, device=device)
        except (RuntimeError, TypeError):
            return False
        return True
    return True  # CPU kernels exist for bf16


def plan(settings: EngineSettings) -> DevicePlan:
    device = choose_device(settings)
    dtype, notes = choose_dtype(settings, device)
    return DevicePlan(device, dtype, notes)


def place_pipeline(pipe: Any, settings: EngineSettings, device_plan: DevicePlan) -> list[str]:
    """Move `pipe` to its device with the memory options from settings; returns notes for the user.

    SDPA attention is diffusers' default on torch 2, so nothing is needed for it; slicing trades
    speed for memory on top of it. CPU offload keeps each model on the CPU until it runs.
    """
    notes: list[str] = []
    if settings.cpu_offload and device_plan.device.type in ("cuda", "mps"):
        try:
            pipe.enable_model_cpu_offload(device=device_plan.device)
        except (ImportError, RuntimeError, ValueError) as exc:
            notes.append(f"CPU offload is unavailable ({exc}); loading the whole model on the GPU")
            pipe.to(device_plan.device)
    else:
        if settings.cpu_offload:
            notes.append("CPU offload only helps on a GPU; ignored on the CPU")
        pipe.to(device_plan.device)
    if settings.attention_slicing:
        pipe.enable_attention_slicing()
    if settings.vae_tiling and getattr(pipe, "vae", None) is not None:
        pipe.vae.enable_tiling()
    return notes


def oom_advice(
    settings: EngineSettings, width: int = 512, height: int = 512, device: str = "",
    exc: BaseException | None = None,
) -> str:
    """One line: what ran out, and the first setting that would most likely help."""
    text = str(exc).lower() if exc is not None else ""
    on_gpu = (
        device in ("cuda", "mps")
        or (not device and settings.device in ("cuda", "mps"))
        or any(word in text for word in ("cuda", "mps", "gpu"))
    )
    if width * height > 1024 * 1024 and not settings.vae_tiling:
        tip = "turn on VAE tiling in the engine settings, or make the image smaller"
    elif on_gpu and not settings.cpu_offload:
        tip = "turn on CPU offload in the engine settings (slower, much less GPU memory)"
    elif not settings.attention_slicing:
        tip = "turn on attention slicing in the engine settings"
    elif not settings.vae_tiling:
        tip = "turn on VAE tiling in the engine settings"
    else:
        tip = "make the image smaller or close other programs using the GPU"
    where = "GPU" if on_gpu else "CPU"
    return f"out of memory on the {where} at {width}x{height}: {tip}"


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
    if mps_available():
        torch.mps.empty_cache()
