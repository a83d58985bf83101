"""What a job tells the world, in order: Queued, Loading*, Started, (Progress, Preview)*, then exactly
one of Finished, Cancelled or Failed. JobWarning may come at any point.

Events are immutable plain data; images are PIL images, which every layer can read without Qt.
Listeners are called on one thread the executor owns (never the caller's), so the UI only ever
sees them through queued signals. studio.core.wire turns each event into bytes for a pipe.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from PIL.Image import Image

    from studio.core.request import GenerationRequest


@dataclass(frozen=True)
class Event:
    job_id: int


@dataclass(frozen=True)
class Queued(Event):
    request: GenerationRequest
    position: int  # jobs ahead of this one (0 = next to run)


@dataclass(frozen=True)
class Loading(Event):
    message: str
    fraction: float | None = None  # 0..1 when known


@dataclass(frozen=True)
class Started(Event):
    request: GenerationRequest
    total_steps: int


@dataclass(frozen=True)
class Progress(Event):
    step: int  # steps done, 1..total
    total: int
    elapsed: float  # seconds since sampling began
    eta: float  # seconds left, estimated from the mean step time


@dataclass(frozen=True)
class Preview(Event):
    step: int
    image: Image


@dataclass(frozen=True)
class Finished(Event):
    request: GenerationRequest
    image: Image
    timings: dict[str, float] = field(default_factory=dict)  # load, sample, decode, total (s)
    info: dict[str, Any] = field(default_factory=dict)  # model name/hash, device, dtype...


@dataclass(frozen=True)
class Cancelled(Event):
    last_preview: Image | None = None


@dataclass(frozen=True)
class Failed(Event):
    message: str  # one line an artist can act on
    detail: str = ""  # the traceback, for logs only


@dataclass(frozen=True)
class JobWarning(Event):
    message: str


@dataclass(frozen=True)
class EngineNotice(Event):
    """Something happened to the engine itself (its process stopped and restarts); job_id is the
    job it interrupted, or 0 when none was running."""

    message: str


TERMINAL = (Finished, Cancelled, Failed)
