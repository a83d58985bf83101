"""Spherical interpolation of tensors, shared by prompt blending and seed blending."""

from __future__ import annotations

import torch

_EPS = 1e-12


def slerp(a: torch.Tensor, b: torch.Tensor, t: float, dim: int = -1) -> torch.Tensor:
    """Interpolate along the great circle between the directions of a and b (vectors along `dim`).

    The length is interpolated linearly, so vectors of equal length keep it (unlike lerp, whose
    midpoint of two orthogonal unit vectors has length 0.71). Nearly parallel vectors fall back to
    lerp of the directions, where slerp's formula divides by ~0. Computed in float32, returned in
    a's dtype. t = 0 and t = 1 are not special-cased here: callers that need exact endpoints
    return the endpoint itself.
    """
    dtype = a.dtype
    a32, b32 = a.float(), b.float()
    norm_a = a32.norm(dim=dim, keepdim=True)
    norm_b = b32.norm(dim=dim, keepdim=True)
    unit_a = a32 / norm_a.clamp_min(_EPS)
    unit_b = b32 / norm_b.clamp_min(_EPS)
    cos = (unit_a * unit_b).sum(dim=dim, keepdim=True).clamp(-1.0, 1.0)
    theta = torch.acos(cos)
    sin = torch.sin(theta)
    near = sin < 1e-6
    safe_sin = torch.where(near, torch.ones_like(sin), sin)
    weight_a = torch.where(near, torch.full_like(sin, 1.0 - t), torch.sin((1.0 - t) * theta) / safe_sin)
    weight_b = torch.where(near, torch.full_like(sin, t), torch.sin(t * theta) / safe_sin)
    direction = weight_a * unit_a + weight_b * unit_b
    direction = direction / direction.norm(dim=dim, keepdim=True).clamp_min(_EPS)
    return (direction * ((1.0 - t) * norm_a + t * norm_b)).to(dtype)


def weighted_slerp(tensors: list[torch.Tensor], weights: list[float], dim: int = -1) -> torch.Tensor:
    """A weighted spherical mean by iterative slerp: exactly slerp for two inputs.

    Each new input is slerped into the running mean by its share of the weight so far
    (w_i / (w_0 + ... + w_i)). For three or more inputs this approximates the true spherical mean
    and depends slightly on order; it is cheap and exact at the corners, which the sliders need.
    """
    result, total = tensors[0], weights[0]
    for tensor, weight in zip(tensors[1:], weights[1:], strict=True):
        total += weight
        if weight > 0:
            result = slerp(result, tensor, weight / total, dim=dim)
    return result


def weighted_lerp(tensors: list[torch.Tensor], weights: list[float]) -> torch.Tensor:
    dtype = tensors[0].dtype
    out = sum(w * x.float() for x, w in zip(tensors, weights, strict=True))
    return out.to(dtype)
