"""Generation parameters inside image files: the text other tools read, and reading theirs back.

Writes the AUTOMATIC1111 "parameters" layout (prompt lines, `Negative prompt: ...`, one line of
`Key: value` pairs) that sd-parsers, model-sharing sites, Krita AI Diffusion and Fooocus read, plus
Studio's own full request JSON under the `studio` key. Neither holds a local path: files get
shared, so sources are named by content hash and models by name (studio/core/shareable.py).
Reads that text back, and the minimum of InvokeAI (`invokeai_metadata`) and ComfyUI (`prompt`
graph) JSON. No Qt, no torch.

Everything read here comes from files anyone can craft, so every reader is linear in its input
(plain string scanning, no backtracking patterns), capped in size (MAX_TEXT_CHARS per text key,
MAX_TEXT_KEYS keys, MAX_PAIRS settings) and in JSON nesting, and fails only with MetadataError.
"""

from __future__ import annotations

import json
import os
import re
from pathlib import PurePath
from typing import Any

from studio import __version__
from studio.core.request import (
    SCHEDULERS,
    GenerationRequest,
    RequestError,
    load_json,
    request_object,
)
from studio.core.shareable import file_name, name_only, read_refs, shareable_dict

_WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".pt", ".pth", ".bin")
PARAMETERS_KEY = "parameters"
STUDIO_KEY = "studio"
INVOKEAI_KEY = "invokeai_metadata"
COMFYUI_KEY = "prompt"
# A grid's sweep and the `studio grid` command that makes it again (JSON, no local paths; written
# by studio/gallery/grids.py into the grid's info, carried into every file of the grid from there).
SWEEP_KEY = "studio-sweep"
NEGATIVE_PREFIX = "Negative prompt:"
# Real parameters are a few kB in a handful of keys; anything far bigger is damage or an attack.
MAX_TEXT_CHARS = 1_000_000
MAX_TEXT_KEYS = 200
MAX_PAIRS = 500


class MetadataError(ValueError):
    """Image metadata Studio cannot use; the message is one line an artist can act on.

    `reason` is that line; with `path` the message starts with the file's name ("fox.png: ...")."""

    def __init__(self, reason: str, path: str | os.PathLike[str] | None = None) -> None:
        self.reason = one_line(reason)
        self.path = path
        if path is None:
            super().__init__(self.reason)
        else:
            super().__init__(f"{PurePath(path).name or path}: {self.reason}")

    def for_file(self, path: str | os.PathLike[str]) -> MetadataError:
        """The same error, naming `path` (unless it already names a file)."""
        return self if self.path is not None else MetadataError(self.reason, path)


def one_line(text: object, limit: int = 300) -> str:
    """`text` as one line of at most `limit` characters (error messages quote untrusted text)."""
    line = " ".join(str(text).split())
    return line if len(line) <= limit else line[: limit - 1] + "…"


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
# Lower-cased sampler names other tools write (A1111, ComfyUI, InvokeAI) -> our base scheduler.
_SAMPLER_ALIASES: dict[str, str] = {
    "euler": "Euler",
    "euler a": "Euler a",
    "euler_a": "Euler a",
    "euler_ancestral": "Euler a",
    "k_euler": "Euler",
    "k_euler_a": "Euler a",
    "dpm++ 2m": "DPM++ 2M",
    "dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_k": "DPM++ 2M Karras",
    "ddim": "DDIM",
    "unipc": "UniPC",
    "uni_pc": "UniPC",
    "uni_pc_bh2": "UniPC",
    "lcm": "LCM",
}


def a1111_sampler(scheduler: str) -> tuple[str, str]:
    """Our scheduler name -> (A1111 sampler, schedule type); unknown names pass through."""
    return _TO_A1111.get(scheduler, (scheduler, ""))


def scheduler_from_sampler(sampler: str, schedule_type: str = "") -> str | None:
    """A sampler name from any tool (Karras folded in or given apart) -> ours, or None if unknown."""
    name = " ".join(str(sampler).split()).lower()
    karras = str(schedule_type).strip().lower() == "karras"
    if name.endswith(" karras"):
        name, karras = name[: -len(" karras")], True
    if name.endswith("_karras"):
        name, karras = name[: -len("_karras")], True
    base = _SAMPLER_ALIASES.get(name)
    if base is None:
        return None
    if karras and f"{base} Karras" in SCHEDULERS:
        return f"{base} Karras"
    return base


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
    if request.init_image:
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


# ---- reading the A1111 text ------------------------------------------------------------------
# A settings key: a letter, then letters, digits, spaces and .+/()- . One character class and no
# nesting, so matching it is linear; the line itself is cut up with str.find. A JSON string with
# possessive quantifiers (Python 3.11+): they never give back, so no backtracking either.
_KEY = re.compile(r"[A-Za-z][\w .+/()\-]*")
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_SPACES = re.compile(r"\s*")
_SIZE = re.compile(r"\s*(\d{1,6})\s*[x×]\s*(\d{1,6})\s*")


def _settings_pairs(line: str) -> dict[str, str] | None:
    """Parse a settings line (`Key: value, Key: "quoted, value", ...`); None when it is not one
    (fewer than three pairs, or text that is not a pair). Linear: each step moves past what it read."""
    pairs: dict[str, str] = {}
    pos, end = 0, len(line)
    while pos < end:
        colon = line.find(":", pos)
        if colon < 0:
            return None
        key = line[pos:colon].strip()
        if not _KEY.fullmatch(key):
            return None
        if len(pairs) >= MAX_PAIRS:
            raise MetadataError(f"the image's settings line has over {MAX_PAIRS} entries")
        value, pos = _settings_value(line, _SPACES.match(line, colon + 1).end())
        pairs[key] = value
    return pairs if len(pairs) >= 3 else None


def _settings_value(line: str, pos: int) -> tuple[str, int]:
    """The value starting at `pos` and where the next pair starts: a JSON string when one is
    followed by a comma or the end, else everything up to the next comma."""
    quoted = _JSON_STRING.match(line, pos)
    if quoted:
        after = _SPACES.match(line, quoted.end()).end()
        if after == len(line) or line[after] == ",":
            return _unquote(quoted.group()), after + 1
    comma = line.find(",", pos)
    comma = len(line) if comma < 0 else comma
    value = line[pos:comma].strip()
    if len(value) >= 2 and value[0] == value[-1] == '"':
        value = _unquote(value)
    return value, comma + 1


def _unquote(quoted: str) -> str:
    try:
        value = json.loads(quoted)
    except ValueError:
        return quoted[1:-1]
    return value if isinstance(value, str) else quoted[1:-1]


def _to_int(value: Any) -> int | None:
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        try:
            number = float(str(value).strip())
        except (TypeError, ValueError):
            return None
        return int(number) if number.is_integer() else None


def _to_float(value: Any) -> float | None:
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def parse_parameters(text: str) -> dict[str, Any]:
    """Read A1111-style "parameters" text (from Studio or any tool that writes the layout).

    Returns `prompt`, `negative_prompt`, `settings` (every raw `Key: value`, unknown keys kept) and
    the fields Studio understands under request names (steps, seed, guidance_scale, guidance_rescale,
    width, height, scheduler, strength, seed_b, seed_mix) plus model_name / model_hash. Values that
    do not parse are left out of the named fields. MetadataError for anything but text, or text
    over the size caps (MAX_TEXT_CHARS, MAX_PAIRS).
    """
    _check_text(text, "parameters")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip().split("\n")
    settings = _settings_pairs(lines[-1].strip()) if lines else None
    body = lines[:-1] if settings is not None else lines
    settings = settings or {}
    prompt_lines: list[str] = []
    negative_lines: list[str] = []
    target = prompt_lines
    for line in body:
        if target is prompt_lines and line.startswith(NEGATIVE_PREFIX):
            target = negative_lines
            line = line[len(NEGATIVE_PREFIX):].lstrip()
        target.append(line)
    out: dict[str, Any] = {
        "prompt": "\n".join(prompt_lines).strip(),
        "negative_prompt": "\n".join(negative_lines).strip(),
        "settings": settings,
    }
    _put(out, "steps", _to_int(settings.get("Steps")))
    _put(out, "seed", _to_int(settings.get("Seed")))
    _put(out, "guidance_scale", _to_float(settings.get("CFG scale")))
    _put(out, "guidance_rescale", _to_float(settings.get("Rescale CFG")))
    _put(out, "strength", _to_float(settings.get("Denoising strength")))
    _put(out, "seed_b", _to_int(settings.get("Variation seed")))
    _put(out, "seed_mix", _to_float(settings.get("Variation seed strength")))
    size = _SIZE.fullmatch(settings.get("Size", ""))
    if size:
        out["width"], out["height"] = int(size.group(1)), int(size.group(2))
    if "Sampler" in settings:
        _put(out, "scheduler", scheduler_from_sampler(settings["Sampler"], settings.get("Schedule type", "")))
    _put(out, "model_name", settings.get("Model") or None)
    _put(out, "model_hash", settings.get("Model hash") or None)
    return out


def _put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None:
        out[key] = value


# ---- other tools' JSON -----------------------------------------------------------------------
def parse_invokeai(text: str) -> dict[str, Any]:
    """The prompt/seed/steps/cfg/size/scheduler that InvokeAI's `invokeai_metadata` JSON holds."""
    data = _json_object(text, "InvokeAI")
    out: dict[str, Any] = {
        "prompt": _text(data.get("positive_prompt")) or _text(data.get("prompt")),
        "negative_prompt": _text(data.get("negative_prompt")),
    }
    _put(out, "seed", _to_int(data.get("seed")))
    _put(out, "steps", _to_int(data.get("steps")))
    _put(out, "guidance_scale", _to_float(data.get("cfg_scale")))
    _put(out, "width", _to_int(data.get("width")))
    _put(out, "height", _to_int(data.get("height")))
    _put(out, "strength", _to_float(data.get("strength")))
    _put(out, "scheduler", scheduler_from_sampler(_text(data.get("scheduler"))))
    model = data.get("model")
    if isinstance(model, dict):
        _put(out, "model_name", _text(model.get("name")) or _text(model.get("model_name")) or None)
        _put(out, "model_hash", _text(model.get("hash")) or None)
    else:
        _put(out, "model_name", _text(model) or None)
    return out


def parse_comfyui(text: str) -> dict[str, Any]:
    """The first sampler node of a ComfyUI `prompt` graph: its seed/steps/cfg and prompt texts."""
    graph = _json_object(text, "ComfyUI")
    nodes = {k: v for k, v in graph.items() if isinstance(v, dict) and isinstance(v.get("inputs"), dict)}
    sampler = next(
        (n["inputs"] for _, n in sorted(nodes.items()) if "KSampler" in _text(n.get("class_type"))),
        None,
    )
    if sampler is None:
        raise MetadataError("the ComfyUI graph has no sampler node to read settings from")

    def linked(value: Any) -> dict[str, Any] | None:
        # Inputs that come from another node are [node_id, output_index].
        if isinstance(value, list) and value and isinstance(value[0], str | int) and str(value[0]) in nodes:
            return nodes[str(value[0])]["inputs"]
        return None

    def text_of(value: Any, depth: int = 0) -> str:
        node = linked(value)
        if node is None or depth > 8:
            return ""
        for key in ("text", "text_g", "prompt"):
            if isinstance(node.get(key), str):
                return node[key]
            if isinstance(node.get(key), list):
                return text_of(node[key], depth + 1)
        return text_of(node.get("conditioning"), depth + 1)

    out: dict[str, Any] = {
        "prompt": text_of(sampler.get("positive")),
        "negative_prompt": text_of(sampler.get("negative")),
    }
    _put(out, "seed", _to_int(sampler.get("seed", sampler.get("noise_seed"))))
    _put(out, "steps", _to_int(sampler.get("steps")))
    _put(out, "guidance_scale", _to_float(sampler.get("cfg")))
    denoise = _to_float(sampler.get("denoise"))
    if denoise is not None and denoise < 1.0:
        out["strength"] = denoise
    _put(out, "scheduler", scheduler_from_sampler(_text(sampler.get("sampler_name")),
                                                   _text(sampler.get("scheduler"))))
    latent = linked(sampler.get("latent_image"))
    if latent:
        _put(out, "width", _to_int(latent.get("width")))
        _put(out, "height", _to_int(latent.get("height")))
    node = sampler
    for _ in range(8):  # the checkpoint loader, through any LoRA loaders in between
        node = linked(node.get("model"))
        if node is None or _text(node.get("ckpt_name")):
            break
    if node is not None and _text(node.get("ckpt_name")):
        _put(out, "model_name", PurePath(node["ckpt_name"].replace("\\", "/")).stem or None)
    return out


def _json_object(text: Any, tool: str) -> dict[str, Any]:
    if isinstance(text, bytes):
        text = text.decode("utf-8", "replace")
    _check_text(text, tool)
    try:
        data = load_json(text)  # linear, nesting capped: never a RecursionError
    except ValueError as exc:
        raise MetadataError(f"the image's {tool} metadata is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MetadataError(f"the image's {tool} metadata is not a JSON object")
    return data


def _text(value: Any) -> str:
    """A text field of another tool's JSON; anything else (a number, a list) counts as absent."""
    return value if isinstance(value, str) else ""


def _check_text(text: Any, what: str) -> None:
    if not isinstance(text, str):
        raise MetadataError(f"the image's {what} metadata is not text")
    if len(text) > MAX_TEXT_CHARS:
        raise MetadataError(f"the image's {what} metadata is over {MAX_TEXT_CHARS:,} characters long; "
                            "Studio does not read that much")


# ---- image info -> request -------------------------------------------------------------------
_REQUEST_FIELDS = ("prompt", "negative_prompt", "seed", "steps", "guidance_scale", "guidance_rescale",
                   "width", "height", "scheduler", "strength", "seed_b", "seed_mix")


def parse_image_info(info: dict[str, Any]) -> dict[str, Any]:
    """The parameters found in an image's text keys, best source first: Studio's own JSON, the
    A1111 text, InvokeAI, then ComfyUI. Adds `source` (which key was read). MetadataError if none."""
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
            out.update(source=STUDIO_KEY, request=request, refs=refs)
            if request.model:  # a name in files written since issue 20, a path in older ones
                out["model_name"] = model_name(request)
            if refs.get("model_hash"):
                out["model_hash"] = refs["model_hash"]
            return out
    if isinstance(text.get(PARAMETERS_KEY), str) and text[PARAMETERS_KEY].strip():
        return {**parse_parameters(text[PARAMETERS_KEY]), "source": PARAMETERS_KEY}
    if isinstance(text.get(INVOKEAI_KEY), str):
        return {**parse_invokeai(text[INVOKEAI_KEY]), "source": INVOKEAI_KEY}
    if isinstance(text.get(COMFYUI_KEY), str):
        return {**parse_comfyui(text[COMFYUI_KEY]), "source": COMFYUI_KEY}
    if damaged:
        raise MetadataError(f"the image's Studio parameters are damaged: {damaged}")
    raise MetadataError("the image carries no generation parameters Studio can read")


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
