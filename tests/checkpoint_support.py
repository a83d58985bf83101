"""Tiny SD1 / SD1-inpaint / SDXL pipelines built in code, and a writer that saves them as
single-file checkpoints in the ORIGINAL key layout (LDM for SD 1.x/2.x, SGM for SDXL), the way
real .safetensors checkpoints come. The key mapping is the inverse of what diffusers' single-file
loader expects; tests prove it by loading the file back and comparing every tensor.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch
from diffusers import (
    AutoencoderKL,
    EulerDiscreteScheduler,
    StableDiffusionInpaintPipeline,
    StableDiffusionXLPipeline,
    UNet2DConditionModel,
)
from safetensors.torch import save_file
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTextModelWithProjection

from studio.engine._tiny import _tokenizer, build_tiny_pipeline

# ---- tiny pipelines ----------------------------------------------------------------------------


def tiny_sd1(seed: int = 0) -> Any:
    return build_tiny_pipeline(seed)


def tiny_sd1_inpaint(seed: int = 0) -> Any:
    base = build_tiny_pipeline(seed)
    torch.manual_seed(seed + 1)
    unet = UNet2DConditionModel.from_config(base.unet.config, in_channels=9)
    pipe = StableDiffusionInpaintPipeline(
        vae=base.vae, text_encoder=base.text_encoder, tokenizer=base.tokenizer, unet=unet,
        scheduler=base.scheduler, safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_sd2(seed: int = 0) -> Any:
    """SD 2.x wiring at toy size: linear projections in the UNet's transformers, GELU text encoder
    (saved in OpenCLIP's layout by `to_original_layout(pipe, sd2=True)`)."""
    base = build_tiny_pipeline(seed)
    torch.manual_seed(seed + 2)
    config = dict(base.text_encoder.config.to_dict(), hidden_act="gelu")
    base.text_encoder = CLIPTextModel(CLIPTextConfig(**config))
    base.unet = UNet2DConditionModel.from_config(base.unet.config, use_linear_projection=True)
    base.register_modules(text_encoder=base.text_encoder, unet=base.unet)
    return base


def tiny_sdxl(seed: int = 0) -> Any:
    """SDXL wiring (two text encoders, pooled + time ids) at toy size. The encoders differ in width,
    as CLIP-L (768) and bigG (1280) do, which is how the loader tells their weights apart."""
    torch.manual_seed(seed)
    tokenizer = _tokenizer()
    common = dict(
        vocab_size=len(tokenizer), intermediate_size=37, num_attention_heads=4, num_hidden_layers=2,
        max_position_embeddings=tokenizer.model_max_length, bos_token_id=1, eos_token_id=2, pad_token_id=2,
        hidden_act="gelu",
    )
    text_encoder = CLIPTextModel(CLIPTextConfig(hidden_size=32, **common))
    text_encoder_2 = CLIPTextModelWithProjection(CLIPTextConfig(hidden_size=48, projection_dim=48, **common))
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(8, 16),
        norm_num_groups=4, attention_head_dim=(2, 4), use_linear_projection=True,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"),
        up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        transformer_layers_per_block=(1, 2), cross_attention_dim=32 + 48,
        addition_embed_type="text_time", addition_time_embed_dim=8,
        projection_class_embeddings_input_dim=6 * 8 + 48,
    )
    vae = AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1, norm_num_groups=4,
        block_out_channels=(4, 4, 4, 4), down_block_types=("DownEncoderBlock2D",) * 4,
        up_block_types=("UpDecoderBlock2D",) * 4, sample_size=64,
    )
    scheduler = EulerDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
    )
    pipe = StableDiffusionXLPipeline(
        vae=vae, text_encoder=text_encoder, text_encoder_2=text_encoder_2, tokenizer=tokenizer,
        tokenizer_2=tokenizer, unet=unet, scheduler=scheduler,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def tiny_sdxl_inpaint(seed: int = 0) -> Any:
    from diffusers import StableDiffusionXLInpaintPipeline

    base = tiny_sdxl(seed)
    torch.manual_seed(seed + 1)
    unet = UNet2DConditionModel.from_config(base.unet.config, in_channels=9)
    pipe = StableDiffusionXLInpaintPipeline(
        vae=base.vae, text_encoder=base.text_encoder, text_encoder_2=base.text_encoder_2,
        tokenizer=base.tokenizer, tokenizer_2=base.tokenizer_2, unet=unet, scheduler=base.scheduler,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


# ---- diffusers -> original layout --------------------------------------------------------------

_RESNET = {"norm1": "in_layers.0", "conv1": "in_layers.2", "time_emb_proj": "emb_layers.1",
           "norm2": "out_layers.0", "conv2": "out_layers.3", "conv_shortcut": "skip_connection"}
_UNET_TOP = {"time_embedding.linear_1": "time_embed.0", "time_embedding.linear_2": "time_embed.2",
             "conv_in": "input_blocks.0.0", "conv_norm_out": "out.0", "conv_out": "out.2",
             "add_embedding.linear_1": "label_emb.0.0", "add_embedding.linear_2": "label_emb.0.2"}


def unet_key(key: str, per_block: int, up_has_attn: set[int]) -> str:
    for new, old in _UNET_TOP.items():
        if key.startswith(new + "."):
            return old + key[len(new):]
    p = key.split(".")
    span = per_block + 1  # LDM counts a block's layers plus its down/upsampler
    if p[0] == "mid_block":
        index = {("resnets", "0"): 0, ("attentions", "0"): 1, ("resnets", "1"): 2}[(p[1], p[2])]
        rest = p[3:]
        return ".".join([f"middle_block.{index}", *(_resnet_rest(rest) if p[1] == "resnets" else rest)])
    block, kind = int(p[1]), p[2]
    if p[0] == "down_blocks":
        if kind == "downsamplers":
            return ".".join([f"input_blocks.{1 + block * span + per_block}.0.op", *p[5:]])
        slot = f"input_blocks.{1 + block * span + int(p[3])}"
    else:
        if kind == "upsamplers":
            sub = 2 if block in up_has_attn else 1
            return ".".join([f"output_blocks.{block * span + per_block}.{sub}.conv", *p[5:]])
        slot = f"output_blocks.{block * span + int(p[3])}"
    if kind == "resnets":
        return ".".join([slot, "0", *_resnet_rest(p[4:])])
    return ".".join([slot, "1", *p[4:]])


def _resnet_rest(rest: list[str]) -> list[str]:
    return [_RESNET.get(rest[0], rest[0]), *rest[1:]]


def vae_key(key: str, n_blocks: int) -> str:
    p = key.split(".")
    if p[0] in ("quant_conv", "post_quant_conv") or p[1] in ("conv_in", "conv_out"):
        return key
    if p[1] == "conv_norm_out":
        return ".".join([p[0], "norm_out", *p[2:]])
    if p[1] == "mid_block":
        if p[2] == "resnets":
            return ".".join([p[0], f"mid.block_{int(p[3]) + 1}", *_vae_resnet(p[4:])])
        names = {"group_norm": "norm", "to_q": "q", "to_k": "k", "to_v": "v", "to_out": "proj_out"}
        rest = p[4:] if p[4] != "to_out" else ["to_out", *p[6:]]
        return ".".join([p[0], "mid.attn_1", names[rest[0]], *rest[1:]])
    block = int(p[2])
    if p[1] == "down_blocks":
        if p[3] == "downsamplers":
            return ".".join([p[0], f"down.{block}.downsample.conv", *p[6:]])
        return ".".join([p[0], f"down.{block}.block.{p[4]}", *_vae_resnet(p[5:])])
    ldm_block = n_blocks - 1 - block  # the decoder's up blocks are numbered the other way round
    if p[3] == "upsamplers":
        return ".".join([p[0], f"up.{ldm_block}.upsample.conv", *p[6:]])
    return ".".join([p[0], f"up.{ldm_block}.block.{p[4]}", *_vae_resnet(p[5:])])


def _vae_resnet(rest: list[str]) -> list[str]:
    return ["nin_shortcut" if rest[0] == "conv_shortcut" else rest[0], *rest[1:]]


def clip_to_ldm(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    return {prefix + (k if k.startswith("text_model.") else "text_model." + k): v for k, v in state.items()}


def open_clip_to_ldm(state: dict[str, torch.Tensor], prefix: str) -> dict[str, torch.Tensor]:
    out: dict[str, torch.Tensor] = {}
    renames = {"self_attn.out_proj": "attn.out_proj", "layer_norm1": "ln_1", "layer_norm2": "ln_2",
               "mlp.fc1": "mlp.c_fc", "mlp.fc2": "mlp.c_proj"}
    fixed = {"text_model.embeddings.token_embedding.weight": "token_embedding.weight",
             "text_model.embeddings.position_embedding.weight": "positional_embedding",
             "text_model.final_layer_norm.weight": "ln_final.weight",
             "text_model.final_layer_norm.bias": "ln_final.bias"}
    state = {k if k.startswith(("text_model.", "text_projection")) else "text_model." + k: v
             for k, v in state.items()}
    for key, value in state.items():
        if key in fixed:
            out[prefix + fixed[key]] = value
        elif key == "text_projection.weight":
            out[prefix + "text_projection"] = value.T.contiguous()
        elif ".self_attn.q_proj." in key:
            layer = key.split(".")[3]
            kind = key.rsplit(".", 1)[1]
            parts = [state[key.replace("q_proj", name)] for name in ("q_proj", "k_proj", "v_proj")]
            out[f"{prefix}transformer.resblocks.{layer}.attn.in_proj_{kind}"] = torch.cat(parts)
        elif ".self_attn.k_proj." in key or ".self_attn.v_proj." in key:
            continue
        else:
            rest = key.removeprefix("text_model.encoder.layers.")
            layer, tail = rest.split(".", 1)
            for new, old in renames.items():
                tail = tail.replace(new, old)
            out[f"{prefix}transformer.resblocks.{layer}.{tail}"] = value
    return out


def to_original_layout(pipe: Any, sd2: bool = False) -> dict[str, torch.Tensor]:
    unet_state = pipe.unet.state_dict()
    per_block = pipe.unet.config.layers_per_block
    up_has_attn = {int(k.split(".")[1]) for k in unet_state if k.startswith("up_blocks.") and ".attentions." in k}
    out = {"model.diffusion_model." + unet_key(k, per_block, up_has_attn): v for k, v in unet_state.items()}
    n_vae = len(pipe.vae.config.block_out_channels)
    for key, value in pipe.vae.state_dict().items():
        ldm = vae_key(key, n_vae)
        if ".mid.attn_1." in ldm and ldm.endswith(".weight") and value.ndim == 2:
            value = value[:, :, None, None]  # LDM's VAE attention uses 1x1 convolutions
        out["first_stage_model." + ldm] = value
    if hasattr(pipe, "text_encoder_2"):
        out.update(clip_to_ldm(pipe.text_encoder.state_dict(), "conditioner.embedders.0.transformer."))
        out.update(open_clip_to_ldm(pipe.text_encoder_2.state_dict(), "conditioner.embedders.1.model."))
    elif sd2:
        out.update(open_clip_to_ldm(pipe.text_encoder.state_dict(), "cond_stage_model.model."))
        width = pipe.text_encoder.config.hidden_size  # SD 2.x files carry a projection diffusers ignores
        out["cond_stage_model.model.text_projection"] = torch.zeros(width, width)
    else:
        out.update(clip_to_ldm(pipe.text_encoder.state_dict(), "cond_stage_model.transformer."))
    return {k: v.detach().clone().contiguous() for k, v in out.items()}


def save_single_file(pipe: Any, path: Path, metadata: dict[str, str] | None = None, sd2: bool = False) -> Path:
    save_file(to_original_layout(pipe, sd2), str(path), metadata=metadata)
    return path


# ---- header-faithful files -----------------------------------------------------------------------
# One-byte tensors whose dimension the detection reads has the real size (the vocabulary
# dimension, never read, is 1): a file shaped like SD 1/2/XL in a few hundred KB.

UNET = "model.diffusion_model."
CLIP_L = "cond_stage_model.transformer.text_model.embeddings.token_embedding.weight"
OPENCLIP_H = "cond_stage_model.model.token_embedding.weight"
XL_CLIP_L = "conditioner.embedders.0.transformer.text_model.embeddings.token_embedding.weight"
XL_OPENCLIP_G = "conditioner.embedders.1.model.token_embedding.weight"
REFINER_G = "conditioner.embedders.0.model.token_embedding.weight"


def _t(*shape: int) -> torch.Tensor:
    return torch.zeros(shape, dtype=torch.uint8)


def header_checkpoint(tmp_path: Path, name: str, *, channels: int = 4, context: int = 768, adm: int = 0,
                      encoders: dict[str, int] | None = None, metadata: dict[str, str] | None = None,
                      extra: dict[str, torch.Tensor] | None = None) -> Path:
    """A header-faithful single file: the UNet's first conv, one cross-attention key projection,
    SDXL's label embedding when `adm`, a VAE tensor and each text encoder's token embedding."""
    tensors = {
        UNET + "input_blocks.0.0.weight": _t(1, channels, 1, 1),
        "first_stage_model.decoder.conv_in.weight": _t(1),
    }
    if context:
        tensors[UNET + "input_blocks.1.1.transformer_blocks.0.attn2.to_k.weight"] = _t(1, context)
    if adm:
        tensors[UNET + "label_emb.0.0.weight"] = _t(1, adm)
    for key, width in (encoders if encoders is not None else {CLIP_L: 768}).items():
        tensors[key] = _t(1, width)
    tensors.update(extra or {})
    path = tmp_path / name
    save_file(tensors, str(path), metadata=metadata)
    return path
