"""Events as bytes: a JSON header plus raw byte blobs, for the pipe between the window's process
and an engine worker (and anything further away).

Pictures travel as raw pixels (mode, size, bytes: no PNG encode on the hot preview path), requests
through to_dict/from_dict, timings and info as JSON. decode(*encode(e)) == e for every event.
"""

from __future__ import annotations

import dataclasses
import json
from typing import Any

from PIL import Image

from studio.core import events
from studio.core.request import GenerationRequest

_KINDS: dict[str, type[events.Event]] = {
    cls.__name__: cls
    for cls in (
        events.Queued, events.Loading, events.Started, events.Progress, events.Preview,
        events.Finished, events.Cancelled, events.Failed, events.JobWarning, events.EngineNotice,
    )
}


class WireError(ValueError):
    """A frame that is not an event this version understands."""


def encode(event: events.Event) -> tuple[bytes, list[bytes]]:
    """The event's JSON header and the raw blobs (pixels) it refers to by index."""
    kind = type(event).__name__
    if kind not in _KINDS:
        raise WireError(f"cannot send a {kind} event")
    blobs: list[bytes] = []
    fields: dict[str, Any] = {}
    for f in dataclasses.fields(event):
        value = getattr(event, f.name)
        if isinstance(value, Image.Image):
            blobs.append(value.tobytes())
            value = {"image": len(blobs) - 1, "mode": value.mode, "size": list(value.size)}
        elif isinstance(value, GenerationRequest):
            value = {"request": value.to_dict()}
        fields[f.name] = value
    # default=str: info may hold a Path or a dtype; they arrive as their text.
    header = json.dumps({"kind": kind, "fields": fields}, ensure_ascii=False, default=str)
    return header.encode("utf-8"), blobs


def decode(header: bytes, blobs: list[bytes]) -> events.Event:
    """The event encode() described; WireError for a frame that is not one."""
    try:
        data = json.loads(header)
        cls = _KINDS[data["kind"]]
        fields = {name: _value(value, blobs) for name, value in data["fields"].items()}
        return cls(**fields)
    except (KeyError, TypeError, ValueError, IndexError) as exc:
        raise WireError(f"a damaged event frame ({type(exc).__name__}: {exc})") from None


def _value(value: Any, blobs: list[bytes]) -> Any:
    if isinstance(value, dict) and set(value) == {"image", "mode", "size"}:
        return Image.frombytes(value["mode"], tuple(value["size"]), blobs[value["image"]])
    if isinstance(value, dict) and set(value) == {"request"}:
        return GenerationRequest.from_dict(value["request"])
    return value
