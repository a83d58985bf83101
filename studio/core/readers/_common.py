"""What every reader of other tools' metadata shares: the one error type, the size caps, lenient
number parsing, and sampler names mapped to Studio's schedulers.

Everything read comes from files anyone can craft: readers are linear in their input, capped in
size (MAX_TEXT_CHARS per text key, MAX_TEXT_KEYS keys) and in JSON nesting, and fail only with
MetadataError.
"""

from __future__ import annotations

import os
from pathlib import PurePath, PureWindowsPath
from typing import Any

from studio.core.request import SCHEDULERS, load_json

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
# Lower-cased sampler names other tools write (A1111, ComfyUI, InvokeAI, NovelAI, Fooocus,
# Easy Diffusion, Draw Things) -> Studio's base scheduler.
_SAMPLER_ALIASES: dict[str, str] = {
    "euler": "Euler",
    "euler a": "Euler a",
    "euler_a": "Euler a",
    "euler ancestral": "Euler a",
    "euler_ancestral": "Euler a",
    "k_euler": "Euler",
    "k_euler_a": "Euler a",
    "k_euler_ancestral": "Euler a",
    "dpm++ 2m": "DPM++ 2M",
    "dpmpp_2m": "DPM++ 2M",
    "k_dpmpp_2m": "DPM++ 2M",
    "dpmpp_2m_k": "DPM++ 2M Karras",
    "ddim": "DDIM",
    "k_ddim": "DDIM",
    "unipc": "UniPC",
    "uni_pc": "UniPC",
    "uni_pc_bh2": "UniPC",
    "lcm": "LCM",
}


def scheduler_from_sampler(sampler: str, schedule_type: str = "") -> str | None:
    """A sampler name from any tool (Karras folded in or given apart) -> ours, or None if unknown."""
    name = " ".join(str(sampler).split()).lower()
    karras = str(schedule_type).strip().lower() == "karras"
    if name.startswith("sample_"):  # early ComfyUI graphs: "sample_dpmpp_2m"
        name = name[len("sample_"):]
    for suffix in (" karras", "_karras"):
        if name.endswith(suffix):
            name, karras = name[: -len(suffix)], True
    base = _SAMPLER_ALIASES.get(name)
    if base is None:
        return None
    if karras and f"{base} Karras" in SCHEDULERS:
        return f"{base} Karras"
    return base


def put_sampler(out: dict[str, Any], sampler: Any, schedule_type: Any = "") -> None:
    """`scheduler` (Studio's name, when it has one) and `sampler` (that name, else the tool's own
    with its schedule type) from another tool's sampler name."""
    name, schedule = text(sampler).strip(), text(schedule_type).strip()
    if not name:
        return
    scheduler = scheduler_from_sampler(name, schedule)
    if scheduler is not None:
        out["scheduler"] = out["sampler"] = scheduler
    else:
        shown = f"{name} {schedule}" if schedule and schedule.lower() not in ("normal", "default") else name
        out["sampler"] = shown


# ---- values ----------------------------------------------------------------------------------
def to_int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    try:
        return int(str(value).strip())
    except (TypeError, ValueError):
        number = to_float(value)
        return int(number) if number is not None and number.is_integer() else None


def to_float(value: Any) -> float | None:
    if isinstance(value, bool):
        return None
    try:
        number = float(str(value).strip())
    except (TypeError, ValueError, OverflowError):
        return None
    return number if number == number and abs(number) != float("inf") else None


def to_seed(value: Any) -> int | None:
    """A seed: a whole number 0..2**64-1 (a float like 1.0 counts; a negative or huge one not)."""
    seed = to_int(value)
    return seed if seed is not None and 0 <= seed < 2**64 else None


def text(value: Any) -> str:
    """A text field of another tool's JSON; anything else (a number, a list) counts as absent."""
    return value if isinstance(value, str) else ""


def put(out: dict[str, Any], key: str, value: Any) -> None:
    if value is not None and value != "":
        out[key] = value


def model_stem(name: Any) -> str:
    """A model's name from a path or file name any OS wrote ("C:\\models\\x.safetensors" -> "x")."""
    value = text(name).strip()
    if not value:
        return ""
    base = PureWindowsPath(value).name  # splits on both / and \
    stem, dot, suffix = base.rpartition(".")
    return stem if dot and suffix.lower() in ("safetensors", "ckpt", "pt", "pth", "bin", "gguf", "sft") else base


def check_text(value: Any, what: str) -> None:
    if not isinstance(value, str):
        raise MetadataError(f"the image's {what} metadata is not text")
    if len(value) > MAX_TEXT_CHARS:
        raise MetadataError(f"the image's {what} metadata is over {MAX_TEXT_CHARS:,} characters long; "
                            "Studio does not read that much")


def json_object(value: Any, tool: str) -> dict[str, Any]:
    """Untrusted JSON text that must be an object; MetadataError (one line) otherwise."""
    if isinstance(value, bytes):
        value = value.decode("utf-8", "replace")
    check_text(value, tool)
    try:
        data = load_json(value)  # linear, nesting capped: never a RecursionError
    except ValueError as exc:
        raise MetadataError(f"the image's {tool} metadata is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise MetadataError(f"the image's {tool} metadata is not a JSON object")
    return data


def maybe_json_object(value: Any) -> dict[str, Any] | None:
    """`value` as a JSON object when it looks like one and parses, else None (never raises)."""
    if not isinstance(value, str) or not value.lstrip().startswith("{") or len(value) > MAX_TEXT_CHARS:
        return None
    try:
        data = load_json(value)
    except ValueError:
        return None
    return data if isinstance(data, dict) else None
