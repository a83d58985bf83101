"""Sharper live previews from a TAESD tiny decoder, when the user has one.

A diffusers `AutoencoderTiny` folder named `taesd` (SD 1.x / 2.x latents) or `taesdxl` (SDXL) in
the models folder decodes each step's latents into a full-size picture in milliseconds on a GPU,
instead of the approximate linear map of _previews.py. Optional: without the folder, or if it
fails to load, the caller keeps the linear map.
"""

from __future__ import annotations

import logging
from pathlib import Path

import numpy as np
import torch
from PIL import Image

log = logging.getLogger(__name__)


class TinyDecoderPreview:
    """Same interface as _previews.PreviewMap: `channels`, `source`, `to_image(latents)`."""

    def __init__(self, decoder, name: str) -> None:  # noqa: ANN001 - diffusers AutoencoderTiny
        self.decoder = decoder
        self.source = name
        self.upscale = 8

    @property
    def channels(self) -> int:
        return int(self.decoder.config.latent_channels)

    @torch.no_grad()
    def to_image(self, latents: torch.Tensor) -> Image.Image:
        # TAESD reads the UNet's (scaled) latents directly and returns pixels in [-1, 1].
        first = latents[:1].to(device=self.decoder.device, dtype=self.decoder.dtype)
        pixels = self.decoder.decode(first).sample[0].float().clamp(-1, 1)
        array = ((pixels + 1) * 127.5).round().to(torch.uint8).permute(1, 2, 0).cpu().numpy()
        return Image.fromarray(np.ascontiguousarray(array), "RGB")


def tiny_decoder_preview(
    models_dir: Path, arch: str, device: torch.device, dtype: torch.dtype
) -> TinyDecoderPreview | None:
    name = "taesdxl" if arch == "sdxl" else "taesd"
    folder = models_dir / name
    if not (folder / "config.json").is_file():
        return None
    from diffusers import AutoencoderTiny

    try:
        decoder = AutoencoderTiny.from_pretrained(folder, local_files_only=True, use_safetensors=True, dtype=dtype)
    except (OSError, ValueError, KeyError, RuntimeError) as exc:
        log.warning("ignoring the tiny preview decoder in %s: %s", folder, exc)
        return None
    return TinyDecoderPreview(decoder.to(device).eval(), name)
