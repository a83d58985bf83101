"""Readers of the generation parameters other tools embed in images, one module per tool, and
`read_parameters`, which picks the reader from the keys a file carries.

Every reader returns the same fields, under Studio's request names where Studio has them:
prompt, negative_prompt, seed, steps, guidance_scale, width, height, strength, scheduler (Studio's
name, only when it has an equivalent), sampler (that name, else the tool's own), model_name,
model_hash; absent ones are left out. `read_parameters` adds `source` (the key read) and `tool`.
Studio's own `studio` JSON is read by studio/core/metadata.py, before any of these.
"""

from __future__ import annotations

from typing import Any

from studio.core.readers._common import (
    MAX_TEXT_KEYS,
    MetadataError,
    maybe_json_object,
    scheduler_from_sampler,
)
from studio.core.readers.a1111 import parse_parameters, tool_of
from studio.core.readers.comfyui import parse_comfyui
from studio.core.readers.drawthings import looks_like_drawthings, parse_drawthings
from studio.core.readers.easydiffusion import looks_like_easydiffusion, parse_easydiffusion
from studio.core.readers.fooocus import looks_like_fooocus, parse_fooocus
from studio.core.readers.invokeai import parse_dream, parse_invokeai, parse_sd_metadata
from studio.core.readers.novelai import is_novelai, parse_novelai
from studio.core.readers.swarmui import parse_swarmui

__all__ = ["MetadataError", "parse_comfyui", "parse_invokeai", "parse_parameters", "read_parameters",
           "scheduler_from_sampler"]

PARAMETERS_KEY = "parameters"
INVOKEAI_KEY = "invokeai_metadata"
COMFYUI_KEY = "prompt"
# The JSON a Draw Things XMP packet carries (exif:UserComment or dc:description), as the image
# reader (studio/gallery/image_reader.py) hands it over.
XMP_COMMENT_KEY = "xmp:UserComment"
# Keys any reader here (or Studio's own) starts from: a file with none of them is searched for
# parameters hidden in its pixels.
KNOWN_KEYS = frozenset({"studio", PARAMETERS_KEY, INVOKEAI_KEY, "sd-metadata", "Dream", "Comment", "comment",
                        COMFYUI_KEY, "Description", "Prompt", XMP_COMMENT_KEY})


def read_parameters(info: dict[str, Any]) -> dict[str, Any]:
    """The parameters in an image's text keys (PNG chunks; EXIF UserComment as `parameters`; an
    XMP comment as XMP_COMMENT_KEY; stealth-pnginfo keys), read by the reader of the tool that
    wrote them. MetadataError (one line) when no reader recognises them."""
    if not isinstance(info, dict):
        raise MetadataError("the image information is not a set of text keys")
    if len(info) > MAX_TEXT_KEYS:
        raise MetadataError(f"the image has {len(info)} text entries; Studio reads at most {MAX_TEXT_KEYS}")
    text = {str(k): (v.decode("utf-8", "replace") if isinstance(v, bytes) else v)
            for k, v in info.items() if isinstance(v, str | bytes)}
    found = _read(text)
    if found is None:
        raise MetadataError("the image carries no generation parameters Studio can read")
    for key in ("prompt", "negative_prompt"):  # graphs and JSON often end their text in newlines
        if isinstance(found.get(key), str):
            found[key] = found[key].strip()
    return found


def _read(text: dict[str, str]) -> dict[str, Any] | None:
    if INVOKEAI_KEY in text:
        return {**parse_invokeai(text[INVOKEAI_KEY]), "source": INVOKEAI_KEY, "tool": "InvokeAI"}
    if "sd-metadata" in text:
        return {**parse_sd_metadata(text["sd-metadata"]), "source": "sd-metadata", "tool": "InvokeAI 2"}
    if "Dream" in text:
        return {**parse_dream(text["Dream"]), "source": "Dream", "tool": "InvokeAI 2"}
    parameters = text.get(PARAMETERS_KEY, "")
    if parameters.strip():
        data = maybe_json_object(parameters)
        if data is not None:
            json_found = _from_json(data, PARAMETERS_KEY)
            if json_found is not None:
                return json_found
        found = parse_parameters(parameters)
        return {**found, "source": PARAMETERS_KEY, "tool": tool_of(found["settings"])}
    if is_novelai(text):
        return {**parse_novelai(text), "source": "Comment", "tool": "NovelAI"}
    for key in ("Comment", "comment", XMP_COMMENT_KEY):
        data = maybe_json_object(text.get(key))
        json_found = _from_json(data, key) if data is not None else None
        if json_found is not None:
            return json_found
    if text.get(COMFYUI_KEY, "").lstrip().startswith("{") and not looks_like_easydiffusion(text):
        return {**parse_comfyui(text[COMFYUI_KEY]), "source": COMFYUI_KEY, "tool": "ComfyUI"}
    if looks_like_easydiffusion(text):
        return {**parse_easydiffusion(text), "source": "prompt", "tool": "Easy Diffusion"}
    return None


def _from_json(data: dict[str, Any], key: str) -> dict[str, Any] | None:
    """A JSON object in a text key (PNG `parameters`/`Comment`, EXIF or XMP comment): which
    tool's it is, by its keys."""
    if isinstance(data.get("sui_image_params"), dict):
        return {**parse_swarmui(data), "source": key, "tool": "SwarmUI"}
    if looks_like_fooocus(data):
        return {**parse_fooocus(data), "source": key, "tool": "Fooocus"}
    if looks_like_easydiffusion(data):
        return {**parse_easydiffusion(data), "source": key, "tool": "Easy Diffusion"}
    if looks_like_drawthings(data):
        return {**parse_drawthings(data), "source": key, "tool": "Draw Things"}
    return None
