"""The A1111 "parameters" text: writing, reading back (ours and other tools'), and the other
tools' JSON keys. The reader is fuzzed: it never raises anything but MetadataError."""

from __future__ import annotations

import json

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from studio.core.metadata import (
    MetadataError,
    format_parameters,
    image_info,
    parse_image_info,
    parse_parameters,
    request_from_image_info,
    scheduler_from_sampler,
)
from studio.core.request import SCHEDULERS, GenerationRequest
from studio.core.shareable import name_only

NOTE_EXAMPLE = (
    "a lighthouse at dusk, (volumetric light:1.2)\n"
    "Negative prompt: blurry, lowres\n"
    "Steps: 24, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 90210, "
    "Size: 768x512, Model hash: 1a2b3c4d5e, Model: my-model, Denoising strength: 0.6, Version: studio 0.1"
)


def test_writes_the_a1111_layout():
    request = GenerationRequest("a lighthouse at dusk, (volumetric light:1.2)", negative_prompt="blurry, lowres",
                                seed=90210, steps=24, guidance_scale=6.5, width=768, height=512,
                                scheduler="DPM++ 2M Karras", init_image="/in.png", strength=0.6)
    text = format_parameters(request, {"model_name": "my-model", "model_hash": "1a2b3c4d5e6f7a8b"})
    lines = text.split("\n")
    assert lines[0] == request.prompt
    assert lines[1] == "Negative prompt: blurry, lowres"
    assert lines[2] == (
        "Steps: 24, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 90210, "
        "Size: 768x512, Model hash: 1a2b3c4d5e, Model: my-model, Denoising strength: 0.6, "
        "Version: studio 0.1.0"
    )


def test_no_negative_line_and_no_empty_keys():
    text = format_parameters(GenerationRequest("cat", scheduler="Euler a"), {})
    assert "Negative prompt" not in text
    assert "Schedule type" not in text and "Model hash" not in text and "Denoising" not in text
    assert text.split("\n")[1].startswith("Steps: 20, Sampler: Euler a, CFG scale: 5, Seed: 0, Size: 512x512")


def test_guidance_rescale_is_written_as_a1111_does_and_read_back():
    # Unsaid in the request: the value the engine applied (in info) is written; 0 is left out.
    auto = GenerationRequest("cat", guidance_scale=4)
    assert "Rescale CFG: 0.7," in format_parameters(auto, {"guidance_rescale": 0.7})
    assert "Rescale CFG" not in format_parameters(auto, {"guidance_rescale": 0.0})
    assert "Rescale CFG" not in format_parameters(auto, {})
    mine = auto.replace(guidance_rescale=0.35)
    text = format_parameters(mine, {"guidance_rescale": 0.7})
    assert parse_parameters(text)["guidance_rescale"] == 0.35
    assert request_from_image_info({"parameters": text}).guidance_rescale == 0.35


def test_values_with_separators_are_json_quoted_and_read_back():
    request = GenerationRequest("x", model="/models/odd, name: v2.safetensors")
    text = format_parameters(request, {})
    assert 'Model: "odd, name: v2"' in text
    assert parse_parameters(text)["model_name"] == "odd, name: v2"


def test_a_model_name_that_is_a_path_is_cut_to_its_last_part():
    text = format_parameters(GenerationRequest("x"), {"model_name": "/home/alice/models/mine"})
    assert "Model: mine," in text and "alice" not in text


def test_reads_the_note_example():
    parsed = parse_parameters(NOTE_EXAMPLE)
    assert parsed["prompt"] == "a lighthouse at dusk, (volumetric light:1.2)"
    assert parsed["negative_prompt"] == "blurry, lowres"
    assert (parsed["steps"], parsed["seed"], parsed["guidance_scale"]) == (24, 90210, 6.5)
    assert (parsed["width"], parsed["height"]) == (768, 512)
    assert parsed["scheduler"] == "DPM++ 2M Karras"
    assert parsed["model_name"] == "my-model" and parsed["model_hash"] == "1a2b3c4d5e"
    assert parsed["strength"] == 0.6


def test_reads_other_tools_text():
    text = ("masterpiece, a cat\non two lines\n"
            "Steps: 30, Sampler: DPM++ 2M Karras, CFG scale: 7, Seed: 5, Size: 512x768, "
            "Lora hashes: \"foo: 12ab, bar: 34cd\", Hires upscaler: Latent, Some New Key: whatever")
    parsed = parse_parameters(text)
    assert parsed["prompt"] == "masterpiece, a cat\non two lines"
    assert parsed["negative_prompt"] == ""
    assert parsed["scheduler"] == "DPM++ 2M Karras"
    assert parsed["settings"]["Lora hashes"] == "foo: 12ab, bar: 34cd"
    assert parsed["settings"]["Some New Key"] == "whatever"
    request = request_from_image_info({"parameters": text})
    assert (request.steps, request.seed, request.width, request.height) == (30, 5, 512, 768)


def test_text_without_settings_is_all_prompt():
    parsed = parse_parameters("just a prompt, with: a colon")
    assert parsed["prompt"] == "just a prompt, with: a colon" and parsed["settings"] == {}


@pytest.mark.parametrize(("sampler", "schedule", "ours"), [
    ("Euler a", "", "Euler a"), ("Euler", "Automatic", "Euler"), ("DPM++ 2M", "Karras", "DPM++ 2M Karras"),
    ("DPM++ 2M Karras", "", "DPM++ 2M Karras"), ("dpmpp_2m", "karras", "DPM++ 2M Karras"),
    ("euler_ancestral", "normal", "Euler a"), ("DDIM", "", "DDIM"), ("UniPC", "", "UniPC"),
    ("Heun", "", None),
])
def test_sampler_names(sampler, schedule, ours):
    assert scheduler_from_sampler(sampler, schedule) == ours


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_every_scheduler_round_trips_through_the_text(scheduler):
    request = GenerationRequest("p", scheduler=scheduler)
    assert request_from_image_info({"parameters": format_parameters(request)}).scheduler == scheduler


def test_studio_key_wins_and_keeps_everything():
    request = GenerationRequest("a", blend_prompts=("b",), blend_weights=(0.3,), seed_b=9, seed_mix=0.2,
                                loras=(("/l.safetensors", 0.8),))
    info = image_info(request, {})
    # everything, but LoRAs by file name: no local paths leave the machine (test_shareable.py)
    assert request_from_image_info(info) == request.replace(loras=(("l.safetensors", 0.8),))
    assert parse_image_info(info)["source"] == "studio"
    damaged = {**info, "studio": "{not json"}
    assert request_from_image_info(damaged).prompt == "a"  # falls back to the text


def test_invokeai_metadata():
    meta = {"positive_prompt": "an owl", "negative_prompt": "ugly", "seed": 11, "steps": 25,
            "cfg_scale": 7.5, "width": 640, "height": 448, "scheduler": "dpmpp_2m_k",
            "model": {"name": "sd15", "hash": "abc"}}
    request = request_from_image_info({"invokeai_metadata": json.dumps(meta)})
    assert (request.prompt, request.negative_prompt, request.seed, request.steps) == ("an owl", "ugly", 11, 25)
    assert (request.guidance_scale, request.width, request.height) == (7.5, 640, 448)
    assert request.scheduler == "DPM++ 2M Karras"


def test_comfyui_prompt_graph():
    graph = {
        "3": {"class_type": "KSampler", "inputs": {
            "seed": 123, "steps": 12, "cfg": 4.5, "sampler_name": "euler_ancestral", "scheduler": "normal",
            "denoise": 1.0, "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 640, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
    }
    request = request_from_image_info({"prompt": json.dumps(graph), "workflow": "{}"})
    assert (request.prompt, request.negative_prompt, request.seed) == ("a fox", "blurry", 123)
    assert (request.steps, request.guidance_scale, request.scheduler) == (12, 4.5, "Euler a")
    assert (request.width, request.height) == (512, 640)


@pytest.mark.parametrize(("info", "message"), [
    ({}, "no generation parameters"),
    ({"parameters": "Steps: 20, Seed: 1, CFG scale: 5"}, "no prompt"),
    ({"parameters": "x\nSteps: 20, Seed: 1, Size: 513x512"}, "multiple of 8"),
    ({"invokeai_metadata": "[1, 2]"}, "not a JSON object"),
    ({"prompt": "{oops"}, "not valid JSON"),
    ({"prompt": json.dumps({"1": {"class_type": "Note", "inputs": {}}})}, "no sampler node"),
    ("not a dict", "not a set of text keys"),
])
def test_malformed_info_gives_one_line_errors(info, message):
    with pytest.raises(MetadataError, match=message) as caught:
        request_from_image_info(info)
    assert "\n" not in str(caught.value)


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_parser_never_raises_on_any_text(text):
    parsed = parse_parameters(text)
    assert isinstance(parsed["prompt"], str) and isinstance(parsed["settings"], dict)


_key_text = st.sampled_from(["parameters", "studio", "invokeai_metadata", "prompt", "other"])
_value = st.one_of(st.text(), st.binary(max_size=50), st.text().map(lambda t: json.dumps({"seed": t})),
                   st.just('{"3": {"class_type": "KSampler", "inputs": {"positive": ["3", 0]}}}'))


@settings(max_examples=300, deadline=None)
@given(st.dictionaries(_key_text, _value, max_size=4))
def test_request_from_image_info_only_raises_metadata_error(info):
    try:
        request = request_from_image_info(info)
    except MetadataError as exc:
        assert "\n" not in str(exc)
    else:
        assert isinstance(request, GenerationRequest)


_prompt = st.text(st.characters(blacklist_categories=("Cs", "Cc")), min_size=1).filter(
    lambda s: s.strip() == s and s and not s.startswith("Negative prompt:"))


@settings(max_examples=150, deadline=None)
@given(prompt=_prompt, negative=st.one_of(st.just(""), _prompt), seed=st.integers(0, 2**64 - 1),
       steps=st.integers(1, 150), cfg=st.sampled_from([0.0, 1.5, 7.0, 12.25]),
       scheduler=st.sampled_from(SCHEDULERS), model=_prompt.filter(lambda m: name_only(m) == m))
def test_text_round_trips(prompt, negative, seed, steps, cfg, scheduler, model):
    request = GenerationRequest(prompt, negative_prompt=negative, seed=seed, steps=steps,
                                guidance_scale=cfg, scheduler=scheduler)
    parsed = parse_parameters(format_parameters(request, {"model_name": model}))
    assert (parsed["prompt"], parsed["negative_prompt"]) == (prompt, negative)
    assert (parsed["seed"], parsed["steps"], parsed["guidance_scale"]) == (seed, steps, cfg)
    assert parsed["scheduler"] == scheduler
    assert parsed["model_name"] == model
