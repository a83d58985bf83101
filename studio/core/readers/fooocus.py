"""Fooocus: JSON in PNG `parameters` (with `fooocus_scheme: fooocus`) or in the older `Comment`
(JPEG `comment`); its A1111 scheme is A1111 text with `Version: Fooocus ...`."""

from __future__ import annotations

import re
from typing import Any

from studio.core.readers._common import (
    json_object,
    model_stem,
    put,
    put_sampler,
    text,
    to_float,
    to_int,
    to_seed,
)

_PAIR = re.compile(r"\(\s*(\d{1,6})\s*,\s*(\d{1,6})\s*\)")


def looks_like_fooocus(data: dict[str, Any]) -> bool:
    return (text(data.get("metadata_scheme")) == "fooocus" or "full_prompt" in data
            or text(data.get("version")).lower().startswith("fooocus")
            or ("base_model" in data and "prompt" in data and "sharpness" in data))


def parse_fooocus(value: str | dict[str, Any]) -> dict[str, Any]:
    data = value if isinstance(value, dict) else json_object(value, "Fooocus")
    out: dict[str, Any] = {"prompt": text(data.get("prompt")), "negative_prompt": text(data.get("negative_prompt"))}
    put(out, "seed", to_seed(data.get("seed")))
    put(out, "steps", to_int(data.get("steps")))
    put(out, "guidance_scale", to_float(data.get("guidance_scale", data.get("cfg"))))
    size = _PAIR.fullmatch(text(data.get("resolution")).strip())
    if size:  # Fooocus writes (width, height)
        out["width"], out["height"] = int(size.group(1)), int(size.group(2))
    else:
        put(out, "width", to_int(data.get("width")))
        put(out, "height", to_int(data.get("height")))
    put_sampler(out, text(data.get("sampler")), text(data.get("scheduler")))
    put(out, "model_name", model_stem(data.get("base_model")) or None)
    put(out, "model_hash", text(data.get("base_model_hash")) or None)
    return out
