"""Smoke test of the training script (--tiny) and of the exported diffusers folder."""

from __future__ import annotations

import json
import warnings

import pytest
import torch

from studio.shapes.train import main as train_main


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


def test_tokenizer_words_are_single_tokens(tiny_model) -> None:
    from transformers import CLIPTokenizer

    tok = CLIPTokenizer.from_pretrained(tiny_model / "tokenizer")
    ids = tok("a small red star in the top left, blue background").input_ids
    assert len(ids) == 2 + 11 and tok.unk_token_id not in ids
    odd = tok("a zebra §§ unicorn", padding="max_length", max_length=tok.model_max_length).input_ids
    assert tok.unk_token_id in odd and len(odd) == tok.model_max_length


@pytest.mark.parametrize("name", ["EulerDiscreteScheduler", "EulerAncestralDiscreteScheduler",
                                  "DPMSolverMultistepScheduler", "DDIMScheduler", "UniPCMultistepScheduler"])
def test_schedulers_from_config(tiny_model, name: str) -> None:
    import diffusers
    from diffusers import StableDiffusionPipeline

    pipe = StableDiffusionPipeline.from_pretrained(tiny_model)
    pipe.scheduler = getattr(diffusers, name).from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    img = pipe("a blue star", num_inference_steps=3, guidance_scale=5.0, height=128, width=128,
               generator=torch.Generator().manual_seed(0)).images[0]
    assert img.size == (128, 128)
