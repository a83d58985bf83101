"""Live previews: a linear latent -> RGB map, so a denoising step costs no VAE decode.

Latents are taken as the pipeline sees them (already multiplied by vae.config.scaling_factor).
A model may ship its own fitted map as `preview_map.json` ({"weights": C x 3, "bias": [3]}) in its
folder or its vae/ folder; otherwise the approximate factors for its latent space, otherwise a grey
image of the channel mean, which still shows composition taking shape.

What is mapped is the sampler's estimate of the clean latent (x0), which `DenoisedTap` picks up
from each scheduler step: the noisy latent of the early steps is mostly noise and previews as
rainbow static, while x0 already carries the picture's coarse colours from the first step.
"""

from __future__ import annotations

import inspect
import json
import logging
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image

log = logging.getLogger(__name__)

PREVIEW_MAP_FILE = "preview_map.json"

# Rows are latent channels, columns R, G, B; outputs land roughly in -1..1.
_SD_FACTORS = (
    (0.30, 0.19, 0.21),
    (0.19, 0.29, 0.17),
    (-0.16, 0.19, 0.26),
    (-0.18, -0.27, -0.47),
)
_SDXL_FACTORS = (
    (0.39, 0.41, 0.45),
    (-0.26, -0.02, 0.07),
    (0.06, 0.17, -0.08),
    (-0.31, -0.24, -0.21),
)
_SDXL_BIAS = (0.10, 0.08, 0.03)
KNOWN_FACTORS: dict[str, tuple[tuple[tuple[float, ...], ...], tuple[float, ...]]] = {
    "sd1": (_SD_FACTORS, (0.0, 0.0, 0.0)),
    "sd2": (_SD_FACTORS, (0.0, 0.0, 0.0)),
    "sdxl": (_SDXL_FACTORS, _SDXL_BIAS),
}


@dataclass(frozen=True)
class PreviewMap:
    weights: torch.Tensor  # (C, 3) float32
    bias: torch.Tensor  # (3,) float32
    source: str  # "file", "sd1", "sdxl"... or "generic": for logs and Finished.info
    upscale: int = 2

    @property
    def channels(self) -> int:
        return int(self.weights.shape[0])

    @torch.no_grad()
    def to_image(self, latents: torch.Tensor) -> Image.Image:
        """The first latent of a (B, C, H, W) batch as a small RGB image (H, W times `upscale`)."""
        lat = latents[0].detach()
        weights = self.weights.to(device=lat.device, dtype=torch.float32)
        bias = self.bias.to(device=lat.device, dtype=torch.float32)
        # (C, H, W) x (C, 3) -> (H, W, 3), computed where the latents live, then one small copy.
        rgb = torch.einsum("chw,cr->hwr", lat.float(), weights) + bias
        pixels = ((rgb + 1.0) * 127.5).clamp_(0, 255).to(torch.uint8).cpu().numpy()
        image = Image.fromarray(np.ascontiguousarray(pixels), "RGB")
        if self.upscale > 1:
            image = image.resize(
                (image.width * self.upscale, image.height * self.upscale), Image.Resampling.NEAREST
            )
        return image


def generic_map(channels: int) -> PreviewMap:
    weights = torch.full((channels, 3), 1.0 / channels)
    return PreviewMap(weights, torch.zeros(3), "generic")


def read_map_file(path: Path, channels: int) -> PreviewMap:
    """Parse a preview_map.json; ValueError with a short reason if it does not fit the model."""
    data = json.loads(path.read_text(encoding="utf-8"))
    weights = torch.tensor(data["weights"], dtype=torch.float32)
    bias = torch.tensor(data.get("bias", [0.0, 0.0, 0.0]), dtype=torch.float32)
    if weights.shape != (channels, 3) or bias.shape != (3,):
        raise ValueError(
            f"expected weights {channels}x3 and bias of 3, got {tuple(weights.shape)} and {tuple(bias.shape)}"
        )
    return PreviewMap(weights, bias, "file")


def preview_map_for(model_dir: Path | None, arch: str, channels: int) -> PreviewMap:
    """The best map for a model: its own file, else the known factors for `arch`, else generic."""
    if model_dir is not None:
        for candidate in (model_dir / PREVIEW_MAP_FILE, model_dir / "vae" / PREVIEW_MAP_FILE):
            if candidate.is_file():
                try:
                    return read_map_file(candidate, channels)
                except (OSError, ValueError, KeyError, TypeError) as exc:
                    log.warning("ignoring %s: %s", candidate, exc)
    known = KNOWN_FACTORS.get(arch)
    if known is not None and len(known[0]) == channels:
        weights, bias = known
        return PreviewMap(torch.tensor(weights), torch.tensor(bias), arch)
    return generic_map(channels)


class DenoisedTap:
    """Stands in for a scheduler's `step` and keeps the clean-latent estimate of its last call.

    The step itself is untouched (same arguments, same return value), so the sampled picture stays
    bit for bit what it was; the estimate is only read for previews.
    """

    def __init__(self, scheduler: Any) -> None:
        self._scheduler = scheduler
        self._step = scheduler.step
        # Pipelines read step()'s signature to decide whether to pass `generator` and `eta`:
        # without it, Euler a and LCM would draw their fresh noise from another generator.
        self.__signature__ = inspect.signature(self._step)
        self.latest: torch.Tensor | None = None

    @classmethod
    def on(cls, scheduler: Any) -> DenoisedTap:
        """The tap on `scheduler`, installed on first use (schedulers are cached per model)."""
        tap = scheduler.__dict__.get("step")
        if not isinstance(tap, cls):
            tap = cls(scheduler)
            scheduler.step = tap
        tap.latest = None
        return tap

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        out = self._step(*args, **kwargs)
        self.latest = denoised_estimate(self._scheduler, out)
        return out

    def take(self) -> torch.Tensor | None:
        latest, self.latest = self.latest, None
        return latest


def denoised_estimate(scheduler: Any, output: Any) -> torch.Tensor | None:
    """x0 from one scheduler step: Euler, Euler a and DDIM return it as pred_original_sample, LCM
    as `denoised`; the multistep solvers (DPM++, UniPC) keep it as their last model output when
    they work in data prediction (DPM++'s "dpmsolver++", UniPC's predict_x0, Studio's choices)."""
    if isinstance(output, tuple):
        second = output[1] if len(output) > 1 else None
        if isinstance(second, torch.Tensor):
            return second
    else:
        for name in ("pred_original_sample", "denoised"):
            value = getattr(output, name, None)
            if isinstance(value, torch.Tensor):
                return value
    outputs = getattr(scheduler, "model_outputs", None)
    config = scheduler.config
    data_prediction = (
        config.get("algorithm_type") in ("dpmsolver++", "sde-dpmsolver++")
        if "algorithm_type" in config
        else bool(config.get("predict_x0", False))
    )
    if data_prediction and outputs and isinstance(outputs[-1], torch.Tensor):
        return outputs[-1]
    return None
