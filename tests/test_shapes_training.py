"""Smoke test of the training script (--tiny) and of the exported diffusers folder."""

from __future__ import annotations

import json
import random
import tempfile
import warnings

import pytest
import torch

from studio.core.request import SCHEDULERS
from studio.shapes.train import main as train_main
from studio.shapes.train import object_weights
from studio.shapes.train_vae import _image_mask_batch


@pytest.fixture(scope="module")
def tiny_model(tmp_path_factory: pytest.TempPathFactory):
    root = tmp_path_factory.mktemp("shapes")
    out = root / "model"
    train_main(["--out", str(out), "--work", str(root / "work"), "--tiny", "--threads", "1"])
    return out


def test_tiny_training_exports_loadable_pipeline(tiny_model) -> None:
    from diffusers import StableDiffusionPipeline

    index = json.loads((tiny_model / "model_index.json").read_text())
    assert index["safety_checker"] == [None, None] and index["feature_extractor"] == [None, None]
    assert not list(tiny_model.rglob("*.bin"))  # safetensors only
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        pipe = StableDiffusionPipeline.from_pretrained(tiny_model)
    pipe.set_progress_bar_config(disable=True)
    img = pipe("a red circle on the left", num_inference_steps=1, height=128, width=128,
               generator=torch.Generator().manual_seed(0)).images[0]
    assert img.size == (128, 128)


def test_tiny_training_runs_the_main_then_two_refining_unet_phases(tiny_model) -> None:
    rows = [ln.split("\t") for ln in (tiny_model.parent / "work" / "loss_log.tsv").read_text().splitlines()]
    unet = [r for r in rows if r[0] in ("unet", "refine", "refine2")]
    assert [r[0] for r in unet] == ["unet"] * 4 + ["refine"] * 2 + ["refine2"] * 2
    assert [int(r[1]) for r in unet] == list(range(1, 9))  # one step count across the phases
    # Each refining cycle restarts the learning rate at its own (lower) base, then anneals.
    assert float(unet[4][3]) > float(unet[3][3])
    assert float(unet[6][3]) > float(unet[5][3]) and unet[6][3] == unet[4][3]


def _posterior(vae_dir):
    from diffusers import AutoencoderKL

    from studio.shapes import dataset as ds

    vae = AutoencoderKL.from_pretrained(vae_dir).eval()
    img = ds.generate(seed=3, n=1)[0][0]
    x = torch.from_numpy(ds.image_to_array(img))[None]
    with torch.no_grad():
        return vae.encode(x).latent_dist


@pytest.mark.parametrize("where", ["tiny", "bundled"])
def test_exported_vae_posterior_is_the_decoders_training_noise(tiny_model, where: str) -> None:
    # img2img and inpaint encode with a posterior *sample*; it must be the mean plus the small noise
    # the decoder was trained with, not the never-trained variance head's noise (std ~0.85).
    from studio.core.paths import bundled_model_path
    from studio.shapes.train_vae import DECODER_NOISE

    root = tiny_model if where == "tiny" else bundled_model_path()
    if not (root / "vae" / "config.json").is_file():
        pytest.skip("bundled model not trained yet")
    post = _posterior(root / "vae")
    assert torch.allclose(post.std, torch.full_like(post.std, DECODER_NOISE), rtol=1e-4)
    assert (post.sample() - post.mean).abs().max() < 6 * DECODER_NOISE


def test_tokenizer_words_are_single_tokens(tiny_model) -> None:
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(tiny_model / "tokenizer")
    ids = tok("a small red star in the top left, blue background").input_ids
    assert len(ids) == 2 + 11 and tok.unk_token_id not in ids
    odd = tok("a zebra §§ unicorn", padding="max_length", max_length=tok.model_max_length).input_ids
    assert tok.unk_token_id in odd and len(odd) == tok.model_max_length


@pytest.mark.parametrize("name", SCHEDULERS)
def test_every_sampler_runs_the_zero_snr_v_schedule(tiny_model, name: str) -> None:
    # The model is trained for v-prediction on zero-terminal-SNR betas with trailing timesteps;
    # every sampler the app offers must pick all three up from the folder's config and stay finite
    # (sigma_max is 4096 at the first step).
    import numpy as np
    from diffusers import StableDiffusionPipeline

    from studio.engine._schedulers import build_scheduler

    pipe = StableDiffusionPipeline.from_pretrained(tiny_model)
    pipe.scheduler = build_scheduler(name, pipe.scheduler.config)
    config = pipe.scheduler.config
    assert config.prediction_type == "v_prediction" and config.rescale_betas_zero_snr
    assert config.timestep_spacing == "trailing"
    pipe.set_progress_bar_config(disable=True)
    out = pipe("a blue star", num_inference_steps=3, guidance_scale=5.0, height=128, width=128,
               generator=torch.Generator().manual_seed(0), output_type="np").images
    assert out.shape == (1, 128, 128, 3) and np.isfinite(out).all()


def test_text_targets_follow_what_the_caption_says() -> None:
    from studio.shapes import dataset as ds
    from studio.shapes.text_pretrain import (
        ABSENT,
        BACKGROUND_CLASSES,
        SLOT_CLASSES,
        UNSAID,
        targets,
    )

    label = {"background": "blue", "objects": [
        {"color": "red", "shape": "star", "size": "small", "position": "top left"}]}
    said = {"background": False, "objects": [{"color": True, "size": False, "position": True}]}
    y = targets(label, said)
    names = [c for c in SLOT_CLASSES]
    slot0 = dict(zip(names, y[1:5], strict=True))
    slot1 = dict(zip(names, y[5:9], strict=True))
    assert BACKGROUND_CLASSES[y[0]] == UNSAID
    assert {k: SLOT_CLASSES[k][v] for k, v in slot0.items()} == {
        "color": "red", "shape": "star", "size": UNSAID, "position": "top left"}
    assert all(SLOT_CLASSES[k][v] == ABSENT for k, v in slot1.items())
    # Every sampled caption's targets are in range for its head.
    rng = random.Random(0)
    for _ in range(200):
        lab = ds.sample_scene(rng)
        _, s = ds.describe(lab, rng)
        y = targets(lab, s)
        sizes = [len(BACKGROUND_CLASSES)] + [len(c) for _ in range(2) for c in SLOT_CLASSES.values()]
        assert all(0 <= v < n for v, n in zip(y, sizes, strict=True))


def test_text_encoder_learns_to_parse_captions() -> None:
    from studio.shapes.model import build_text_encoder, build_tokenizer
    from studio.shapes.text_pretrain import pretrain_text_encoder

    torch.manual_seed(0)
    with tempfile.TemporaryDirectory() as tmp:
        tok = build_tokenizer(tmp)
    te = build_text_encoder(len(tok), tiny=True)
    acc = pretrain_text_encoder(te, tok, steps=60, batch=64, lr=3e-3)
    # Chance is 10-25% per head; a minute of training on a full model reaches ~100%.
    assert acc["shape0"] > 60 and acc["color0"] > 40, acc


def test_decoder_masks_mark_the_shapes_of_their_own_images() -> None:
    # The decoder's loss weighs shape pixels up; the masks must come from the same scenes.
    images, masks = _image_mask_batch(random.Random(5), 6)
    assert images.shape == (6, 3, 128, 128) and masks.shape == (6, 1, 128, 128)
    for img, mask in zip(images, masks, strict=True):
        background = img[:, 0, 0]
        differs = (img - background[:, None, None]).abs().amax(0) > 0.05
        inside, outside = mask[0] > 0.99, mask[0] == 0
        assert inside.any() and differs[inside].float().mean() > 0.99
        assert differs[outside].float().mean() < 0.01


def test_balanced_object_weights_give_small_and_large_objects_equal_shares() -> None:
    def scene(size: str, r: int) -> dict:
        return {"objects": [{"shape": "square", "color": "red", "size": size, "position": "center",
                             "cx": 64, "cy": 64, "r": r}], "background": "blue"}

    labels = [scene("small", 13), scene("large", 28)]
    plain = object_weights(labels, 32, 4.0)
    balanced = object_weights(labels, 32, 4.0, balance=1.0)
    assert plain.max() == pytest.approx(5.0) and plain.min() == pytest.approx(1.0)
    # Plain weights: the large square's extra weight is several times the small one's.
    extra_plain = (plain - 1).sum(dim=(1, 2, 3))
    assert extra_plain[1] > 3 * extra_plain[0]
    # Balanced: the same order of extra weight for both (dilation keeps it from being exact).
    extra = (balanced - 1).sum(dim=(1, 2, 3))
    assert 0.6 < float(extra[0] / extra[1]) < 1.6
    assert balanced[0].max() > balanced[1].max()


def _budget_args(tmp_path, **over):
    import argparse

    args = dict(total_minutes=90.0, max_minutes=75.0, refine_minutes=45.0, refine_cycles=2, refine_steps=3300,
                steps=8000, lr=1e-3, stop_at=None, t_power=0.5, refine_lr=5e-4, refine_t_power=1.0,
                refine_fg_balance=1.0, resume=False)
    args.update(over)
    return argparse.Namespace(**args)


def test_total_minutes_shares_what_is_left_among_the_unet_phases_in_their_ratio(tmp_path) -> None:
    import time

    from studio.shapes.train import EXPORT_RESERVE_S, _unet_phases, unet_minutes_scale

    args = _budget_args(tmp_path)
    started = time.time() - 20 * 60  # the VAE and text encoder took 20 minutes
    scale = unet_minutes_scale(args, tmp_path, started)
    minutes = [ph["minutes"] for ph in _unet_phases(args, scale)]
    assert sum(minutes) == pytest.approx(70 - EXPORT_RESERVE_S / 60, abs=0.05)
    assert minutes[0] / minutes[1] == pytest.approx(75 / 45) and minutes[1] == minutes[2]
    # A resumed run keeps the schedule it started with, however late it resumes.
    args.resume = True
    assert unet_minutes_scale(args, tmp_path, time.time() - 60 * 60) == scale
    # Without a budget the caps are used as given; a budget already spent is a one-line error.
    assert unet_minutes_scale(_budget_args(tmp_path, total_minutes=0.0), tmp_path, started) == 1.0
    with pytest.raises(SystemExit, match="leaves no time for the UNet"):
        unet_minutes_scale(_budget_args(tmp_path, total_minutes=20.0), tmp_path / "x", started)


def test_the_default_run_is_the_90_minute_recipe_with_a_third_of_the_unet_time_per_phase(tmp_path) -> None:
    import time

    from studio.shapes.train import _unet_phases, build_parser, unet_minutes_scale

    args = build_parser().parse_args(["--out", str(tmp_path / "m")])
    assert args.total_minutes == 90 and args.decoder_minutes > 0
    started = time.time() - 18 * 60  # about what the VAE, decoder and text encoder take on 2 cores
    minutes = [ph["minutes"] for ph in _unet_phases(args, unet_minutes_scale(args, tmp_path, started))]
    assert [ph["name"] for ph in _unet_phases(args)] == ["unet", "refine", "refine2"]
    assert minutes[1] == minutes[2] and minutes[0] == pytest.approx(minutes[1])
    assert 18 + sum(minutes) <= 90
