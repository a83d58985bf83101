"""A single-file checkpoint's layout, read from its tensor names and a few shapes: which text
encoders it carries and how wide they are, the UNet's input channels and cross-attention width.
family.classify_checkpoint decides from these what the model is; this module only reads them.
"""

from __future__ import annotations

from dataclasses import dataclass

UNET_IN = "model.diffusion_model.input_blocks.0.0.weight"
UNET_PREFIX = "model.diffusion_model."
UNET_ADM = UNET_PREFIX + "label_emb.0.0.weight"  # SDXL's size/crop (and refiner: aesthetic) conditioning
# Where original checkpoints keep their text encoders, and in which layout: HF CLIP ("clip") or OpenCLIP.
ENCODER_SLOTS = (
    ("cond_stage_model.transformer.", "clip"),  # SD 1.x: CLIP ViT-L/14
    ("cond_stage_model.model.", "openclip"),  # SD 2.x: OpenCLIP ViT-H/14
    ("conditioner.embedders.0.transformer.", "clip"),  # SDXL base: CLIP-L ...
    ("conditioner.embedders.0.model.", "openclip"),  # SDXL refiner: OpenCLIP ViT-bigG alone
    ("conditioner.embedders.1.model.", "openclip"),  # SDXL base: ... and OpenCLIP ViT-bigG
)
ENCODER_NAMES = {("clip", 768): "CLIP-L", ("openclip", 1024): "OpenCLIP-H", ("openclip", 1280): "OpenCLIP-G"}
# The published models' UNet cross-attention widths and SDXL's extra-conditioning widths.
WIDTH_ARCH = {768: "sd1", 1024: "sd2", 2048: "sdxl", 1280: "refiner"}
ADM_ARCH = {2816: "sdxl", 2560: "refiner"}


def _width_key(prefix: str, layout: str, keys: set[str]) -> str:
    if layout == "openclip":
        return prefix + "token_embedding.weight"
    # transformers' CLIP layout; files from before transformers 4.x have no "text_model." level
    modern = prefix + "text_model.embeddings.token_embedding.weight"
    return modern if modern in keys or prefix + "embeddings.token_embedding.weight" not in keys \
        else prefix + "embeddings.token_embedding.weight"


def shape_keys(keys: set[str]) -> list[str]:
    """The few tensors whose shapes classify_checkpoint reads."""
    wanted = [UNET_IN, UNET_ADM]
    wanted += [_width_key(prefix, layout, keys) for prefix, layout in ENCODER_SLOTS]
    wanted += sorted(k for k in keys if k.startswith(UNET_PREFIX) and k.endswith(".attn2.to_k.weight"))[:1]
    return [k for k in wanted if k in keys]


@dataclass(frozen=True)
class Layout:
    """What a checkpoint's keys and shapes show: the facts classify_checkpoint decides on."""

    in_channels: int  # the UNet's first convolution's input channels (4, or 9 for inpainting)
    context_width: int  # the width of the text features its cross-attention reads; 0 if none
    adm_width: int  # SDXL's extra conditioning input (2816 base, 2560 refiner); 0 if none
    encoders: tuple[tuple[str, str, int], ...]  # (slot prefix, layout, width) of each text encoder

    def encoder_names(self) -> list[str]:
        return [ENCODER_NAMES.get((layout, width), f"{width or '?'}-wide {'CLIP' if layout == 'clip' else 'OpenCLIP'}")
                for _, layout, width in self.encoders]

    def describe(self) -> str:
        """e.g. "UNet with 8 input channels, 768-wide cross-attention, CLIP-L text encoder"."""
        parts = [f"UNet with {self.in_channels} input channels"]
        if self.context_width:
            parts.append(f"{self.context_width}-wide cross-attention")
        if self.adm_width:
            parts.append(f"{self.adm_width}-wide size conditioning")
        names = self.encoder_names()
        parts.append(f"{' + '.join(names)} text encoder{'s' if len(names) > 1 else ''}" if names else "no text encoder")
        return ", ".join(parts)


def checkpoint_layout(keys: set[str], shapes: dict[str, tuple[int, ...]]) -> Layout:
    def dim(key: str, index: int) -> int:
        shape = shapes.get(key, ())
        return int(shape[index]) if len(shape) > index else 0

    encoders = tuple((prefix, layout, dim(_width_key(prefix, layout, keys), 1))
                     for prefix, layout in ENCODER_SLOTS if any(k.startswith(prefix) for k in keys))
    attn = next((k for k in shape_keys(keys) if k.endswith(".attn2.to_k.weight")), "")
    return Layout(dim(UNET_IN, 1), dim(attn, 1) if attn else 0, dim(UNET_ADM, 1), encoders)
