"""Latent -> RGB preview maps: the model's own file, known latent spaces, and the generic fallback."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from studio.engine._previews import KNOWN_FACTORS, generic_map, preview_map_for, read_map_file


def test_known_map_is_linear_and_sized_at_latent_resolution_times_two():
    preview = preview_map_for(None, "sd1", 4)
    assert preview.source == "sd1"
    latents = torch.zeros(1, 4, 8, 12)
    latents[0, 0, 0, 0] = 1.0
    image = preview.to_image(latents)
    assert image.size == (24, 16)
    pixels = np.asarray(image)
    # Zero latent -> mid grey (bias 0 for SD); one-hot latent -> (1 + weights of channel 0) * 127.5.
    assert (pixels[2:, 2:] == 127).all()
    expected = [int((1 + w) * 127.5) for w in KNOWN_FACTORS["sd1"][0][0]]
    assert pixels[0, 0].tolist() == expected
    assert (pixels[:2, :2] == pixels[0, 0]).all()  # nearest-neighbour x2


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
