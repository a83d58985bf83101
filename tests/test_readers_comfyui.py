"""ComfyUI graphs: from the save node back to the sampler that made the picture, its text
encoders (joined prompts reported joined), seed/sampler/scheduler nodes and the checkpoint."""

from __future__ import annotations

import json
import time

import pytest

from studio.core.metadata import MetadataError
from studio.core.readers import read_parameters
from studio.core.readers.comfyui import parse_comfyui


def _node(kind: str, **inputs) -> dict:
    return {"class_type": kind, "inputs": inputs}


def _base(**sampler_inputs) -> dict:
    """checkpoint -> two text encoders -> KSampler "3" -> decode -> save."""
    sampler = {"seed": 7, "steps": 20, "cfg": 6.5, "sampler_name": "dpmpp_2m", "scheduler": "karras", "denoise": 1.0,
               "model": ["4", 0], "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0]}
    sampler.update(sampler_inputs)
    return {
        "3": _node("KSampler", **sampler),
        "4": _node("CheckpointLoaderSimple", ckpt_name="sdxl\\juggernautXL_v9.safetensors"),
        "5": _node("EmptyLatentImage", width=832, height=1216, batch_size=1),
        "6": _node("CLIPTextEncode", text="a koi pond at dawn", clip=["4", 1]),
        "7": _node("CLIPTextEncode", text="blurry", clip=["4", 1]),
        "8": _node("VAEDecode", samples=["3", 0], vae=["4", 2]),
        "9": _node("SaveImage", images=["8", 0], filename_prefix="ComfyUI"),
    }


def _read(graph: dict) -> dict:
    return read_parameters({"prompt": json.dumps(graph), "workflow": "{}"})


def test_plain_graph():
    found = _read(_base())
    assert {k: found.get(k) for k in ("prompt", "negative_prompt", "seed", "steps", "guidance_scale", "width",
                                      "height", "sampler", "scheduler", "model_name", "tool")} == {
        "prompt": "a koi pond at dawn", "negative_prompt": "blurry", "seed": 7, "steps": 20, "guidance_scale": 6.5,
        "width": 832, "height": 1216, "sampler": "DPM++ 2M Karras", "scheduler": "DPM++ 2M Karras",
        "model_name": "juggernautXL_v9", "tool": "ComfyUI"}


@pytest.mark.parametrize("seed", [2**32, 2**63, 2**64 - 1])
def test_seeds_past_32_bits(seed):
    assert _read(_base(seed=seed))["seed"] == seed


def test_hires_fix_reports_the_base_pass_whatever_the_node_ids():
    # The second pass has id "10", the base pass "3": sorted as strings "10" < "3".
    graph = _base()
    graph["11"] = _node("LatentUpscale", samples=["3", 0], width=1664, height=2432, upscale_method="nearest-exact")
    graph["10"] = _node("KSampler", seed=99, steps=12, cfg=5.0, sampler_name="euler", scheduler="normal", denoise=0.5,
                        model=["4", 0], positive=["6", 0], negative=["7", 0], latent_image=["11", 0])
    graph["8"]["inputs"]["samples"] = ["10", 0]
    found = _read(graph)
    assert (found["seed"], found["steps"], found["width"], found["height"]) == (7, 20, 832, 1216)


def test_the_save_node_with_most_sampling_behind_it_is_the_picture():
    graph = _base()
    graph["20"] = _node("KSampler", seed=5, steps=4, cfg=1.0, sampler_name="euler", scheduler="normal", denoise=1.0,
                        model=["4", 0], positive=["6", 0], negative=["7", 0], latent_image=["5", 0])
    graph["21"] = _node("PreviewImage", images=["20", 0])
    assert _read(graph)["seed"] == 7


def test_ksampler_advanced_refiner_chain():
    graph = _base()
    graph["3"] = _node("KSamplerAdvanced", add_noise="enable", noise_seed=123456789012, steps=30, cfg=7.0,
                       sampler_name="euler_ancestral", scheduler="normal", start_at_step=0, end_at_step=24,
                       return_with_leftover_noise="enable", model=["4", 0], positive=["6", 0], negative=["7", 0],
                       latent_image=["5", 0])
    graph["12"] = _node("KSamplerAdvanced", add_noise="disable", noise_seed=0, steps=30, cfg=7.0,
                        sampler_name="euler", scheduler="normal", start_at_step=24, end_at_step=10000,
                        return_with_leftover_noise="disable", model=["4", 0], positive=["6", 0],
                        negative=["7", 0], latent_image=["3", 0])
    graph["8"]["inputs"]["samples"] = ["12", 0]
    found = _read(graph)
    assert (found["seed"], found["steps"], found["sampler"]) == (123456789012, 30, "Euler a")


def test_sampler_custom_advanced_with_its_helper_nodes():
    graph = {
        "1": _node("UNETLoader", unet_name="flux1-dev.safetensors", weight_dtype="default"),
        "2": _node("CLIPTextEncode", text="mulan in a rice paddy", clip=["9", 0]),
        "3": _node("FluxGuidance", guidance=3.5, conditioning=["2", 0]),
        "4": _node("BasicGuider", model=["1", 0], conditioning=["3", 0]),
        "5": _node("RandomNoise", noise_seed=219670278747233),
        "6": _node("KSamplerSelect", sampler_name="euler"),
        "7": _node("BasicScheduler", scheduler="simple", steps=20, denoise=1.0, model=["1", 0]),
        "8": _node("EmptySD3LatentImage", width=1024, height=768, batch_size=1),
        "10": _node("SamplerCustomAdvanced", noise=["5", 0], guider=["4", 0], sampler=["6", 0], sigmas=["7", 0],
                    latent_image=["8", 0]),
        "11": _node("VAEDecode", samples=["10", 0], vae=["12", 0]),
        "13": _node("SaveImage", images=["11", 0]),
    }
    found = _read(graph)
    assert (found["prompt"], found["seed"], found["steps"], found["guidance_scale"], found["sampler"],
            found["width"], found["height"], found["model_name"]) == (
        "mulan in a rice paddy", 219670278747233, 20, 3.5, "Euler", 1024, 768, "flux1-dev")


def test_sampler_custom_with_cfg_guider_less_graph():
    graph = _base()
    graph["3"] = _node("SamplerCustom", add_noise=True, noise_seed=2**40, cfg=1.0, model=["4", 0], positive=["6", 0],
                       negative=["7", 0], sampler=["30", 0], sigmas=["31", 0], latent_image=["5", 0])
    graph["30"] = _node("KSamplerSelect", sampler_name="euler_ancestral")
    graph["31"] = _node("SDTurboScheduler", steps=1, denoise=1.0, model=["4", 0])
    found = _read(graph)
    assert (found["seed"], found["steps"], found["guidance_scale"], found["sampler"]) == (2**40, 1, 1.0, "Euler a")


def test_primitive_and_widget_nodes_feed_seed_and_text():
    graph = _base(seed=["40", 0])
    graph["40"] = _node("CR Seed", seed=987654321987)
    graph["41"] = _node("Text Multiline", text="a koi pond, ink wash")
    graph["6"]["inputs"]["text"] = ["41", 0]
    found = _read(graph)
    assert (found["seed"], found["prompt"]) == (987654321987, "a koi pond, ink wash")


def test_combined_prompts_are_reported_joined():
    graph = _base()
    graph["50"] = _node("CLIPTextEncode", text="cherry blossoms", clip=["4", 1])
    graph["51"] = _node("ConditioningCombine", conditioning_1=["6", 0], conditioning_2=["50", 0])
    graph["52"] = _node("CLIPTextEncode", text="film grain", clip=["4", 1])
    graph["53"] = _node("ConditioningConcat", conditioning_to=["51", 0], conditioning_from=["52", 0])
    graph["3"]["inputs"]["positive"] = ["53", 0]
    assert _read(graph)["prompt"] == "a koi pond at dawn AND cherry blossoms BREAK film grain"


def test_controlnet_advanced_keeps_each_side():
    graph = _base()
    graph["60"] = _node("ControlNetApplyAdvanced", positive=["6", 0], negative=["7", 0], control_net=["61", 0],
                        image=["62", 0], strength=1.0)
    graph["3"]["inputs"]["positive"] = ["60", 0]
    graph["3"]["inputs"]["negative"] = ["60", 1]
    found = _read(graph)
    assert (found["prompt"], found["negative_prompt"]) == ("a koi pond at dawn", "blurry")


def test_sdxl_text_encoder_and_img2img_strength():
    graph = _base(denoise=0.6)
    graph["6"] = _node("CLIPTextEncodeSDXL", text_g="a koi pond", text_l="a koi pond", width=1024, height=1024,
                       clip=["4", 1])
    graph["5"] = _node("VAEEncode", pixels=["70", 0], vae=["4", 2])
    graph["70"] = _node("LoadImage", image="pond.png")
    found = _read(graph)
    assert (found["prompt"], found["strength"], found.get("width")) == ("a koi pond", 0.6, None)


def test_lora_chain_leads_to_the_checkpoint():
    graph = _base(model=["80", 0])
    graph["80"] = _node("LoraLoader", lora_name="a.safetensors", model=["81", 0], clip=["81", 1])
    graph["81"] = _node("LoraLoader", lora_name="b.safetensors", model=["4", 0], clip=["4", 1])
    assert _read(graph)["model_name"] == "juggernautXL_v9"


def test_a_cycle_ends():
    graph = _base(positive=["90", 0])
    graph["90"] = _node("ConditioningSetArea", conditioning=["91", 0])
    graph["91"] = _node("ConditioningSetArea", conditioning=["90", 0])
    assert _read(graph)["prompt"] == ""


@pytest.mark.parametrize(("text", "message"), [
    ("{oops", "not valid JSON"),
    (json.dumps({"1": _node("Note")}), "no sampler node"),
    ("[1, 2]", "not a JSON object"),
])
def test_bad_graphs_are_one_line(text, message):
    with pytest.raises(MetadataError, match=message):
        parse_comfyui(text)


def test_shared_inputs_do_not_make_the_walk_exponential():
    graph = _base()
    previous = "6"
    for i in range(100, 160):  # each combines the one before with itself: 2**60 paths
        graph[str(i)] = _node("ConditioningCombine", conditioning_1=[previous, 0], conditioning_2=[previous, 0])
        previous = str(i)
    graph["3"]["inputs"]["positive"] = [previous, 0]
    start = time.perf_counter()
    assert _read(graph)["prompt"].startswith("a koi pond at dawn AND a koi pond at dawn")
    assert time.perf_counter() - start < 1.0
