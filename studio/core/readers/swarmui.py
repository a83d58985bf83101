"""SwarmUI (StableSwarmUI): JSON with `sui_image_params` in PNG `parameters` or EXIF UserComment
(older files: the EXIF Model tag, 0x0110)."""

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


def parse_swarmui(data: dict[str, Any]) -> dict[str, Any]:
    params = data.get("sui_image_params")
    params = params if isinstance(params, dict) else {}
    out: dict[str, Any] = {"prompt": text(params.get("prompt")),
                           "negative_prompt": text(params.get("negativeprompt"))}
    put(out, "seed", to_seed(params.get("seed")))
    put(out, "steps", to_int(params.get("steps")))
    put(out, "guidance_scale", to_float(params.get("cfgscale")))
    put(out, "width", to_int(params.get("width")))
    put(out, "height", to_int(params.get("height")))
    put_sampler(out, text(params.get("sampler") or params.get("comfyuisampler") or params.get("autowebuisampler")),
                text(params.get("scheduler")))
    strength = to_float(params.get("initimagecreativity"))
    if strength is not None and strength < 1.0 and "initimage" in str(params):
        out["strength"] = strength
    put(out, "model_name", model_stem(params.get("model")) or None)
    return out
