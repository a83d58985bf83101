"""Generation parameters inside image files: the text other tools read, and reading theirs back.

Writes the AUTOMATIC1111 "parameters" layout (prompt lines, `Negative prompt: ...`, one line of
`Key: value` pairs) that sd-parsers, model-sharing sites, Krita AI Diffusion and Fooocus read, plus
Studio's own full request JSON under the `studio` key. Neither holds a local path: files get
shared, so sources are named by content hash and models by name (studio/core/shareable.py).
Reads Studio's own JSON back; every other tool's metadata (the A1111 text included) is read by
studio/core/readers/, one module per tool. No Qt, no torch.

Everything read comes from files anyone can craft: readers are linear in their input, capped in
size and JSON nesting, and fail only with MetadataError (one line an artist can act on).
"""

from __future__ import annotations

import json
from pathlib import PurePath
from typing import Any

from studio import __version__

# The readers' names, re-exported for the modules that import them from here.
from studio.core.readers import COMFYUI_KEY, INVOKEAI_KEY, PARAMETERS_KEY, read_parameters  # noqa: F401
from studio.core.readers._common import (  # noqa: F401
    MAX_PAIRS,
    MAX_TEXT_CHARS,
    MAX_TEXT_KEYS,
    MetadataError,
    one_line,
    scheduler_from_sampler,
)
from studio.core.readers.a1111 import NEGATIVE_PREFIX, parse_parameters  # noqa: F401
from studio.core.readers.comfyui import parse_comfyui  # noqa: F401
from studio.core.readers.invokeai import parse_invokeai  # noqa: F401
from studio.core.request import GenerationRequest, RequestError, request_object
from studio.core.shareable import file_name, name_only, read_refs, shareable_dict

_WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
STUDIO_KEY = "studio"
# A grid's sweep and the `studio grid` command that makes it again (JSON, no local paths; written
# by studio/gallery/grids.py into the grid's info, carried into every file of the grid from there).
SWEEP_KEY = "studio-sweep"

# ---- sampler names ---------------------------------------------------------------------------
# Our scheduler -> (A1111 sampler name, schedule type or "").
_TO_A1111: dict[str, tuple[str, str]] = {
    "Euler": ("Euler", ""),
    "Euler a": ("Euler a", ""),
    "DPM++ 2M": ("DPM++ 2M", ""),
    "DPM++ 2M Karras": ("DPM++ 2M", "Karras"),
    "DDIM": ("DDIM", ""),
    "UniPC": ("UniPC", ""),
    "LCM": ("LCM", ""),
}


def a1111_sampler(scheduler: str) -> tuple[str, str]:
    """Our scheduler name -> (A1111 sampler, schedule type); unknown names pass through."""
    return _TO_A1111.get(scheduler, (scheduler, ""))


# ---- writing ---------------------------------------------------------------------------------
def _quote(value: str) -> str:
    """JSON-quote a value that would break the `k: v, k: v` line."""
    if any(ch in value for ch in ",:\n\r\""):
        return json.dumps(value, ensure_ascii=False)
    return value


def _number(value: float) -> str:
    return f"{float(value):g}"


def model_name(request: GenerationRequest, info: dict[str, Any] | None = None) -> str:
    """The artist-facing model name: what the engine reported, else the file/folder stem."""
    info = info or {}
    name = info.get("model_name") or info.get("model")
    if name:
        return str(name)
    if request.model:
        path = PurePath(file_name(request.model))
        return path.stem if path.suffix in {".safetensors", ".ckpt"} else path.name
    return "studio-shapes"


def model_hash(info: dict[str, Any] | None = None) -> str:
    return str((info or {}).get("model_hash") or "")


def format_parameters(request: GenerationRequest, info: dict[str, Any] | None = None) -> str:
    """The A1111 "parameters" text for a request (and what the engine reported in `info`)."""
    info = info or {}
    sampler, schedule = a1111_sampler(request.scheduler)
    pairs: list[tuple[str, str]] = [
        ("Steps", str(request.steps)),
        ("Sampler", sampler),
        ("Schedule type", schedule),
        ("CFG scale", _number(request.guidance_scale)),
        ("Seed", str(request.seed)),
        ("Size", f"{request.width}x{request.height}"),
        # A1111 writes the first 10 hex digits of the file's sha256.
        ("Model hash", model_hash(info)[:10]),
        ("Model", name_only(model_name(request, info))),
    ]
    if request.seed_b is not None and request.seed_mix > 0:
        pairs += [("Variation seed", str(request.seed_b)),
                  ("Variation seed strength", _number(request.seed_mix))]
    if request.mode == "textdiff":  # a text diff redraws from the inverted noise: no strength
        pairs += [("Edit from", request.source_prompt), ("Edit amount", _number(request.edit_amount))]
    elif request.init_image:
        pairs.append(("Denoising strength", _number(request.strength)))
    if request.mask_image:
        pairs.append(("Mask blur", str(request.mask_feather)))
    if request.loras:
        pairs.append(("Lora", ", ".join(f"{PurePath(file_name(p)).stem}:{_number(w)}" for p, w in request.loras)))
    # An extra, as Forge's built-in Rescale CFG writes it: only when applied. The value the
    # engine applied (the model's own when the request left it unsaid) is in info.
    rescale = info.get("guidance_rescale") if request.guidance_rescale is None else request.guidance_rescale
    if isinstance(rescale, int | float) and rescale > 0:
        pairs.append(("Rescale CFG", _number(float(rescale))))
    pairs.append(("Version", f"studio {__version__}"))
    settings = ", ".join(f"{key}: {_quote(value)}" for key, value in pairs if value != "")
    lines = [request.prompt]
    if request.negative_prompt:
        lines.append(f"{NEGATIVE_PREFIX} {request.negative_prompt}")
    lines.append(settings)
    return "\n".join(lines)


def image_info(request: GenerationRequest, info: dict[str, Any] | None = None,
               source_id: int | None = None) -> dict[str, str]:
    """Every text key Studio embeds in an image: the A1111 text and its own full request, neither
    with a local path (see studio/core/shareable.py). `source_id`: the gallery picture the
    request's init image came from, if known."""
    # A checkpoint by its file name ("mine.safetensors"), a folder by the name the engine gave it
    # (a Hugging Face snapshot folder is only a hash: "owner/name" says more).
    checkpoint = file_name(request.model)
    name = checkpoint if PurePath(checkpoint).suffix.lower() in _WEIGHT_SUFFIXES else model_name(request, info)
    data = shareable_dict(request, name, model_hash(info), source_id)
    text = {PARAMETERS_KEY: format_parameters(request, info),
            STUDIO_KEY: json.dumps(data, sort_keys=True, ensure_ascii=False)}
    sweep = (info or {}).get(SWEEP_KEY)
    if isinstance(sweep, str) and sweep:
        text[SWEEP_KEY] = sweep
    return text


# ---- image info -> request -------------------------------------------------------------------
_REQUEST_FIELDS = ("prompt", "negative_prompt", "seed", "steps", "guidance_scale", "guidance_rescale",
                   "width", "height", "scheduler", "strength", "seed_b", "seed_mix")


def parse_image_info(info: dict[str, Any]) -> dict[str, Any]:
    """The parameters found in an image's text keys: Studio's own JSON first, else what the
    reader of the tool that wrote them finds (studio/core/readers). Adds `source` (which key was
    read) and `tool`. MetadataError if none."""
    if not isinstance(info, dict):
        raise MetadataError("the image information is not a set of text keys")
    if len(info) > MAX_TEXT_KEYS:
        raise MetadataError(f"the image has {len(info)} text entries; Studio reads at most {MAX_TEXT_KEYS}")
    text = {str(k): (v.decode("utf-8", "replace") if isinstance(v, bytes) else v) for k, v in info.items()}
    damaged = ""
    if isinstance(text.get(STUDIO_KEY), str):
        try:
            data = _studio_json(text[STUDIO_KEY])
            request = GenerationRequest.from_dict(data)
        except RequestError as exc:
            damaged = str(exc)  # fall back to the text other tools read, if there is any
        else:
            out = {k: getattr(request, k) for k in _REQUEST_FIELDS}
            refs = read_refs(data)
            out.update(source=STUDIO_KEY, tool="Studio", sampler=request.scheduler, request=request, refs=refs)
            if request.model:  # a name in files written since issue 20, a path in older ones
                out["model_name"] = model_name(request)
            if refs.get("model_hash"):
                out["model_hash"] = refs["model_hash"]
            return out
    try:
        return read_parameters(text)
    except MetadataError:
        if damaged:
            raise MetadataError(f"the image's Studio parameters are damaged: {damaged}") from None
        raise


def _studio_json(text: str) -> dict[str, Any]:
    return request_object(text)


def request_from_image_info(info: dict[str, Any]) -> GenerationRequest:
    """A runnable request from an image's text keys (PNG chunks, or EXIF text as `parameters`).

    Raises MetadataError with one line for missing or unusable parameters.
    """
    return request_from_parameters(parse_image_info(info))


def request_from_parameters(found: dict[str, Any]) -> GenerationRequest:
    """The runnable request from what `parse_image_info` found; MetadataError if it cannot run."""
    request = found.get("request")
    if request is None:
        if not str(found.get("prompt", "")).strip():
            raise MetadataError("the image's parameters have no prompt")
        fields = {k: found[k] for k in _REQUEST_FIELDS if k in found}
        request = GenerationRequest(**fields)
    try:
        return request.validate()
    except RequestError as exc:
        raise MetadataError(f"the image's parameters cannot be reused: {exc}") from None
