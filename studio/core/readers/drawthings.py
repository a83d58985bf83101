"""Draw Things: an XMP packet whose exif:UserComment (or dc:description) holds JSON: `c` the
prompt, `uc` the negative, `seed`, `steps`, `scale`, `size` ("WxH"), `sampler`, `model`,
`strength`."""

from __future__ import annotations

import re
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

_SIZE = re.compile(r"\s*(\d{1,6})\s*x\s*(\d{1,6})\s*")


def looks_like_drawthings(data: dict[str, Any]) -> bool:
    return "c" in data and ("uc" in data or "scale" in data) and ("steps" in data or "seed" in data)


def parse_drawthings(data: dict[str, Any]) -> dict[str, Any]:
    out: dict[str, Any] = {"prompt": text(data.get("c")), "negative_prompt": text(data.get("uc"))}
    put(out, "seed", to_seed(data.get("seed")))
    put(out, "steps", to_int(data.get("steps")))
    put(out, "guidance_scale", to_float(data.get("scale")))
    size = _SIZE.fullmatch(text(data.get("size")))
    if size:
        out["width"], out["height"] = int(size.group(1)), int(size.group(2))
    strength = to_float(data.get("strength"))
    if strength is not None and strength < 1.0:
        out["strength"] = strength
    put_sampler(out, text(data.get("sampler")))
    put(out, "model_name", model_stem(data.get("model")) or None)
    return out
