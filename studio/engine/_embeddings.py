"""Prompt encoding for a loaded pipeline, with a per-(model, prompt) cache.

Stub contract (issue 5 replaces the inside, keeps the interface): `PromptEncoder(pipe).encode(request)`
returns the keyword arguments for the pipeline call that carry the text conditioning:
prompt_embeds, negative_prompt_embeds, and for SDXL also pooled_prompt_embeds and
negative_pooled_prompt_embeds. Computed exactly as the pipeline itself would, so results match a
plain diffusers call bit for bit.
"""

from __future__ import annotations

import torch

from studio.core.request import GenerationRequest


class PromptEncoder:
    def __init__(self, pipe) -> None:  # noqa: ANN001 - any diffusers SD-family pipeline
        self.pipe = pipe
        self.encoder_calls = 0

    @torch.no_grad()
    def encode(self, request: GenerationRequest) -> dict[str, torch.Tensor]:
        pipe = self.pipe
        cfg = request.guidance_scale > 1.0
        self.encoder_calls += 1
        out = pipe.encode_prompt(
            request.prompt,
            device=pipe._execution_device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=cfg,
            negative_prompt=request.negative_prompt or None,
        )
        if len(out) == 4:  # SDXL: embeds, negative, pooled, negative pooled
            pe, ne, pp, npp = out
            kwargs = {"prompt_embeds": pe, "pooled_prompt_embeds": pp}
            if cfg:
                kwargs.update(negative_prompt_embeds=ne, negative_pooled_prompt_embeds=npp)
            return kwargs
        pe, ne = out
        kwargs = {"prompt_embeds": pe}
        if cfg:
            kwargs["negative_prompt_embeds"] = ne
        return kwargs
