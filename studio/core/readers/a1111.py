"""The AUTOMATIC1111 "parameters" text: prompt lines, `Negative prompt: ...`, one settings line of
`Key: value` pairs (Forge, SD.Next, Fooocus' A1111 scheme, Civitai and Studio itself write it).

Linear: the settings line is cut up with str.find and patterns without backtracking.
"""

from __future__ import annotations

import json
import re
from typing import Any

from studio.core.readers._common import (
    MAX_PAIRS,
    MetadataError,
    check_text,
    put,
    put_sampler,
    to_float,
    to_int,
    to_seed,
)

NEGATIVE_PREFIX = "Negative prompt:"
# A settings key: a letter, then letters, digits, spaces and .+/()- . One character class and no
# nesting, so matching it is linear. A JSON string with possessive quantifiers (Python 3.11+):
# they never give back, so no backtracking either.
_KEY = re.compile(r"[A-Za-z][\w .+/()\-]*")
_JSON_STRING = re.compile(r'"(?:[^"\\]++|\\.)*+"', re.DOTALL)
_SPACES = re.compile(r"\s*")
_SIZE = re.compile(r"\s*(\d{1,6})\s*[x×]\s*(\d{1,6})\s*")


def settings_pairs(line: str) -> dict[str, str] | None:
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


def parse_parameters(text: str) -> dict[str, Any]:
    """Read A1111-style "parameters" text.

    Returns `prompt`, `negative_prompt`, `settings` (every raw `Key: value`, unknown keys kept) and
    the fields Studio understands under request names (steps, seed, guidance_scale, guidance_rescale,
    width, height, scheduler, strength, seed_b, seed_mix) plus sampler, model_name, model_hash.
    Values that do not parse are left out. MetadataError for anything but text, or text over the
    size caps.
    """
    check_text(text, "parameters")
    lines = text.replace("\r\n", "\n").replace("\r", "\n").strip().split("\n")
    settings = settings_pairs(lines[-1].strip()) if lines else None
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
    put(out, "steps", to_int(settings.get("Steps")))
    put(out, "seed", to_seed(settings.get("Seed")))
    put(out, "guidance_scale", to_float(settings.get("CFG scale")))
    put(out, "guidance_rescale", to_float(settings.get("Rescale CFG")))
    put(out, "strength", to_float(settings.get("Denoising strength")))
    put(out, "seed_b", to_seed(settings.get("Variation seed")))
    put(out, "seed_mix", to_float(settings.get("Variation seed strength")))
    size = _SIZE.fullmatch(settings.get("Size", ""))
    if size:
        out["width"], out["height"] = int(size.group(1)), int(size.group(2))
    # Fooocus' A1111 scheme names the schedule "Scheduler"; A1111 "Schedule type".
    put_sampler(out, settings.get("Sampler", ""), settings.get("Schedule type") or settings.get("Scheduler", ""))
    put(out, "model_name", settings.get("Model") or None)
    put(out, "model_hash", settings.get("Model hash") or None)
    return out


def tool_of(settings: dict[str, str]) -> str:
    """Which tool wrote an A1111-layout text, as far as its `Version` says."""
    version = str(settings.get("Version", "")).strip()
    lower = version.lower()
    if lower.startswith("studio"):
        return f"Studio ({version})"
    if lower.startswith("fooocus"):
        return "Fooocus"
    if lower.startswith("f") and "." in lower[:4] or "forge" in lower:
        return f"Forge ({version})"
    if "comfyui" in lower or "civitai" in lower:
        return version
    # Without a version it may be any of the tools that write the layout.
    return f"AUTOMATIC1111 ({version})" if version else "AUTOMATIC1111 layout"
