"""The Qt-free settings model: every kind of request is composed from it, and it reads back what
it wrote (and what older windows wrote) without ever failing on a bad value."""

from __future__ import annotations

import json

import pytest

from studio.core.request import GenerationRequest, RequestError
from studio.core.session import BlendSettings, EditSettings, PromptSettings, Session


def _session(**prompt) -> Session:
    settings = dict(prompt="a red circle", seed=11, random_seed=False, steps=4, width=64, height=64,
                    scheduler="Euler")
    settings.update(prompt)
    return Session(PromptSettings(**settings))


def test_txt2img_request_is_the_prompt_settings():
    session = _session(negative_prompt=" blur ", guidance_scale=6.5, guidance_rescale=0.35, model="/m/x",
                       loras=(("/l/ink.safetensors", 0.5),))
    request = session.txt2img_request()
    assert request == GenerationRequest(
        "a red circle", negative_prompt="blur", seed=11, steps=4, guidance_scale=6.5, guidance_rescale=0.35,
        width=64, height=64, scheduler="Euler", model="/m/x", loras=(("/l/ink.safetensors", 0.5),))
    assert request.mode == "txt2img"
    assert session.prompt.last_seed == 11


def test_random_seed_rolls_on_send_only_and_tells_the_views():
    session = _session(random_seed=True, seed=0)
    told = []
    session.subscribe(lambda: told.append(session.prompt.seed))
    assert session.base_request().seed == 0  # looking is not sending: no roll
    seeds = {session.txt2img_request().seed for _ in range(4)}
    assert len(seeds) > 1 and told[-1] == session.prompt.seed == session.prompt.last_seed
    assert session.txt2img_request(roll_seed=False).seed == session.prompt.seed


def test_edit_requests_carry_the_edit_settings_and_the_source_and_mask():
    session = _session()
    session.edit = EditSettings(strength=0.35, mask_feather=3, masked_only=True, masked_padding=16)
    variation = session.edit_request("/in/source.png")
    assert variation.mode == "img2img" and variation.init_image == "/in/source.png"
    assert variation.mask_image is None and variation.strength == 0.35
    inpaint = session.edit_request("/in/source.png", "/in/mask.png")
    assert inpaint.mode == "inpaint" and inpaint.mask_image == "/in/mask.png"
    assert (inpaint.mask_feather, inpaint.masked_only, inpaint.masked_padding) == (3, True, 16)
    assert inpaint.prompt == "a red circle" and inpaint.seed == 11


def test_blend_request_varies_the_base_and_follows_it_where_empty():
    session = _session()
    session.blend = BlendSettings(prompt_b="a blue square", mix=0.25, extras=(("a green star", 0.5), (" ", 0.9)),
                                  mode="lerp", seed_b=99, seed_mix=0.4)
    request = session.blend_request()
    assert request.prompt == "a red circle" and request.seed == 11  # prompt A and seed A: the base's
    assert request.blend_prompts == ("a blue square", "a green star") and request.blend_weights == (0.25, 0.5)
    assert (request.blend_mode, request.seed_b, request.seed_mix) == ("lerp", 99, 0.4)
    session.blend.prompt_a, session.blend.seed_a = "my own", 5
    base = GenerationRequest("elsewhere", seed=1, width=128, height=128)
    request = session.blend_request(base)
    assert (request.prompt, request.seed, request.width) == ("my own", 5, 128)
    session.blend.seed_mix, session.blend.seed_b = 0.0, None
    assert session.blend_request().seed_b is None  # no noise mix: seed B is not needed
    session.blend.seed_mix = 0.5
    with pytest.raises(RequestError, match="enter seed B"):
        session.blend_request()


@pytest.mark.parametrize("prompt", ["", "   \n "])
def test_an_empty_prompt_is_refused_with_one_line(prompt):
    session = _session(prompt=prompt)
    for send in (session.txt2img_request, lambda: session.edit_request("/in/s.png", "/in/m.png")):
        with pytest.raises(RequestError, match="type a prompt first") as refused:
            send()
        assert "\n" not in str(refused.value)
    assert session.prompt.last_seed is None
    assert session.base_request().prompt == ""  # what Blend varies may have no prompt of its own
    with pytest.raises(RequestError, match="type prompt A"):
        session.blend_request()
    session.blend.prompt_a = "a cat"
    assert session.blend_request().prompt == "a cat"


def test_problems_are_one_line_errors():
    with pytest.raises(RequestError, match="enter a seed, or tick Random"):
        _session(seed=None).txt2img_request()
    with pytest.raises(RequestError, match="multiple of 8"):
        _session(width=100).txt2img_request()
    with pytest.raises(RequestError, match="made for SDXL"):
        _session(lora_problem="ink.safetensors is made for SDXL").base_request()


def test_round_trip_through_json():
    session = _session(negative_prompt="fog", last_seed=7, guidance_rescale=0.5, native_size=False,
                       recent_models=["/m/a"], loras=(("/l/ink.safetensors", 0.5),),
                       settings_before_distilled={"steps": 30, "guidance_scale": 6.0, "scheduler": "DDIM"},
                       guidance_before_bundled=6.0)
    session.edit = EditSettings(strength=0.4, mask_feather=2, masked_only=True, masked_padding=8, outpaint_amount=64)
    session.blend = BlendSettings(prompt_a="a", prompt_b="b", mix=0.3, extras=(("c", 0.2),), mode="lerp",
                                  seed_a=3, seed_b=4, seed_mix=0.6, live=False, keep_live=False)
    again = Session.from_dict(json.loads(json.dumps(session.to_dict())))
    assert again.prompt == session.prompt and again.edit == session.edit and again.blend == session.blend
    assert again.txt2img_request() == session.txt2img_request()


def test_the_prompt_panels_saved_keys_are_read_as_they_always_were():
    # panel/prompt in a ui.ini written before the settings model: the seed is the text typed.
    saved = {"prompt": "a quiet lake", "negative_prompt": "blurry", "seed": "424242", "random_seed": False,
             "last_seed": 424242, "steps": 33, "guidance_scale": 7.5, "guidance_rescale": None,
             "native_size": False, "width": 200, "height": 136, "scheduler": "DDIM", "model": "",
             "recent_models": [], "loras": [], "settings_before_distilled": None, "guidance_before_bundled": None}
    settings = PromptSettings.from_dict(saved)
    assert settings.to_dict() == saved
    request = Session(settings).txt2img_request()
    assert (request.prompt, request.seed, request.steps, request.width, request.scheduler) == (
        "a quiet lake", 424242, 33, 200, "DDIM")
    older = PromptSettings.from_dict({"prompt": "x", "width": 256, "height": 256})  # before the native size
    assert not older.native_size and older.width == 256


def test_missing_or_wrongly_typed_values_get_the_defaults():
    defaults = Session()
    garbage = {
        "prompt": {"prompt": 5, "seed": "-3", "steps": "many", "guidance_scale": True, "width": None,
                   "scheduler": "Nope", "recent_models": 5, "loras": [["/l/a", 0.5], ["", 1], "junk", ["/l/b", "x"]],
                   "settings_before_distilled": {"steps": "many"}, "guidance_rescale": 3},
        "edit": {"strength": 7, "mask_feather": -1, "masked_only": "yes", "outpaint_amount": 2.5},
        "blend": {"mix": "half", "extras": "none", "mode": "cubic", "seed_a": "x", "live": 0},
    }
    session = Session.from_dict(garbage)
    prompt = session.prompt
    assert (prompt.prompt, prompt.seed, prompt.steps, prompt.guidance_scale, prompt.width, prompt.scheduler) == (
        "", 0, 20, 5.0, 512, "Euler a")
    assert prompt.recent_models == [] and prompt.guidance_rescale is None
    assert prompt.loras == (("/l/a", 0.5),) and prompt.settings_before_distilled is None
    assert session.edit == defaults.edit and session.blend == defaults.blend
    for junk in (None, [], "text", {"prompt": [], "edit": 3}):
        assert Session.from_dict(junk).edit == defaults.edit


def test_the_composer_names_each_requests_mode():
    session = Session()
    session.prompt.prompt = "a red circle"
    assert session.txt2img_request().mode == "txt2img"
    assert session.edit_request("a.png").mode == "img2img"
    assert session.edit_request("a.png", "m.png").mode == "inpaint"
    assert session.edit_request("a.png", "m.png", outpaint=True).mode == "outpaint"
    assert session.blend_request().mode == "blend"
