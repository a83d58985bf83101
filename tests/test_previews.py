"""Latent -> RGB preview maps: the model's own file, known latent spaces, and the generic fallback."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from studio.engine._previews import generic_map, preview_map_for, read_map_file

# SD 1.x latent -> RGB factors as published by keturn (Hugging Face forum, "Decoding latents to
# RGB without upscaling") and used by other tools' cheap previews: rows are latent channels.
PUBLISHED_SD1_FACTORS = (
    (0.298, 0.207, 0.208),
    (0.187, 0.286, 0.173),
    (-0.158, 0.189, 0.264),
    (-0.184, -0.271, -0.473),
)


def test_sd1_map_follows_the_published_factors_at_twice_the_latent_size():
    preview = preview_map_for(None, "sd1", 4)
    assert preview.source == "sd1"
    latents = torch.zeros(1, 4, 8, 12)
    for channel in range(4):  # channel c at +1 in latent column 2c, at -1 in column 2c + 1
        latents[0, channel, 0, 2 * channel] = 1.0
        latents[0, channel, 0, 2 * channel + 1] = -1.0
    image = preview.to_image(latents)
    assert image.size == (24, 16)
    pixels = np.asarray(image).astype(int)
    assert (np.abs(pixels[2:] - 127.5) <= 1).all()  # a zero latent is mid grey (no bias for SD)
    for channel, factors in enumerate(PUBLISHED_SD1_FACTORS):
        for sign, column in ((1, 2 * channel), (-1, 2 * channel + 1)):
            expected = [(1 + sign * f) * 127.5 for f in factors]
            pixel = pixels[0, 2 * column]  # nearest-neighbour x2: latent (0, x) is pixel (0, 2x)
            assert np.abs(pixel - expected).max() <= 3, (channel, sign, pixel.tolist(), expected)
            assert (pixels[:2, 2 * column:2 * column + 2] == pixel).all()


def test_values_are_clamped_not_wrapped():
    preview = preview_map_for(None, "sdxl", 4)
    pixels = np.asarray(preview.to_image(torch.full((1, 4, 4, 4), 1e6)))
    assert set(np.unique(pixels).tolist()) <= {0, 255}


@pytest.mark.parametrize("arch,channels", [("unknown", 4), ("sd1", 16), ("sdxl", 8)])
def test_generic_fallback_is_grey_channel_mean(arch, channels):
    preview = preview_map_for(None, arch, channels)
    assert preview.source == "generic"
    latents = torch.full((1, channels, 4, 4), 0.5)
    pixels = np.asarray(preview.to_image(latents))
    assert (pixels == int(1.5 * 127.5)).all()


def test_model_file_wins_and_vae_folder_is_searched(tmp_path):
    (tmp_path / "vae").mkdir()
    (tmp_path / "vae" / "preview_map.json").write_text(
        json.dumps({"weights": [[0, 0, 1]] * 4, "bias": [0.5, 0, 0]})
    )
    preview = preview_map_for(tmp_path, "sd1", 4)
    assert preview.source == "file"
    pixel = np.asarray(preview.to_image(torch.zeros(1, 4, 2, 2)))[0, 0]
    assert pixel.tolist() == [191, 127, 127]


@pytest.mark.parametrize(
    "content",
    ["not json", json.dumps({"weights": [[1, 0, 0]] * 3}), json.dumps({"bias": [0, 0, 0]}),
     json.dumps({"weights": [[1, 0]] * 4})],
)
def test_bad_model_file_is_ignored(tmp_path, content):
    (tmp_path / "preview_map.json").write_text(content)
    assert preview_map_for(tmp_path, "sd1", 4).source == "sd1"


def test_read_map_file_explains_shape_mismatch(tmp_path):
    path = tmp_path / "preview_map.json"
    path.write_text(json.dumps({"weights": [[1, 0, 0]] * 3, "bias": [0, 0, 0]}))
    with pytest.raises(ValueError, match="4x3"):
        read_map_file(path, 4)


def test_fp16_latents_and_batches_use_the_first_image():
    preview = generic_map(4)
    latents = torch.cat([torch.zeros(1, 4, 2, 2), torch.ones(1, 4, 2, 2)]).half()
    assert (np.asarray(preview.to_image(latents)) == 127).all()
