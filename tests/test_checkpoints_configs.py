"""The shipped configs build real SD 1.x / 2.x / SDXL models, and the shipped CLIP vocabulary
tokenizes exactly as OpenAI's CLIP does. Models are built on the meta device: no memory, no weights."""

from __future__ import annotations

import pytest
from accelerate import init_empty_weights
from diffusers import AutoencoderKL, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from studio.engine._checkpoints import clip_tokenizer, configs_root

# Published parameter counts of the original models' components.
EXPECTED = {
    "sd1": {"unet": 859_520_964, "vae": 83_653_863, "text_encoder": 123_060_480},
    "sd2": {"unet": 865_910_724, "vae": 83_653_863, "text_encoder": 340_387_840},
    "sdxl": {"unet": 2_567_463_684, "vae": 83_653_863, "text_encoder": 123_060_480,
             "text_encoder_2": 694_659_840},
}


def _count(model) -> int:
    return sum(p.numel() for p in model.parameters())


@pytest.mark.parametrize("arch", sorted(EXPECTED))
def test_configs_build_the_published_models(arch):
    folder = configs_root() / arch
    with init_empty_weights():
        built = {
            "unet": UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(folder / "unet")),
            "vae": AutoencoderKL.from_config(AutoencoderKL.load_config(folder / "vae")),
            "text_encoder": CLIPTextModel(CLIPTextConfig.from_pretrained(folder / "text_encoder")),
        }
        if arch == "sdxl":
            config = CLIPTextConfig.from_pretrained(folder / "text_encoder_2")
            built["text_encoder_2"] = CLIPTextModelWithProjection(config)
    assert {name: _count(model) for name, model in built.items()} == EXPECTED[arch]


def test_clip_tokenizer_matches_openai_ids():
    tok = clip_tokenizer()
    assert tok("a photo of a cat").input_ids == [49406, 320, 1125, 539, 320, 2368, 49407]
    assert len(tok) == 49408 and tok.pad_token_id == 49407
    assert clip_tokenizer(pad_token="!").pad_token_id == 0  # OpenCLIP pads with "!"


@pytest.mark.parametrize("arch", sorted(EXPECTED))
def test_model_configs_are_complete(arch):
    # diffusers' single-file converters read keys such as layers_per_block straight from the
    # config file, without the class defaults, so every init parameter must be written out.
    import inspect

    for sub, cls in (("unet", UNet2DConditionModel), ("vae", AutoencoderKL)):
        written = set(cls.load_config(configs_root() / arch / sub))
        wanted = set(inspect.signature(cls.__init__).parameters) - {"self"}
        assert wanted <= written, (sub, wanted - written)
