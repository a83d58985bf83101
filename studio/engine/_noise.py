"""Initial noise from the request's seed(s).

`initial_latents(request, shape, dtype, device)` returns the starting noise, drawn on the CPU from
torch.Generator("cpu").manual_seed(seed) in the target dtype, exactly as diffusers' randn_tensor
does when given a CPU generator, so the same seed gives the same picture on every device and the
same picture as a plain pipeline call.

With `seed_b` set, the noise of `seed` and of `seed_b` is slerped by `seed_mix`: 0 gives exactly
seed's noise, 1 exactly seed_b's. Slerp, not lerp: two independent Gaussian draws are nearly
orthogonal, so their lerp midpoint has only ~71% of the norm the sampler expects (a washed-out,
blurry image); slerp keeps the norm, so every in-between is a plausible noise of its own.
"""

from __future__ import annotations

import torch

from studio.core.request import GenerationRequest
from studio.engine._slerp import slerp


def seed_noise(
    seed: int, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device | str = "cpu"
) -> torch.Tensor:
    generator = torch.Generator("cpu").manual_seed(seed)
    return torch.randn(shape, generator=generator, device="cpu", dtype=dtype).to(device)


def initial_latents(
    request: GenerationRequest, shape: tuple[int, ...], dtype: torch.dtype, device: torch.device
) -> torch.Tensor:
    mix = float(request.seed_mix)
    if request.seed_b is None or mix <= 0.0:
        return seed_noise(request.seed, shape, dtype, device)
    if mix >= 1.0:
        return seed_noise(request.seed_b, shape, dtype, device)
    a = seed_noise(request.seed, shape, torch.float32)
    b = seed_noise(request.seed_b, shape, torch.float32)
    # one great circle per image in the batch: flatten everything but the batch axis
    mixed = slerp(a.reshape(shape[0], -1), b.reshape(shape[0], -1), mix, dim=1)
    return mixed.reshape(shape).to(device=device, dtype=dtype)


def step_noise_seed(request: GenerationRequest) -> int:
    """The seed of the fresh noise ancestral samplers ("Euler a") add at each step: seed A's until
    the seed blend is all the way at B, so seed_mix 1 gives exactly seed B's image with any sampler."""
    if request.seed_b is not None and request.seed_mix >= 1.0:
        return request.seed_b
    return request.seed
