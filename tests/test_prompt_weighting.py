"""Prompt weighting syntax `(word:1.3)`, `(word)`, `[word]`, escapes and BREAK, and long prompts."""

from __future__ import annotations

import pytest
import torch
from blend_support import tiny_sd, tiny_sdxl
from hypothesis import given
from hypothesis import strategies as st

from studio.core.request import GenerationRequest
from studio.engine._embeddings import PromptEncoder
from studio.engine._prompt_syntax import Fragment, parse_prompt, plain_text


def weights(prompt: str) -> list[list[tuple[str, float]]]:
    return [[(f.text, round(f.weight, 4)) for f in section] for section in parse_prompt(prompt)]


# ---- parser ------------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("prompt", "expected"),
    [
        ("a red ball", [[("a red ball", 1.0)]]),
        ("(red:1.5)", [[("red", 1.5)]]),
        ("a (red) ball", [[("a ", 1.0), ("red", 1.1), (" ball", 1.0)]]),
        ("a [red] ball", [[("a ", 1.0), ("red", 0.9091), (" ball", 1.0)]]),
        ("((red))", [[("red", 1.21)]]),
        ("((red:1.5) ball)", [[("red", 1.65), (" ball", 1.1)]]),
        ("(a [b] c:0.5)", [[("a ", 0.5), ("b", 0.4545), (" c", 0.5)]]),
        (r"\(red\) \[x\] a\\b", [[(r"(red) [x] a\b", 1.0)]]),
        ("a BREAK b", [[("a ", 1.0)], [(" b", 1.0)]]),
        ("BREAKFAST at dawn", [[("BREAKFAST at dawn", 1.0)]]),
        ("unclosed (red ball", [[("unclosed ", 1.0), ("red ball", 1.1)]]),
        ("stray ) and ] stay", [[("stray ) and ] stay", 1.0)]]),
        ("ratio (16:9) and (x:y)", [[("ratio ", 1.0), ("16", 9.0), (" and ", 1.0), ("x:y", 1.1)]]),
        ("", [[]]),
    ],
)
def test_parser(prompt, expected):
    assert weights(prompt) == expected


def test_group_spanning_break_weights_both_sections():
    assert weights("(a BREAK b:2)") == [[("a ", 2.0)], [(" b", 2.0)]]


def test_plain_text_only_when_nothing_changes():
    assert plain_text(parse_prompt("(red:1.0) ball")) == "red ball"
    assert plain_text(parse_prompt(r"\(x\)")) == "(x)"
    assert plain_text(parse_prompt("(red) ball")) is None
    assert plain_text(parse_prompt("a BREAK b")) is None
    assert plain_text(parse_prompt("a red ball, 8k: detailed")) == "a red ball, 8k: detailed"


@given(st.text(max_size=60))
def test_parser_never_raises(prompt):
    sections = parse_prompt(prompt)
    assert all(isinstance(f, Fragment) and f.text and f.weight > 0 for section in sections for f in section)


@given(st.text(alphabet=st.characters(blacklist_characters="()[]\\"), max_size=60))
def test_text_without_brackets_comes_back_unchanged(prompt):
    if "BREAK" not in prompt:
        assert plain_text(parse_prompt(prompt)) == prompt


# ---- encoding ----------------------------------------------------------------------------------
@pytest.fixture(params=["sd", "sdxl"])
def pipe(request):
    return tiny_sd() if request.param == "sd" else tiny_sdxl()


def test_weight_changes_embedding_and_weight_one_does_not(pipe):
    encoder = PromptEncoder(pipe)
    plain = encoder.encode_text("red ball")
    assert torch.equal(encoder.encode_text("(red:1.0) ball").hidden, plain.hidden)
    for weighted in ("(red:1.5) ball", "(red) ball", "[red] ball"):
        changed = encoder.encode_text(weighted).hidden
        assert changed.shape == plain.hidden.shape
        assert not torch.allclose(changed, plain.hidden, atol=1e-4), weighted
    # only the weighted tokens move, before the mean is restored: the first positions (BOS) scale
    # uniformly, so their direction stays put
    up = encoder.encode_text("(red:1.5) ball").hidden
    cos = torch.nn.functional.cosine_similarity(up[0, 0], plain.hidden[0, 0], dim=0)
    assert cos > 0.9999


def test_plain_prompt_matches_pipeline_encode_prompt(pipe):
    request = GenerationRequest("a red ball", negative_prompt="blurry", guidance_scale=5.0)
    kwargs = PromptEncoder(pipe).encode(request)
    own = pipe.encode_prompt(
        prompt="a red ball",
        device=torch.device("cpu"),
        num_images_per_prompt=1,
        do_classifier_free_guidance=True,
        negative_prompt="blurry",
    )
    assert torch.equal(kwargs["prompt_embeds"], own[0])
    assert torch.equal(kwargs["negative_prompt_embeds"], own[1])
    if len(own) == 4:
        assert torch.equal(kwargs["pooled_prompt_embeds"], own[2])
        assert torch.equal(kwargs["negative_pooled_prompt_embeds"], own[3])


def test_sdxl_empty_negative_is_zeros_like_the_pipeline():
    pipe = tiny_sdxl()
    kwargs = PromptEncoder(pipe).encode(GenerationRequest("a red ball", guidance_scale=5.0))
    own = pipe.encode_prompt(prompt="a red ball", device=torch.device("cpu"), do_classifier_free_guidance=True)
    assert torch.equal(kwargs["negative_prompt_embeds"], own[1])
    assert not kwargs["negative_prompt_embeds"].any()
    assert not kwargs["negative_pooled_prompt_embeds"].any()


def test_no_guidance_means_no_negative(pipe):
    kwargs = PromptEncoder(pipe).encode(GenerationRequest("a red ball", guidance_scale=1.0))
    assert "negative_prompt_embeds" not in kwargs


def long_prompt(tokens: int) -> str:
    # the test tokenizer has one token per character; "abcd " is 4 tokens
    return " ".join(["abcd"] * (tokens // 4))


def test_200_token_prompt_is_chunked_not_cut(pipe):
    encoder = PromptEncoder(pipe)
    request = GenerationRequest(long_prompt(200), negative_prompt="blurry", guidance_scale=5.0)
    kwargs = encoder.encode(request)
    hidden = kwargs["prompt_embeds"]
    assert hidden.shape[1] == 3 * 77  # 200 tokens -> three chunks of 75 + BOS/EOS
    assert kwargs["negative_prompt_embeds"].shape == hidden.shape  # negative padded alike
    # the tail of the prompt reaches the model: cutting it would leave a different embedding
    cut = encoder.encode_text(long_prompt(148)).hidden
    assert cut.shape[1] == 2 * 77
    assert not torch.allclose(hidden[:, 154:], encoder.encode_text("").hidden)
    # and the pipeline accepts it end to end
    image = pipe(**kwargs, num_inference_steps=2, height=64, width=64, output_type="np").images
    assert image.shape == (1, 64, 64, 3)


def test_break_starts_a_new_chunk(pipe):
    encoder = PromptEncoder(pipe)
    both = encoder.encode_text("abc BREAK def").hidden
    assert both.shape[1] == 2 * 77
    # each chunk is encoded on its own, exactly like the prompt alone
    torch.testing.assert_close(both[:, :77], encoder.encode_text("abc").hidden, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(both[:, 77:], encoder.encode_text("def").hidden, atol=1e-5, rtol=1e-5)


def test_weighted_negative_and_long_negative_pad_the_positive(pipe):
    encoder = PromptEncoder(pipe)
    request = GenerationRequest("red", negative_prompt=long_prompt(100), guidance_scale=5.0)
    kwargs = encoder.encode(request)
    assert kwargs["prompt_embeds"].shape[1] == kwargs["negative_prompt_embeds"].shape[1] == 2 * 77
    torch.testing.assert_close(kwargs["prompt_embeds"][:, :77], encoder.encode_text("red").hidden)


def test_real_clip_tokenizer_weighting_and_chunks():
    from blend_support import tiny_sd_real_tokenizer

    encoder = PromptEncoder(tiny_sd_real_tokenizer())
    plain = encoder.encode_text("a red ball on grass")
    assert torch.equal(encoder.encode_text("a (red:1.0) ball on grass").hidden, plain.hidden)
    weighted = encoder.encode_text("a (red:1.4) ball on grass").hidden
    assert weighted.shape == plain.hidden.shape and not torch.allclose(weighted, plain.hidden)
    split = encoder.encode_text("a red ball BREAK on grass").hidden
    torch.testing.assert_close(split[:, :77], encoder.encode_text("a red ball").hidden, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(split[:, 77:], encoder.encode_text("on grass").hidden, atol=1e-5, rtol=1e-5)
    words = " ".join(["red ball"] * 100)  # 200 real CLIP tokens
    assert encoder.encode_text(words).hidden.shape[1] == 3 * 77
