"""Family and variant of single files from their header alone: text encoders, UNet channels and
widths, SDXL's conditioning width, prediction type, distilled hints; one-line errors naming what
was found otherwise. The files hold one-byte tensors whose read dimension has the real size (the
vocabulary dimension, never read, is 1), so no test writes more than a few hundred KB."""

from __future__ import annotations

import pytest
import torch
from checkpoint_support import CLIP_L, OPENCLIP_H, REFINER_G, UNET, XL_CLIP_L, XL_OPENCLIP_G
from checkpoint_support import header_checkpoint as checkpoint

from studio.engine.family import detect_family, inspect_source
from studio.engine.jobs import UserError

SD1 = {CLIP_L: 768}
SD2 = {OPENCLIP_H: 1024}
SDXL = {XL_CLIP_L: 768, XL_OPENCLIP_G: 1280}


@pytest.mark.parametrize(
    ("name", "layout", "expected"),
    [
        ("sd15.safetensors", dict(encoders=SD1), ("sd1", "base", 512, "")),
        ("old-clip.safetensors",  # files saved before transformers 4 have no "text_model." level
         dict(encoders={"cond_stage_model.transformer.embeddings.token_embedding.weight": 768}), ("sd1", "base", 512, "")),
        ("sd15-inpainting.safetensors", dict(channels=9, encoders=SD1), ("sd1", "inpaint", 512, "")),
        ("sd21.safetensors", dict(context=1024, encoders=SD2), ("sd2", "v-prediction", 768, "")),
        ("sd21-base.safetensors", dict(context=1024, encoders=SD2), ("sd2", "base", 512, "")),
        ("sd2-inpainting.safetensors", dict(channels=9, context=1024, encoders=SD2), ("sd2", "inpaint", 512, "")),
        # an SD 2 file with its text encoder saved in CLIP's layout is SD 2 by its widths, not SD 1
        ("sd2-clip-layout.safetensors", dict(context=1024, encoders={CLIP_L: 1024}), ("sd2", "v-prediction", 768, "")),
        ("sdxl.safetensors", dict(context=2048, adm=2816, encoders=SDXL), ("sdxl", "base", 1024, "")),
        ("sdxl-inpaint.safetensors", dict(channels=9, context=2048, adm=2816, encoders=SDXL),
         ("sdxl", "inpaint", 1024, "")),
        ("sd_xl_turbo_1.0.safetensors", dict(context=2048, adm=2816, encoders=SDXL), ("sdxl", "base", 512, "turbo")),
        ("juggernaut-lightning.safetensors", dict(context=2048, adm=2816, encoders=SDXL),
         ("sdxl", "base", 1024, "lightning")),
    ],
)
def test_family_and_variant_from_keys_and_shapes(tmp_path, name, layout, expected):
    family = detect_family(checkpoint(tmp_path, name, **layout))
    assert (family.arch, family.variant, family.native_size, family.distilled) == expected
    assert family.context_width == layout.get("context", 768)


def test_prediction_from_keys_and_metadata_beats_the_name(tmp_path):
    sd2 = dict(context=1024, encoders=SD2)
    assert inspect_source(checkpoint(tmp_path, "a-base.safetensors", **sd2, extra={"v_pred": torch.zeros(1)})).prediction \
        == "v_prediction"
    declared = checkpoint(tmp_path, "b.safetensors", **sd2, metadata={"modelspec.prediction_type": "epsilon"})
    assert inspect_source(declared).prediction == "epsilon"
    sd1_v = checkpoint(tmp_path, "c.safetensors", metadata={"modelspec.prediction_type": "v"})
    assert detect_family(sd1_v).variant == "v-prediction"


def test_sdxl_refiner_is_recognised_and_refused_in_one_line(tmp_path):
    path = checkpoint(tmp_path, "sd_xl_refiner_1.0.safetensors", context=1280, adm=2560, encoders={REFINER_G: 1280})
    with pytest.raises(UserError) as err:
        inspect_source(path)
    message = str(err.value)
    assert "refiner" in message and "OpenCLIP-G text encoder" in message and "2560" in message
    assert "\n" not in message


@pytest.mark.parametrize(
    ("layout", "found"),
    [
        (dict(channels=8, context=0, encoders={}), "UNet with 8 input channels, no text encoder"),
        (dict(channels=8), "UNet with 8 input channels, 768-wide cross-attention, CLIP-L text encoder"),
        # CLIP-L text features (768) cannot feed a UNet that reads 1024-wide ones
        (dict(context=1024), "UNet with 4 input channels, 1024-wide cross-attention, CLIP-L text encoder"),
        # SDXL's widths in SD 1's layout
        (dict(context=2048, encoders=SD1), "2048-wide cross-attention, CLIP-L text encoder"),
        # SDXL's layout with a base UNet's width but a refiner's conditioning
        (dict(context=2048, adm=2560, encoders=SDXL), "2560-wide size conditioning, CLIP-L + OpenCLIP-G text encoders"),
        (dict(context=1024, encoders={"cond_stage_model.model.token_embedding.weight": 1024, **SD1}),
         "CLIP-L + OpenCLIP-H text encoders"),
    ],
)
def test_unknown_layouts_say_what_was_found_in_one_line(tmp_path, layout, found):
    path = checkpoint(tmp_path, "model.safetensors", **layout)
    with pytest.raises(UserError) as err:
        inspect_source(path)
    message = str(err.value)
    assert message.startswith("model.safetensors: not a Stable Diffusion checkpoint Studio knows (found: ")
    assert found in message and message.endswith("give its config with --config")
    assert "\n" not in message


def test_header_is_all_that_is_read(tmp_path, monkeypatch):
    import studio.engine.family as family

    path = checkpoint(tmp_path, "sdxl.safetensors", context=2048, adm=2816, encoders=SDXL)
    monkeypatch.setattr(family, "load_pickle_weights", lambda p: pytest.fail("read weights"))
    keys, shapes, _ = family.safetensors_header(path)
    # the five tensors the decision reads: UNet input, cross-attention, conditioning, two encoders
    assert len(shapes) == 5 and shapes[UNET + "label_emb.0.0.weight"] == (1, 2816)
