"""Starting noise: parity with diffusers for one seed, exact ends and kept statistics for seed blends."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from diffusers.utils.torch_utils import randn_tensor

from studio.core.request import GenerationRequest
from studio.engine._noise import initial_latents, seed_noise

SHAPE = (1, 4, 64, 64)
CPU = torch.device("cpu")


def noise(**fields) -> torch.Tensor:
    return initial_latents(GenerationRequest("x", **fields), SHAPE, torch.float32, CPU)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float16, torch.bfloat16])
def test_one_seed_matches_diffusers_randn_tensor(dtype):
    ours = initial_latents(GenerationRequest("x", seed=42), SHAPE, dtype, CPU)
    theirs = randn_tensor(SHAPE, generator=torch.Generator("cpu").manual_seed(42), device=CPU, dtype=dtype)
    assert ours.dtype == dtype and torch.equal(ours, theirs)


def test_seed_mix_ends_are_exact():
    a, b = seed_noise(1, SHAPE, torch.float32), seed_noise(2, SHAPE, torch.float32)
    assert torch.equal(noise(seed=1, seed_b=2, seed_mix=0.0), a)
    assert torch.equal(noise(seed=1, seed_b=2, seed_mix=1.0), b)
    assert torch.equal(noise(seed=1, seed_b=None, seed_mix=0.7), a)  # no seed B: mix ignored


@pytest.mark.parametrize("mix", [0.25, 0.5, 0.75])
def test_in_between_keeps_the_noise_statistics(mix):
    a, b = seed_noise(1, SHAPE, torch.float32), seed_noise(2, SHAPE, torch.float32)
    mixed = noise(seed=1, seed_b=2, seed_mix=mix)
    assert not torch.allclose(mixed, a) and not torch.allclose(mixed, b)
    assert abs(mixed.std().item() - 1.0) < 0.02
    assert abs(mixed.mean().item()) < 0.02
    expected_norm = (1 - mix) * a.norm() + mix * b.norm()
    assert abs(mixed.norm().item() - expected_norm.item()) < 1e-2


@pytest.mark.parametrize("mix", [0.3, 0.5])
def test_in_between_is_the_great_circle_point_not_the_washed_out_lerp(mix):
    # Reference: Shoemake's slerp in float64 numpy, the length moving linearly from |a| to |b|,
    # of the two seeds' draws as diffusers makes them (a CPU generator per seed).
    x, y = (torch.randn(SHAPE, generator=torch.Generator("cpu").manual_seed(s)).double().numpy().ravel()
            for s in (1, 2))
    theta = np.arccos(np.dot(x, y) / (np.linalg.norm(x) * np.linalg.norm(y)))
    unit = (np.sin((1 - mix) * theta) * x / np.linalg.norm(x)
            + np.sin(mix * theta) * y / np.linalg.norm(y)) / np.sin(theta)
    expected = unit * ((1 - mix) * np.linalg.norm(x) + mix * np.linalg.norm(y))
    ours = noise(seed=1, seed_b=2, seed_mix=mix).double().numpy().ravel()
    np.testing.assert_allclose(ours, expected, atol=1e-4)
    # lerp of two nearly orthogonal draws keeps only ~71-76% of the spread the sampler expects
    assert ours.std() > 0.95 and ((1 - mix) * x + mix * y).std() < 0.8


def test_seed_mix_moves_steadily_from_a_to_b():
    a = seed_noise(1, SHAPE, torch.float32)
    distances = [(noise(seed=1, seed_b=2, seed_mix=t) - a).norm().item() for t in (0.1, 0.3, 0.5, 0.7, 0.9)]
    assert distances == sorted(distances)


def test_half_precision_blend_is_computed_in_float32():
    mixed = initial_latents(GenerationRequest("x", seed=1, seed_b=2, seed_mix=0.5), SHAPE, torch.float16, CPU)
    assert mixed.dtype == torch.float16 and torch.isfinite(mixed).all()
    torch.testing.assert_close(mixed.float(), noise(seed=1, seed_b=2, seed_mix=0.5), atol=2e-3, rtol=2e-3)
