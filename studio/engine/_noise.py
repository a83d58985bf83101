"""Initial noise from the request's seed(s).

Stub contract (issue 5 adds the seed-B slerp, keeps the interface): `initial_latents(request, shape,
dtype, device)` returns the starting noise, drawn on the CPU from torch.Generator().manual_seed(seed)
so the same seed gives the same picture on every device, exactly as diffusers' randn_tensor does
when given a CPU generator.
"""

from __future__ import annotations

import torch

from studio.core.request import GenerationRequest


def initial_latents(
    request: GenerationRequest, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    generator = torch.Generator("cpu").manual_seed(request.seed)
    noise = torch.randn(shape, generator=generator, dtype=torch.float32)
    return noise.to(device=device, dtype=dtype)
