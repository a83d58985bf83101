"""A tiny, randomly initialised SD1-architecture pipeline built in code (no download).

Same component classes, wiring and latent layout (4 channels, VAE scale factor 8) as Stable
Diffusion 1.x, but a few kilobytes of weights, so tests and benchmarks run the real diffusers code
paths in milliseconds. The pictures are noise; only the plumbing is real.
"""

from __future__ import annotations

import string
from pathlib import Path

import torch
from diffusers import (
    AutoencoderKL,
    EulerAncestralDiscreteScheduler,
    StableDiffusionPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection, CLIPTokenizer

BOS, EOS, UNK = "<|startoftext|>", "<|endoftext|>", "<|unk|>"
TOKEN_DIM = 32
NATIVE_SIZE = 64  # px; unet sample_size 8 x VAE scale factor 8


def _tokenizer() -> CLIPTokenizer:
    # One token per character (no merges): tiny, yet any prompt tokenizes without a vocab download.
    vocab = {UNK: 0, BOS: 1, EOS: 2}
    for char in string.ascii_lowercase + string.digits + string.punctuation:
        vocab.setdefault(char, len(vocab))
        vocab.setdefault(char + "</w>", len(vocab))
    return CLIPTokenizer(
        vocab=vocab, merges=[], unk_token=UNK, bos_token=BOS, eos_token=EOS, pad_token=EOS,
        model_max_length=77,  # as CLIP; one token per character fills it fast
    )


def build_tiny_pipeline(seed: int = 0) -> StableDiffusionPipeline:
    """Build the tiny pipeline with weights drawn from `seed` (same seed, same weights)."""
    torch.manual_seed(seed)
    tokenizer = _tokenizer()
    text_encoder = CLIPTextModel(
        CLIPTextConfig(
            vocab_size=len(tokenizer), hidden_size=TOKEN_DIM, intermediate_size=37,
            num_attention_heads=4, num_hidden_layers=2, max_position_embeddings=77,
            bos_token_id=1, eos_token_id=2, pad_token_id=2,
        )
    )
    unet = UNet2DConditionModel(
        sample_size=NATIVE_SIZE // 8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(8, 16), norm_num_groups=4, cross_attention_dim=TOKEN_DIM,
        attention_head_dim=2,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    )
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=4,
        block_out_channels=(4, 4, 4, 4),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        sample_size=NATIVE_SIZE,
    )
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
    )
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=text_encoder, tokenizer=tokenizer, unet=unet, scheduler=scheduler,
        safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def build_tiny_xl_pipeline(seed: int = 0) -> StableDiffusionXLPipeline:
    """The same, SDXL-shaped: two text encoders (pooled output), size/crop conditioning, and a
    VAE flagged force_upcast with SDXL's scaling factor, so the SDXL code paths run for real."""
    torch.manual_seed(seed)
    tokenizer = _tokenizer()
    config = CLIPTextConfig(
        vocab_size=len(tokenizer), hidden_size=TOKEN_DIM, intermediate_size=37, projection_dim=TOKEN_DIM,
        num_attention_heads=4, num_hidden_layers=2, max_position_embeddings=77,
        bos_token_id=1, eos_token_id=2, pad_token_id=2,
    )
    text_encoder, text_encoder_2 = CLIPTextModel(config), CLIPTextModelWithProjection(config)
    time_embed_dim = 8
    unet = UNet2DConditionModel(
        sample_size=NATIVE_SIZE // 8, in_channels=4, out_channels=4, layers_per_block=1,
        block_out_channels=(8, 16), norm_num_groups=4, cross_attention_dim=2 * TOKEN_DIM,
        attention_head_dim=2, use_linear_projection=True,
        # six size/crop numbers, each embedded, plus the pooled text embedding
        addition_embed_type="text_time", addition_time_embed_dim=time_embed_dim,
        projection_class_embeddings_input_dim=6 * time_embed_dim + TOKEN_DIM,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
    )
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=4,
        block_out_channels=(4, 4, 4, 4),
        down_block_types=("DownEncoderBlock2D",) * 4, up_block_types=("UpDecoderBlock2D",) * 4,
        sample_size=NATIVE_SIZE, scaling_factor=0.13025, force_upcast=True,
    )
    scheduler = EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
        timestep_spacing="leading",
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
        tokenizer_2=tokenizer, unet=unet, scheduler=scheduler, add_watermarker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def save_tiny_pipeline(path: Path, seed: int = 0, arch: str = "sd1") -> Path:
    """Write the tiny pipeline ("sd1" or "sdxl") as a diffusers folder at `path` and return it."""
    path = Path(path)
    build = build_tiny_xl_pipeline if arch == "sdxl" else build_tiny_pipeline
    build(seed).save_pretrained(path)
    return path
