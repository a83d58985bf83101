"""Easy Diffusion: one PNG text key per setting (`prompt`, `negative_prompt`, `seed`,
`num_inference_steps`, `guidance_scale`, `width`, `height`, `sampler_name`,
`use_stable_diffusion_model`), in older versions titled ("Prompt", "Negative Prompt", "Seed",
"Steps", "Guidance Scale", "Width", "Height", "Sampler", "Stable Diffusion model"); in JPEG/WebP
the same keys as JSON in the EXIF UserComment."""

from __future__ import annotations

from typing import Any

from studio.core.readers._common import (
    model_stem,
    put,
    put_sampler,
    text,
    to_float,
    to_int,
    to_seed,
)

_TITLES = {"Prompt": "prompt", "Negative Prompt": "negative_prompt", "Seed": "seed",
           "Steps": "num_inference_steps", "Guidance Scale": "guidance_scale", "Width": "width",
           "Height": "height", "Sampler": "sampler_name", "Stable Diffusion model": "use_stable_diffusion_model"}


def looks_like_easydiffusion(data: dict[str, Any]) -> bool:
    keys = set(data)
    return bool({"num_inference_steps", "use_stable_diffusion_model"} & keys) or (
        {"Prompt", "Negative Prompt"} <= keys) or ({"prompt", "negative_prompt", "seed"} <= keys
                                                  and "guidance_scale" in keys)


def parse_easydiffusion(data: dict[str, Any]) -> dict[str, Any]:
    data = {_TITLES.get(k, k): v for k, v in data.items()}
    out: dict[str, Any] = {"prompt": text(data.get("prompt")), "negative_prompt": text(data.get("negative_prompt"))}
    put(out, "seed", to_seed(data.get("seed")))
    put(out, "steps", to_int(data.get("num_inference_steps")))
    put(out, "guidance_scale", to_float(data.get("guidance_scale")))
    put(out, "width", to_int(data.get("width")))
    put(out, "height", to_int(data.get("height")))
    strength = to_float(data.get("prompt_strength"))
    if strength is not None and data.get("init_image"):
        out["strength"] = strength
    put_sampler(out, text(data.get("sampler_name")))
    put(out, "model_name", model_stem(data.get("use_stable_diffusion_model")) or None)
    return out
