"""Seeds up to 2**64-1 (ComfyUI's and Fooocus' range) everywhere: the request, the gallery (whose
INTEGER column is signed 64-bit), import from a file, and the noise, which is the noise diffusers
draws for that seed."""

from __future__ import annotations

import json
import sqlite3

import pytest
from PIL import Image
from readers_support import png

from studio.core.request import MAX_SEED, GenerationRequest, RequestError, random_seed
from studio.gallery import Gallery
from studio.gallery.image_reader import parameters_from_file
from studio.gallery.rows import seed_column, seed_from_column

BIG = 2**64 - 1


def test_request_takes_every_unsigned_64_bit_seed_and_no_more():
    assert MAX_SEED == BIG
    assert GenerationRequest("a fox", seed=BIG, seed_b=2**63).validate().seed == BIG
    for bad in (2**64, -1):
        with pytest.raises(RequestError, match="seed must be between 0 and 18446744073709551615"):
            GenerationRequest("a fox", seed=bad).validate()
    assert GenerationRequest.from_json(GenerationRequest("a fox", seed=BIG).to_json()).seed == BIG


def test_random_seeds_stay_short():
    assert all(0 <= random_seed() < 2**32 for _ in range(200))


@pytest.mark.parametrize("seed", [0, 2**63 - 1, 2**63, BIG])
def test_seed_column_round_trips_without_overflow(seed):
    assert -(2**63) <= seed_column(seed) < 2**63
    assert seed_from_column(seed_column(seed)) == seed


def test_gallery_keeps_a_big_seed_exactly():
    gallery = Gallery.open()
    try:
        record = gallery.add(GenerationRequest("a koi pond", seed=BIG), Image.new("RGB", (64, 64)), {"total": 0.1})
        assert gallery.get(record.id).request.seed == BIG
        with sqlite3.connect(gallery.root / "gallery.db") as db:
            stored, text = db.execute("SELECT seed, request_json FROM images WHERE id = ?", (record.id,)).fetchone()
        assert seed_from_column(stored) == BIG and json.loads(text)["seed"] == BIG
    finally:
        gallery.close()


def test_import_of_a_comfyui_file_keeps_its_seed(tmp_path):
    graph = {
        "3": {"class_type": "KSampler", "inputs": {"seed": BIG, "steps": 20, "cfg": 7.0, "sampler_name": "euler",
                                                   "scheduler": "normal", "denoise": 1.0, "model": ["4", 0],
                                                   "positive": ["6", 0], "negative": ["7", 0],
                                                   "latent_image": ["5", 0]}},
        "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
        "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 512, "batch_size": 1}},
        "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a koi pond", "clip": ["4", 1]}},
        "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "", "clip": ["4", 1]}},
        "9": {"class_type": "SaveImage", "inputs": {"images": ["8", 0]}},
        "8": {"class_type": "VAEDecode", "inputs": {"samples": ["3", 0], "vae": ["4", 2]}},
    }
    request = parameters_from_file(png(tmp_path / "c.png", {"prompt": json.dumps(graph)}))["request"]
    assert (request.seed, request.prompt, request.scheduler) == (BIG, "a koi pond", "Euler")


@pytest.mark.parametrize("seed", [2**63, BIG])
def test_noise_of_a_big_seed_is_what_diffusers_draws(seed):
    torch = pytest.importorskip("torch")
    from diffusers.utils.torch_utils import randn_tensor

    from studio.engine._noise import seed_noise

    shape = (1, 4, 8, 8)
    ours = seed_noise(seed, shape, torch.float32)
    theirs = randn_tensor(shape, generator=torch.Generator("cpu").manual_seed(seed), dtype=torch.float32)
    assert torch.equal(ours, theirs)
    assert not torch.equal(ours, seed_noise(seed - 1, shape, torch.float32))
