from __future__ import annotations

import pytest

from studio.core.request import GenerationRequest, RequestError


def test_json_round_trip_keeps_every_field():
    req = GenerationRequest(
        "a red circle", negative_prompt="blur", seed=7, steps=12, guidance_scale=6.5,
        guidance_rescale=0.35, width=256, height=128, scheduler="DPM++ 2M Karras", blend_prompts=("a blue square",),
        blend_weights=(0.25,), seed_b=9, seed_mix=0.5, loras=(("a.safetensors", 0.8),),
    )
    again = GenerationRequest.from_json(req.to_json())
    assert again == req
    assert again.mode == "blend"


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"width": 100}, "multiple of 8"),
        ({"height": 8}, "between 64"),
        ({"steps": 0}, "steps"),
        ({"steps": 151}, "steps"),
        ({"guidance_scale": -1.0}, "guidance"),
        ({"guidance_rescale": 1.5}, "guidance rescale must be between 0 and 1"),
        ({"guidance_rescale": -0.1}, "guidance rescale"),
        ({"guidance_rescale": "lots"}, "guidance rescale must be between 0 and 1 \\(got 'lots'\\)"),
        ({"scheduler": "Magic"}, "unknown scheduler"),
        ({"seed": -1}, "seed"),
        ({"strength": 1.5}, "strength"),
        ({"mask_image": "m.png"}, "source image"),
        ({"blend_prompts": ("b",)}, "weight"),
    ],
)
def test_bad_requests_get_one_line_errors(changes, message):
    with pytest.raises(RequestError, match=message) as info:
        GenerationRequest("x", **changes).validate()
    assert "\n" not in str(info.value)


def test_prompt_weights_sum_to_one():
    req = GenerationRequest("a", blend_prompts=("b",), blend_weights=(0.3,))
    assert req.prompt_weights() == [("a", pytest.approx(0.7)), ("b", 0.3)]
    over = GenerationRequest("a", blend_prompts=("b", "c"), blend_weights=(1.0, 1.0))
    assert [w for _, w in over.prompt_weights()] == [0.0, 0.5, 0.5]


@pytest.mark.parametrize("name", ["Euler", "Euler a", "DPM++ 2M", "DPM++ 2M Karras", "DDIM", "UniPC", "LCM"])
def test_artist_sampler_names_are_accepted_and_survive_a_round_trip(name):
    req = GenerationRequest("x", scheduler=name).validate()
    assert GenerationRequest.from_json(req.to_json()).validate().scheduler == name


def test_an_unknown_sampler_error_lists_the_names_to_choose_from():
    with pytest.raises(RequestError) as info:
        GenerationRequest("x", scheduler="Eular a").validate()
    assert "Euler a" in str(info.value) and "DPM++ 2M Karras" in str(info.value)
