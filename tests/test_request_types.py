"""Requests validated by type (issue 19): JSON from images and the gallery goes through a pydantic
schema before anything uses it, validate() type-checks requests built in code, and prompts that
have no UTF-8 form are refused before they reach the tokenizer."""

from __future__ import annotations

import dataclasses
import json

import pytest

from studio.cli import main
from studio.core.request import MAX_JSON_CHARS, GenerationRequest, RequestError, _schema


def _one_line_error(call, match: str) -> str:
    with pytest.raises(RequestError, match=match) as caught:
        call()
    assert "\n" not in str(caught.value)
    return str(caught.value)


@pytest.mark.parametrize(("field", "value", "message"), [
    ("prompt", 1.5, r"prompt must be text \(got 1.5\)"),
    ("prompt", None, "prompt must be text"),
    ("negative_prompt", ["a"], "negative prompt must be text"),
    ("seed", True, r"seed must be a whole number \(got True\)"),
    ("seed", "7", "seed must be a whole number"),
    ("seed", 7.0, "seed must be a whole number"),
    ("steps", True, r"steps must be a whole number \(got True\)"),
    ("guidance_scale", "5", r"guidance must be a number \(got '5'\)"),
    ("guidance_scale", True, "guidance must be a number"),
    ("guidance_scale", float("nan"), "guidance must be a number"),
    ("guidance_rescale", "0.5", "guidance rescale"),
    ("width", 512.0, "width must be a whole number of pixels"),
    ("scheduler", 3, "scheduler must be a sampler name"),
    ("init_image", 5, "source image must be a file path"),
    ("masked_only", 1, "masked only must be true or false"),
    ("blend_prompts", "ab", "blend prompts must be a list of texts"),
    ("blend_prompts", ["a", 1], "blend prompts must be a list of texts"),
    ("blend_weights", ["0.5"], "blend weights must be a list of numbers"),
    ("blend_weights", [True], "blend weights must be a list of numbers"),
    ("seed_b", False, "seed B must be a whole number or empty"),
    ("loras", [["a.safetensors", "0.8"]], r"LoRAs must be a list of \[file, weight\] pairs"),
    ("loras", [["a.safetensors"]], "LoRAs must be"),
    ("loras", [["a.safetensors", 0.8, 1]], "LoRAs must be"),
    ("loras", [[1, 0.8]], "LoRAs must be"),
])
def test_from_dict_rejects_wrong_types_naming_the_field(field, value, message):
    _one_line_error(lambda: GenerationRequest.from_dict({"prompt": "a", field: value}), message)
    if field != "prompt":  # the same through JSON, as images and the gallery hold it
        text = json.dumps({"prompt": "a", field: value})
        _one_line_error(lambda: GenerationRequest.from_json(text), message.split(" must")[0])


def test_from_dict_without_a_prompt_or_not_a_dict():
    _one_line_error(lambda: GenerationRequest.from_dict({"seed": 1}), "the request has no prompt")
    _one_line_error(lambda: GenerationRequest.from_dict(["prompt"]), "must be a JSON object")
    _one_line_error(lambda: GenerationRequest.from_json("[1]"), "must be a JSON object")
    _one_line_error(lambda: GenerationRequest.from_json("{oops"), "not valid JSON")
    _one_line_error(lambda: GenerationRequest.from_json(" " * (MAX_JSON_CHARS + 1)), "not valid JSON")


def test_json_lists_become_tuples_and_ints_pass_as_numbers():
    request = GenerationRequest.from_dict({
        "prompt": "a", "blend_prompts": ["b", "c"], "blend_weights": [0, 0.5], "guidance_scale": 7,
        "loras": [["x.safetensors", 1]], "seed_b": None, "guidance_rescale": None,
    })
    assert request.blend_prompts == ("b", "c") and request.blend_weights == (0, 0.5)
    assert request.loras == (("x.safetensors", 1),) and isinstance(request.loras[0], tuple)
    assert request.guidance_scale == 7 and request.validate() is request
    hash(request)  # tuples all the way down: still usable as a dict key


def test_json_stored_by_older_versions_still_loads():
    # A row written before guidance_rescale, LoRAs, blending and masks existed, plus a key since dropped.
    old = ('{"guidance_scale": 7.5, "height": 512, "model": "", "negative_prompt": "", "prompt": "a cat", '
           '"scheduler": "Euler a", "seed": 1, "steps": 20, "width": 512, "old_key": [1, {"x": 2}]}')
    request = GenerationRequest.from_json(old)
    assert (request.prompt, request.guidance_scale, request.seed) == ("a cat", 7.5, 1)
    assert request.guidance_rescale is None and request.loras == () and request.blend_mode == "slerp"
    assert request.strength == 0.75 and request.mask_feather == 8 and request.masked_padding == 32
    full = GenerationRequest("a", negative_prompt="b", seed=3, steps=9, guidance_scale=6.5, guidance_rescale=0.2,
                             width=256, height=128, scheduler="DDIM", model="/m", init_image="/i.png",
                             strength=0.5, mask_image="/m.png", mask_feather=4, masked_only=True,
                             masked_padding=16, blend_prompts=("c",), blend_weights=(0.4,), blend_mode="lerp",
                             seed_b=8, seed_mix=0.3, loras=(("/l.safetensors", 0.7),))
    assert GenerationRequest.from_json(full.to_json()) == full


def test_schema_matches_the_dataclass():
    fields = {f.name: f for f in dataclasses.fields(GenerationRequest)}
    schema = _schema().model_fields
    assert set(schema) == set(fields)
    for name, field in fields.items():
        default = field.default_factory() if field.default is dataclasses.MISSING and \
            field.default_factory is not dataclasses.MISSING else field.default
        if default is not dataclasses.MISSING:
            assert schema[name].default == default, name


@pytest.mark.parametrize(("changes", "message"), [
    ({"seed": True}, r"seed must be a whole number \(got True\)"),
    ({"steps": True}, r"steps must be a whole number \(got True\)"),
    ({"guidance_scale": "5"}, r"guidance must be a number \(got '5'\)"),
    ({"width": "512"}, "width must be a whole number of pixels"),
    ({"seed_b": 2.5}, "seed B must be a whole number or empty"),
    ({"strength": None}, "strength must be a number"),
    ({"blend_prompts": ("b",), "blend_weights": (True,)}, "blend weights must be a list of numbers"),
    ({"loras": (("a.safetensors", "1"),)}, "LoRAs must be"),
    ({"prompt": b"bytes"}, "prompt must be text"),
])
def test_validate_rejects_wrong_types_in_requests_built_in_code(changes, message):
    _one_line_error(GenerationRequest(**{"prompt": "x", **changes}).validate, message)


@pytest.mark.parametrize("changes", [
    {"prompt": "a fox \udcff"}, {"prompt": "\ud83d"}, {"negative_prompt": "blur\udc80"},
    {"blend_prompts": ("sea \ud800",), "blend_weights": (0.5,)},
])
def test_validate_rejects_prompts_that_are_not_valid_text(changes):
    message = _one_line_error(GenerationRequest(**{"prompt": "x", **changes}).validate, "not valid text")
    message.encode("utf-8")  # the message itself prints anywhere


def test_valid_text_and_undecodable_paths_pass():
    request = GenerationRequest("夕暮れ 🌅 café", negative_prompt="ü", model="/models/\udcff.safetensors",
                                init_image="/in/\udce9.png")
    assert request.validate() is request  # file names from the OS may hold undecodable bytes


def test_cli_lone_surrogate_prompt_is_one_line_and_exit_2(tmp_path, capsys):
    # sys.argv carries undecodable bytes as lone surrogates (surrogateescape): checked before any model loads.
    code = main(["generate", "a fox \udcff", "--steps", "1", "--width", "64", "--height", "64",
                 "-o", str(tmp_path / "out.png")])
    err = capsys.readouterr().err
    assert code == 2 and not (tmp_path / "out.png").exists()
    assert err.startswith("studio: error: the prompt contains a character that is not valid text")
    assert err.count("\n") == 1
