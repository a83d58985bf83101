"""Tiny random SD1 and SDXL pipelines built in code (no downloads), for the blend/weighting tests.

The tokenizer is character-level (every letter is one token), so token counts are easy to reason
about: "abc" is 3 tokens. Built once per process: building takes a second or two on one core.
"""

from __future__ import annotations

import functools
import string

import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import (
    CLIPTextConfig,
    CLIPTextModel,
    CLIPTextModelWithProjection,
    CLIPTokenizer,
)

MAX_TOKENS = 77


def char_tokenizer(pad_token: str = "<|endoftext|>") -> CLIPTokenizer:
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1, "!": 2}
    for char in string.ascii_lowercase + string.digits + ",.:()[]":
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(char + "</w>", len(vocab))
    return CLIPTokenizer(
        vocab=vocab,
        merges=[],
        unk_token="<|endoftext|>",
        pad_token=pad_token,
        model_max_length=MAX_TOKENS,
    )


def _text_config(hidden: int, **extra) -> CLIPTextConfig:
    fields = dict(
        vocab_size=100,
        hidden_size=hidden,
        intermediate_size=37,
        num_hidden_layers=2,
        num_attention_heads=4,
        max_position_embeddings=MAX_TOKENS,
        bos_token_id=0,
        eos_token_id=1,
        pad_token_id=1,
    )
    return CLIPTextConfig(**{**fields, **extra})


def _vae() -> AutoencoderKL:
    return AutoencoderKL(
        block_out_channels=(8, 8),
        in_channels=3,
        out_channels=3,
        down_block_types=("DownEncoderBlock2D",) * 2,
        up_block_types=("UpDecoderBlock2D",) * 2,
        latent_channels=4,
        norm_num_groups=4,
        layers_per_block=1,
    )


def _scheduler() -> EulerDiscreteScheduler:
    return EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1
    )


@functools.cache
def tiny_sd() -> StableDiffusionPipeline:
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32,
        attention_head_dim=4,
        norm_num_groups=4,
    )
    pipe = StableDiffusionPipeline(
        vae=_vae(),
        text_encoder=CLIPTextModel(_text_config(32)).eval(),
        tokenizer=char_tokenizer(),
        unet=unet,
        scheduler=_scheduler(),
        safety_checker=None,
        feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


@functools.cache
def tiny_sd_real_tokenizer() -> StableDiffusionPipeline:
    """The tiny SD1 pipeline with the real CLIP BPE tokenizer (and a text encoder sized for it)."""
    from studio.engine._checkpoints import clip_tokenizer

    torch.manual_seed(0)
    base = tiny_sd()
    encoder = CLIPTextModel(_text_config(32, vocab_size=49408, bos_token_id=49406, eos_token_id=49407)).eval()
    pipe = StableDiffusionPipeline(
        vae=base.vae, text_encoder=encoder, tokenizer=clip_tokenizer(), unet=base.unet,
        scheduler=base.scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


@functools.cache
def tiny_sdxl(force_zeros: bool = True) -> StableDiffusionXLPipeline:
    torch.manual_seed(0)
    unet = UNet2DConditionModel(
        block_out_channels=(8, 16),
        layers_per_block=1,
        sample_size=8,
        in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=64,  # 32 + 32 from the two encoders
        attention_head_dim=4,
        norm_num_groups=4,
        addition_embed_type="text_time",
        addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=32 + 6 * 8,
        transformer_layers_per_block=1,
    )
    pipe = StableDiffusionXLPipeline(
        vae=_vae(),
        text_encoder=CLIPTextModel(_text_config(32)).eval(),
        text_encoder_2=CLIPTextModelWithProjection(_text_config(32, projection_dim=32)).eval(),
        tokenizer=char_tokenizer(),
        tokenizer_2=char_tokenizer(pad_token="!"),
        unet=unet,
        scheduler=_scheduler(),
        force_zeros_for_empty_prompt=force_zeros,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


class EncoderCallCounter:
    """Counts forward passes of a pipeline's text encoder(s)."""

    def __init__(self, pipe) -> None:
        self.calls = 0
        self._handles = [
            module.register_forward_hook(self._hook)
            for module in (getattr(pipe, "text_encoder", None), getattr(pipe, "text_encoder_2", None))
            if module is not None
        ]

    def _hook(self, *_args) -> None:
        self.calls += 1

    def close(self) -> None:
        for handle in self._handles:
            handle.remove()
