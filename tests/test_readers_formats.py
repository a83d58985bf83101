"""Every format the readers know, in files made in code: what `read_file_fields` (the reader
behind import and `studio inspect`) finds, field by field, and which tool it names."""

from __future__ import annotations

import json
import time

import pytest
from readers_support import exif_image, png, stealth_png, xmp_user_comment

from studio.core.metadata import MetadataError
from studio.gallery.image_reader import parameters_from_file, read_file_fields

A1111 = ("a red fox in snow\nNegative prompt: blurry, lowres\n"
         "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234567, "
         "Size: 512x768, Model hash: 1a2b3c4d5e, Model: dream-v2, Version: v1.10.1")
A1111_FIELDS = {"prompt": "a red fox in snow", "negative_prompt": "blurry, lowres", "seed": 1234567,
                "steps": 28, "guidance_scale": 6.5, "width": 512, "height": 768,
                "sampler": "DPM++ 2M Karras", "model_name": "dream-v2", "model_hash": "1a2b3c4d5e"}


def _subset(found: dict, expected: dict) -> dict:
    return {k: found.get(k) for k in expected}


@pytest.mark.parametrize("kind", ["tEXt", "zTXt", "iTXt"])
@pytest.mark.parametrize("after", [False, True])
def test_a1111_png_text_before_or_after_the_pixels(tmp_path, kind, after):
    found = read_file_fields(png(tmp_path / "a.png", {"parameters": A1111}, after=after, kind=kind))
    assert _subset(found, A1111_FIELDS) == A1111_FIELDS
    assert found["tool"] == "AUTOMATIC1111 (v1.10.1)"


@pytest.mark.parametrize("fmt", ["JPEG", "WEBP"])
def test_a1111_exif_user_comment(tmp_path, fmt):
    found = read_file_fields(exif_image(tmp_path / f"a.{fmt.lower()}", A1111, fmt))
    assert _subset(found, A1111_FIELDS) == A1111_FIELDS


@pytest.mark.parametrize("channel", ["alpha", "rgb"])
@pytest.mark.parametrize("compressed", [True, False])
def test_a1111_stealth_pnginfo(tmp_path, channel, compressed):
    path = stealth_png(tmp_path / "s.png", A1111, channel=channel, compressed=compressed)
    found = read_file_fields(path)
    assert _subset(found, A1111_FIELDS) == A1111_FIELDS


def test_stealth_is_only_looked_for_when_the_text_holds_nothing(tmp_path):
    path = stealth_png(tmp_path / "s.png", A1111)
    from PIL import Image
    from PIL.PngImagePlugin import PngInfo

    info = PngInfo()
    info.add_text("parameters", "a blue whale\nSteps: 5, Seed: 9, CFG scale: 3")
    with Image.open(path) as image:
        image.save(tmp_path / "both.png", pnginfo=info)
    assert read_file_fields(tmp_path / "both.png")["prompt"] == "a blue whale"


def test_stealth_in_a_big_image_is_quick(tmp_path):
    path = stealth_png(tmp_path / "big.png", A1111, size=(2048, 2048))
    start = time.perf_counter()
    assert read_file_fields(path)["seed"] == 1234567
    assert time.perf_counter() - start < 3.0  # generous: the machine is shared; decoding dominates


def test_damaged_stealth_payload_is_one_line(tmp_path):
    path = stealth_png(tmp_path / "s.png", A1111, compressed=True)
    from PIL import Image

    with Image.open(path) as image:  # keep the header, flip the gzip magic's low bits
        pixels = image.load()
        for bit in range(152, 160):  # the first data byte: bits run down each column
            x, y = divmod(bit, image.height)
            r, g, b, a = pixels[x, y]
            pixels[x, y] = (r, g, b, a ^ 1)
        image.save(tmp_path / "bad.png")
    with pytest.raises(MetadataError, match="hidden in its pixels are damaged") as caught:
        read_file_fields(tmp_path / "bad.png")
    assert "\n" not in str(caught.value)


NOVELAI_COMMENT = {"steps": 28, "sampler": "k_euler_ancestral", "seed": 2253955223, "scale": 5.5,
                   "uc": "lowres, bad anatomy", "width": 832, "height": 1216}
NOVELAI_FIELDS = {"prompt": "1girl, cat ears, space", "negative_prompt": "lowres, bad anatomy", "seed": 2253955223,
                  "steps": 28, "guidance_scale": 5.5, "width": 832, "height": 1216, "sampler": "Euler a",
                  "tool": "NovelAI"}


def test_novelai_text_chunks(tmp_path):
    path = png(tmp_path / "n.png", {"Title": "AI generated image", "Description": "1girl, cat ears, space",
                                    "Software": "NovelAI", "Source": "NovelAI Diffusion V3 7BCCAA2C",
                                    "Comment": json.dumps(NOVELAI_COMMENT)})
    found = read_file_fields(path)
    assert _subset(found, NOVELAI_FIELDS) == NOVELAI_FIELDS
    assert (found["model_name"], found["model_hash"]) == ("NovelAI Diffusion V3", "7BCCAA2C")


def test_novelai_stealth(tmp_path):
    payload = {"Description": "1girl, cat ears, space", "Software": "NovelAI", "Comment": json.dumps(NOVELAI_COMMENT)}
    found = read_file_fields(stealth_png(tmp_path / "n.png", payload))
    assert _subset(found, NOVELAI_FIELDS) == NOVELAI_FIELDS


FOOOCUS = {"prompt": "a smiling goldfish", "negative_prompt": "murky", "base_model": "juggernautXL_v8Rundiffusion",
           "base_model_hash": "aeb7e9e689", "full_prompt": ["cinematic still a smiling goldfish"],
           "guidance_scale": 4, "metadata_scheme": "fooocus", "resolution": "(768, 1280)",
           "sampler": "dpmpp_2m_sde_gpu", "scheduler": "karras", "seed": "6952411511246973023",
           "sharpness": 2, "steps": 30, "version": "Fooocus v2.4.3"}
FOOOCUS_FIELDS = {"prompt": "a smiling goldfish", "negative_prompt": "murky", "seed": 6952411511246973023,
                  "steps": 30, "guidance_scale": 4.0, "width": 768, "height": 1280,
                  "sampler": "dpmpp_2m_sde_gpu karras", "model_name": "juggernautXL_v8Rundiffusion", "tool": "Fooocus"}


def test_fooocus_json_in_parameters_is_not_taken_as_the_prompt(tmp_path):
    path = png(tmp_path / "f.png", {"parameters": json.dumps(FOOOCUS), "fooocus_scheme": "fooocus"})
    assert _subset(read_file_fields(path), FOOOCUS_FIELDS) == FOOOCUS_FIELDS


def test_fooocus_older_comment_json(tmp_path):
    older = {"prompt": "a smiling goldfish", "negative_prompt": "murky", "base_model": "juggernautXL_v8Rundiffusion",
             "seed": 6952411511246973023, "steps": 30, "cfg": 4, "width": 768, "height": 1280,
             "sampler": "dpmpp_2m_sde_gpu", "scheduler": "karras", "sharpness": 2}
    found = read_file_fields(png(tmp_path / "f.png", {"Comment": json.dumps(older)}))
    expected = {k: v for k, v in FOOOCUS_FIELDS.items() if k != "tool"}
    assert _subset(found, expected) == expected


def test_fooocus_a1111_scheme(tmp_path):
    text = ("a smiling goldfish\nNegative prompt: murky\nSteps: 30, Sampler: dpmpp_2m_sde_gpu, Scheduler: karras, "
            "Guidance Scale: 4, CFG scale: 4, Seed: 6952411511246973023, Size: 768x1280, "
            "Model: juggernautXL_v8Rundiffusion, Version: Fooocus v2.4.3")
    found = read_file_fields(png(tmp_path / "f.png", {"parameters": text, "fooocus_scheme": "a1111"}))
    assert _subset(found, FOOOCUS_FIELDS) == FOOOCUS_FIELDS


INVOKE_PROMPT = "a lighthouse at dusk, volumetric light [blurry, lowres]"


def test_invokeai_2_sd_metadata(tmp_path):
    data = {"model_weights": "deliberate_v2", "model_hash": "56d1442a", "app_id": "invoke-ai/InvokeAI",
            "image": {"prompt": [{"prompt": INVOKE_PROMPT, "weight": 1.0}], "steps": 40, "cfg_scale": 7.5,
                      "height": 768, "width": 512, "seed": 2980747362, "sampler": "k_euler_a", "type": "txt2img"}}
    found = read_file_fields(png(tmp_path / "i.png", {"sd-metadata": json.dumps(data), "Dream": '"x" -s 1'}))
    assert _subset(found, {"prompt": 0, "negative_prompt": 0, "seed": 0, "steps": 0, "guidance_scale": 0,
                           "width": 0, "height": 0, "sampler": 0, "model_name": 0}) == {
        "prompt": "a lighthouse at dusk, volumetric light", "negative_prompt": "blurry, lowres", "seed": 2980747362,
        "steps": 40, "guidance_scale": 7.5, "width": 512, "height": 768, "sampler": "Euler a",
        "model_name": "deliberate_v2"}


def test_invokeai_2_dream_line(tmp_path):
    dream = f'"{INVOKE_PROMPT}" -s 50 -S 2980747362 -W 512 -H 768 -C 5 -A k_lms -G 0.9 -U 4 0.95'
    found = read_file_fields(png(tmp_path / "i.png", {"Dream": dream}))
    assert (found["prompt"], found["negative_prompt"], found["seed"], found["steps"], found["guidance_scale"],
            found["width"], found["height"], found["sampler"], found["tool"]) == (
        "a lighthouse at dusk, volumetric light", "blurry, lowres", 2980747362, 50, 5.0, 512, 768, "k_lms", "InvokeAI 2")


def test_invokeai_3_metadata(tmp_path):
    data = {"positive_prompt": "an owl", "negative_prompt": "dull", "width": 1024, "height": 1024, "seed": 3293022630,
            "cfg_scale": 8.0, "steps": 35, "scheduler": "dpmpp_2m_k",
            "model": {"name": "juggernautXL", "hash": "blake3:abc", "base": "sdxl"}}
    found = read_file_fields(png(tmp_path / "i.png", {"invokeai_metadata": json.dumps(data)}))
    assert (found["prompt"], found["seed"], found["sampler"], found["model_name"], found["model_hash"]) == (
        "an owl", 3293022630, "DPM++ 2M Karras", "juggernautXL", "blake3:abc")


SWARM = {"sui_image_params": {"prompt": "a castle on a hill", "negativeprompt": "fog", "model": "OfficialStableDiffusion/sd_xl_base_1.0",
                              "seed": 1638195913, "steps": 20, "cfgscale": 7, "width": 1024, "height": 768,
                              "sampler": "dpmpp_2m", "scheduler": "karras", "swarm_version": "0.9.2"}}
SWARM_FIELDS = {"prompt": "a castle on a hill", "negative_prompt": "fog", "seed": 1638195913, "steps": 20,
                "guidance_scale": 7.0, "width": 1024, "height": 768, "sampler": "DPM++ 2M Karras",
                "model_name": "sd_xl_base_1.0", "tool": "SwarmUI"}


def test_swarmui_png_parameters(tmp_path):
    found = read_file_fields(png(tmp_path / "s.png", {"parameters": json.dumps(SWARM)}))
    assert _subset(found, SWARM_FIELDS) == SWARM_FIELDS


def test_swarmui_jpeg_user_comment(tmp_path):
    found = read_file_fields(exif_image(tmp_path / "s.jpg", json.dumps(SWARM)))
    assert _subset(found, SWARM_FIELDS) == SWARM_FIELDS


EASY = {"prompt": "a cozy cabin", "negative_prompt": "people", "seed": 42424242, "num_inference_steps": 25,
        "guidance_scale": 7.5, "width": 512, "height": 640, "sampler_name": "euler_a",
        "use_stable_diffusion_model": "C:\\models\\sd-v1-5.safetensors"}
EASY_FIELDS = {"prompt": "a cozy cabin", "negative_prompt": "people", "seed": 42424242, "steps": 25,
               "guidance_scale": 7.5, "width": 512, "height": 640, "sampler": "Euler a", "model_name": "sd-v1-5",
               "tool": "Easy Diffusion"}


def test_easy_diffusion_png_keys(tmp_path):
    found = read_file_fields(png(tmp_path / "e.png", {k: str(v) for k, v in EASY.items()}))
    assert _subset(found, EASY_FIELDS) == EASY_FIELDS


def test_easy_diffusion_titled_png_keys(tmp_path):
    titled = {"Prompt": "a cozy cabin", "Negative Prompt": "people", "Seed": "42424242", "Steps": "25",
              "Guidance Scale": "7.5", "Width": "512", "Height": "640", "Sampler": "euler_a",
              "Stable Diffusion model": "/home/me/models/sd-v1-5.safetensors"}
    found = read_file_fields(png(tmp_path / "e.png", titled))
    assert _subset(found, EASY_FIELDS) == EASY_FIELDS


def test_easy_diffusion_webp_user_comment(tmp_path):
    found = read_file_fields(exif_image(tmp_path / "e.webp", json.dumps(EASY), "WEBP"))
    assert _subset(found, EASY_FIELDS) == EASY_FIELDS


def test_draw_things_xmp(tmp_path):
    data = {"c": "a paper boat", "uc": "rain", "seed": 3170432, "steps": 20, "scale": 4.5, "size": "768x512",
            "sampler": "DPM++ 2M Karras", "model": "sd_xl_base_1.0_f16.ckpt", "strength": 1}
    path = tmp_path / "d.jpg"
    from PIL import Image

    Image.new("RGB", (8, 8)).save(path, format="JPEG", xmp=xmp_user_comment(json.dumps(data)))
    found = read_file_fields(path)
    assert (found["prompt"], found["negative_prompt"], found["seed"], found["steps"], found["guidance_scale"],
            found["width"], found["height"], found["sampler"], found["model_name"], found["tool"]) == (
        "a paper boat", "rain", 3170432, 20, 4.5, 768, 512, "DPM++ 2M Karras", "sd_xl_base_1.0_f16", "Draw Things")


def test_unknown_sampler_keeps_its_own_name_and_import_uses_the_default(tmp_path):
    text = "a fox\nSteps: 20, Sampler: Heun, CFG scale: 7, Seed: 3, Size: 512x512"
    path = png(tmp_path / "h.png", {"parameters": text})
    assert read_file_fields(path)["sampler"] == "Heun"
    assert parameters_from_file(path)["request"].scheduler  # runnable with Studio's default


def test_no_metadata_is_one_line(tmp_path):
    with pytest.raises(MetadataError, match="no generation parameters") as caught:
        read_file_fields(png(tmp_path / "plain.png", {"Software": "GIMP"}))
    assert str(caught.value).startswith("plain.png: ")


def test_novelai_4_caption_objects(tmp_path):
    comment = {"steps": 23, "sampler": "k_euler_ancestral", "seed": 77, "scale": 5.0, "width": 832, "height": 1216,
               "v4_prompt": {"caption": {"base_caption": "1girl, lighthouse", "char_captions": []}},
               "v4_negative_prompt": {"caption": {"base_caption": "lowres", "char_captions": []}}}
    found = read_file_fields(png(tmp_path / "n4.png", {"Software": "NovelAI", "Comment": json.dumps(comment)}))
    assert (found["prompt"], found["negative_prompt"], found["seed"]) == ("1girl, lighthouse", "lowres", 77)


def test_a_big_picture_without_hidden_text_is_not_decoded_whole(tmp_path, monkeypatch):
    from PIL import Image, PngImagePlugin

    path = tmp_path / "plain.png"
    Image.new("RGBA", (2048, 2048), (10, 20, 30, 255)).save(path)

    load = PngImagePlugin.PngImageFile.load

    def no_full_decode(self):
        if self.size == (2048, 2048):
            raise AssertionError("the whole picture was decoded")
        return load(self)

    monkeypatch.setattr(PngImagePlugin.PngImageFile, "load", no_full_decode)
    with pytest.raises(MetadataError, match="no generation parameters"):
        read_file_fields(path)
