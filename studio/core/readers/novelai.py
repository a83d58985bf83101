"""NovelAI: PNG `Description` (the prompt), `Software: NovelAI`, and `Comment` (JSON settings:
steps, scale, seed, sampler, uc = the negative prompt, width/height in newer files). The same keys
come gzipped in the alpha channel's low bits of files whose text was stripped (see stealth.py)."""

from __future__ import annotations

from typing import Any

from studio.core.readers._common import (
    json_object,
    put,
    put_sampler,
    text,
    to_float,
    to_int,
    to_seed,
)


def is_novelai(info: dict[str, str]) -> bool:
    return text(info.get("Software")).strip().lower().startswith("novelai") or (
        "Comment" in info and "Description" in info and '"uc"' in text(info.get("Comment")))


def parse_novelai(info: dict[str, str]) -> dict[str, Any]:
    data = json_object(info.get("Comment", "{}"), "NovelAI")
    out: dict[str, Any] = {"prompt": text(data.get("prompt")) or text(info.get("Description"))
                           or _v4_caption(data.get("v4_prompt")),
                           "negative_prompt": text(data.get("uc")) or _v4_caption(data.get("v4_negative_prompt"))}
    put(out, "seed", to_seed(data.get("seed")))
    put(out, "steps", to_int(data.get("steps")))
    put(out, "guidance_scale", to_float(data.get("scale")))
    put(out, "width", to_int(data.get("width")))
    put(out, "height", to_int(data.get("height")))
    put_sampler(out, text(data.get("sampler")))
    source = text(info.get("Source")).strip()  # "Stable Diffusion 1D44365E": the model and its hash
    if source:
        name, _, digest = source.rpartition(" ")
        if name and all(c in "0123456789abcdefABCDEF" for c in digest) and len(digest) >= 8:
            out["model_name"], out["model_hash"] = name, digest
        else:
            out["model_name"] = source
    return out


def _v4_caption(value: Any) -> str:
    """NovelAI 4's {"caption": {"base_caption": ...}} prompt objects."""
    caption = value.get("caption") if isinstance(value, dict) else None
    return text(caption.get("base_caption")) if isinstance(caption, dict) else ""
