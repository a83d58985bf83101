"""Studio's exports read by another tool (issue 22): sd-parsers, a library that reads generation
parameters the way the A1111 ecosystem writes them, finds every field of every format Studio
writes (PNG text chunk; EXIF UserComment in JPEG and WebP), and Studio reads them all back too."""

from __future__ import annotations

import io

import pytest
from PIL import Image
from sd_parsers import ParserManager
from sd_parsers.data import Generators, PromptInfo

from studio.core.request import GenerationRequest
from studio.gallery.export import ExportError, export_image
from studio.gallery.image_reader import request_from_file as read_request

FORMATS = ["png", "jpg", "webp"]
INFO = {"model_name": "my-model", "model_hash": "0123456789abcdef"}
REQUESTS = {
    "karras": GenerationRequest("a lighthouse\nat dusk, (volumetric light:1.2)", negative_prompt="blurry, lowres",
                                seed=90210, steps=24, guidance_scale=6.5, width=96, height=64,
                                scheduler="DPM++ 2M Karras", model="/home/alice/models/my-model"),
    # Ü and ß: their UTF-16 code units read in the wrong byte order are surrogates.
    "unicode": GenerationRequest("café, 夕暮れの灯台, Über die Straße", negative_prompt="Ödland",
                                 seed=4_000_000_000, steps=7, guidance_scale=4, width=64, height=128,
                                 scheduler="Euler a", model="/home/alice/models/my-model"),
    "no negative": GenerationRequest("a fox", seed=0, steps=1, guidance_scale=12.25, width=64, height=64,
                                     scheduler="DDIM", model="/home/alice/models/my-model"),
}
# What an artist sees in A1111 for Studio's scheduler: (Sampler, Schedule type).
A1111_SAMPLER = {"DPM++ 2M Karras": ("DPM++ 2M", "Karras"), "Euler a": ("Euler a", None),
                 "DDIM": ("DDIM", None)}

# sd-parsers caches the last EXIF comment by id(image): an image freed by one test can hand its id,
# and so its comment, to the next. Keeping every image alive keeps ids unique.
_opened: list[Image.Image] = []


def sd_parsers_read(path) -> PromptInfo:
    image = Image.open(io.BytesIO(path.read_bytes()))
    _opened.append(image)
    found = ParserManager().parse(image)
    assert found is not None, f"sd-parsers found no parameters in {path.name}"
    return found


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", REQUESTS)
def test_sd_parsers_reads_every_field(tmp_path, fmt, case):
    request = REQUESTS[case]
    path = export_image(Image.new("RGB", (request.width, request.height), (30, 90, 200)), request, INFO,
                        tmp_path, fmt)
    found = sd_parsers_read(path)
    assert found.generator == Generators.AUTOMATIC1111
    [sampler] = found.samplers
    sampler_name, schedule = A1111_SAMPLER[request.scheduler]
    assert {
        "prompt": found.full_prompt,
        "negative": found.full_negative_prompt,
        "seed": sampler.parameters.get("seed"),
        "steps": sampler.parameters.get("steps"),
        "cfg": float(sampler.parameters.get("cfg_scale", "nan")),
        "sampler": (sampler.name, sampler.parameters.get("scheduler")),
        "size": found.metadata.get("Size"),
        "model": (sampler.model.name, sampler.model.hash) if sampler.model else None,
    } == {
        "prompt": request.prompt,
        "negative": request.negative_prompt,
        "seed": str(request.seed),
        "steps": str(request.steps),
        "cfg": request.guidance_scale,
        "sampler": (sampler_name, schedule),
        "size": f"{request.width}x{request.height}",
        "model": ("my-model", "0123456789"),  # A1111's short hash: 10 hex digits
    }


@pytest.mark.parametrize("fmt", FORMATS)
@pytest.mark.parametrize("case", REQUESTS)
def test_studio_reads_every_field_back(tmp_path, fmt, case):
    request = REQUESTS[case]
    path = export_image(Image.new("RGB", (request.width, request.height)), request, INFO, tmp_path, fmt)
    back = read_request(path)
    assert back.model == "my-model"  # by name: a file holds no local path
    assert back.replace(model=request.model) == request


@pytest.mark.parametrize("fmt", ["jpg", "webp"])
def test_characters_xml_cannot_hold_keep_studios_json_readable(tmp_path, fmt):
    # U+FFFE/U+FFFF are text to Python and JSON but not to XML: the packet must still parse, or
    # Studio falls back to the A1111 text and loses what only its JSON says (here the blend).
    request = GenerationRequest("noise\ufffe and \uffff here", seed=5, blend_prompts=("a wolf",),
                                blend_weights=(0.25,), width=64, height=64)
    path = export_image(Image.new("RGB", (64, 64)), request, {}, tmp_path, fmt)
    assert read_request(path) == request


@pytest.mark.parametrize("fmt", FORMATS)
def test_a_lone_surrogate_is_a_one_line_error(tmp_path, fmt):
    request = GenerationRequest("broken \udcff paste", seed=5, width=64, height=64)
    with pytest.raises(ExportError, match=r"U\+DCFF.*retype or remove it") as caught:
        export_image(Image.new("RGB", (64, 64)), request, {}, tmp_path / "out", fmt)
    assert "\n" not in str(caught.value) and not (tmp_path / "out").exists()
