"""Prompt blends: exact ends, slerp/lerp in between, pooled embeddings, and the per-model cache."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from blend_support import EncoderCallCounter, tiny_sd, tiny_sdxl

from studio.core.request import GenerationRequest
from studio.engine._embeddings import EmbeddingCache, PromptEncoder
from studio.engine._slerp import slerp


def _reference_slerp(a: torch.Tensor, b: torch.Tensor, t: float) -> torch.Tensor:
    """Shoemake's slerp of each token vector in float64 numpy, its length moving linearly from
    |a| to |b|: written here, not imported, so the engine is checked against something else."""
    a64, b64 = a.double().numpy(), b.double().numpy()
    norm_a = np.linalg.norm(a64, axis=-1, keepdims=True)
    norm_b = np.linalg.norm(b64, axis=-1, keepdims=True)
    unit_a, unit_b = a64 / norm_a, b64 / norm_b
    theta = np.arccos(np.clip((unit_a * unit_b).sum(-1, keepdims=True), -1.0, 1.0))
    same = np.sin(theta) < 1e-6  # e.g. the start token, identical for every prompt
    with np.errstate(invalid="ignore", divide="ignore"):
        unit = (np.sin((1 - t) * theta) * unit_a + np.sin(t * theta) * unit_b) / np.sin(theta)
    unit = np.where(same, unit_a, unit)
    return torch.from_numpy(unit * ((1 - t) * norm_a + t * norm_b)).to(a.dtype)


def blend(t: float, mode: str = "slerp", **extra) -> GenerationRequest:
    return GenerationRequest(
        "a red circle", blend_prompts=("a blue square",), blend_weights=(t,), blend_mode=mode, **extra
    )


@pytest.fixture(params=["sd", "sdxl"])
def pipe(request):
    pipe = tiny_sd() if request.param == "sd" else tiny_sdxl()
    pipe.__dict__.pop("_studio_prompt_cache", None)  # each test starts with a cold cache
    return pipe


def test_mix_ends_are_exactly_the_pure_prompts(pipe):
    encoder = PromptEncoder(pipe)
    pure_a = encoder.encode(GenerationRequest("a red circle"))
    pure_b = encoder.encode(GenerationRequest("a blue square"))
    for mode in ("slerp", "lerp"):
        at_a, at_b = encoder.encode(blend(0.0, mode)), encoder.encode(blend(1.0, mode))
        for key in pure_a:
            assert torch.equal(at_a[key], pure_a[key]), key
            assert torch.equal(at_b[key], pure_b[key]), key


def test_in_between_differs_from_both_and_moves_steadily(pipe):
    encoder = PromptEncoder(pipe)
    a = encoder.encode_text("a red circle")
    b = encoder.encode_text("a blue square")
    distances = []
    for t in (0.2, 0.4, 0.6, 0.8):
        mixed = encoder.blend(blend(t))
        assert not torch.allclose(mixed.hidden, a.hidden) and not torch.allclose(mixed.hidden, b.hidden)
        distances.append((mixed.hidden - a.hidden).norm().item())
        if a.pooled is not None:
            assert not torch.allclose(mixed.pooled, a.pooled)
            assert not torch.allclose(mixed.pooled, b.pooled)
    assert distances == sorted(distances)


def test_slerp_keeps_token_norms_where_lerp_shrinks_them(pipe):
    encoder = PromptEncoder(pipe)
    a = encoder.encode_text("a red circle").hidden
    b = encoder.encode_text("a blue square").hidden
    s = encoder.blend(blend(0.5, "slerp")).hidden
    lerp = encoder.blend(blend(0.5, "lerp")).hidden
    torch.testing.assert_close(lerp, (a + b) / 2)
    expected = (a.norm(dim=-1) + b.norm(dim=-1)) / 2
    torch.testing.assert_close(s.norm(dim=-1), expected, rtol=1e-4, atol=1e-4)
    assert (lerp.norm(dim=-1) <= expected + 1e-4).all()
    assert (lerp.norm(dim=-1) < expected - 1e-3).any()


def test_moving_the_slider_does_not_re_encode(pipe):
    counter = EncoderCallCounter(pipe)
    try:
        encoder = PromptEncoder(pipe)
        encoder.encode(blend(0.5, negative_prompt="blurry"))
        first = counter.calls
        assert first == 3 * (2 if encoder.is_sdxl else 1)  # A, B and the negative, once each
        for t in (0.0, 0.1, 0.3, 0.7, 1.0):
            encoder.encode(blend(t, negative_prompt="blurry"))
        # a new encoder for the same loaded model shares its cache
        PromptEncoder(pipe).encode(blend(0.9, "lerp", negative_prompt="blurry"))
        assert counter.calls == first
        assert encoder.encoder_calls == 3
    finally:
        counter.close()


def test_changing_loras_re_encodes():
    pipe = tiny_sd()
    encoder = PromptEncoder(pipe, cache_size=8)
    encoder.encode_text("red", ())
    calls = encoder.encoder_calls
    encoder.encode_text("red", (("style.safetensors", 0.8),))
    assert encoder.encoder_calls == calls + 1


def test_cache_is_bounded_lru():
    cache = EmbeddingCache(size=2)
    cache.put(("a",), "A")
    cache.put(("b",), "B")
    assert cache.get(("a",)) == "A"  # a is now the most recent
    cache.put(("c",), "C")
    assert cache.get(("b",)) is None and cache.get(("a",)) == "A" and len(cache) == 2


def test_three_prompts_and_weights_past_one(pipe):
    encoder = PromptEncoder(pipe)
    request = GenerationRequest(
        "a red circle", blend_prompts=("a blue square", "a green star"), blend_weights=(1.0, 1.0)
    )
    assert [w for _, w in request.prompt_weights()] == [0.0, 0.5, 0.5]
    mixed = encoder.blend(request)
    b = encoder.encode_text("a blue square").hidden
    c = encoder.encode_text("a green star").hidden
    torch.testing.assert_close(mixed.hidden, _reference_slerp(b, c, 0.5), rtol=1e-4, atol=1e-4)
    only_c = encoder.blend(request.replace(blend_weights=(0.0, 1.0)))
    assert torch.equal(only_c.hidden, c)
    # three-way: every prompt counts
    three = encoder.blend(request.replace(blend_weights=(0.3, 0.3))).hidden
    a = encoder.encode_text("a red circle").hidden
    # a weighted spherical mean, built as documented: b joins a by its share so far, then c
    expected = _reference_slerp(_reference_slerp(a, b, 0.3 / 0.7), c, 0.3)
    torch.testing.assert_close(three, expected, rtol=1e-4, atol=1e-4)
    # each token's length is the weighted mean of the three lengths
    lengths = 0.4 * a.norm(dim=-1) + 0.3 * b.norm(dim=-1) + 0.3 * c.norm(dim=-1)
    torch.testing.assert_close(three.norm(dim=-1), lengths, rtol=1e-4, atol=1e-4)


def test_prompts_of_different_lengths_blend():
    pipe = tiny_sd()
    encoder = PromptEncoder(pipe)
    long = " ".join(["abcd"] * 30)  # 120 tokens: two chunks
    kwargs = encoder.encode(GenerationRequest("red", blend_prompts=(long,), blend_weights=(0.5,)))
    assert kwargs["prompt_embeds"].shape[1] == 2 * 77
    assert kwargs["negative_prompt_embeds"].shape == kwargs["prompt_embeds"].shape


def test_slerp_helpers():
    a = torch.tensor([[1.0, 0.0]])
    b = torch.tensor([[0.0, 2.0]])
    mid = slerp(a, b, 0.5)
    torch.testing.assert_close(mid, torch.tensor([[1.5 / 2**0.5, 1.5 / 2**0.5]]))
    torch.testing.assert_close(slerp(a, a * 3, 0.5), a * 2)  # parallel: plain lerp, no NaN
    assert not torch.isnan(slerp(a, torch.zeros_like(a), 0.5)).any()
