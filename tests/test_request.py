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


# ---- the explicit mode ----------------------------------------------------------------------------
def test_a_request_without_a_mode_infers_it_from_its_fields_and_again_after_replace():
    plain = GenerationRequest(prompt="p")
    assert plain.mode == "txt2img"
    edited = plain.replace(init_image="a.png", mask_image="m.png")
    assert edited.mode == "inpaint"
    assert GenerationRequest.from_json('{"prompt": "p", "init_image": "a.png"}').mode == "img2img"


def test_an_explicit_mode_is_kept_through_replace_and_json():
    request = GenerationRequest(prompt="p", init_image="a.png", mask_image="m.png", mode="outpaint")
    assert request.replace(seed=3).mode == "outpaint"
    assert GenerationRequest.from_json(request.to_json()).mode == "outpaint"
    request.validate()


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"mode": "inpaint", "init_image": "a.png"}, "inpaint needs a mask"),
        ({"mode": "outpaint", "init_image": "a.png"}, "outpaint needs a mask"),
        ({"mode": "img2img"}, "img2img needs a source image"),
        ({"mode": "txt2img", "init_image": "a.png"}, "txt2img takes no source image"),
        ({"mode": "img2img", "init_image": "a.png", "mask_image": "m.png"}, "img2img takes no mask"),
        ({"mode": "paint"}, "unknown mode 'paint'"),
    ],
)
def test_a_mode_that_disagrees_with_the_fields_is_refused_in_one_line(fields, words):
    with pytest.raises(RequestError) as caught:
        GenerationRequest(prompt="p", **fields).validate()
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_a_mode_of_the_wrong_type_in_json_is_named():
    with pytest.raises(RequestError, match="mode must be one of"):
        GenerationRequest.from_json('{"prompt": "p", "mode": 3}')
