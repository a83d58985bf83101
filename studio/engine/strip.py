"""Strips: N frames walking from prompt A to prompt B (and optionally seed A to seed B), and export.

Torch-free. `strip_requests` builds the frames' requests (a strip is just N blend requests that
go through the same queue as any job); `render_strip` runs them on an engine and waits (for the
CLI); `export_strip` writes an animated WebP/GIF, a side-by-side PNG, or numbered PNG frames.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

from studio.core.atomic import atomic_write_bytes
from studio.core.events import Cancelled, Event, Failed, Finished
from studio.core.request import GenerationRequest, RequestError
from studio.engine.jobs import JobQueue, UserError

if TYPE_CHECKING:  # PIL loads when a strip is exported, not when the window opens
    from PIL import Image

MIN_FRAMES, MAX_FRAMES = 2, 240
ANIMATED = {".webp": "WEBP", ".gif": "GIF"}


def strip_positions(frames: int) -> list[float]:
    """Evenly spaced mix positions from exactly 0 to exactly 1."""
    if not MIN_FRAMES <= frames <= MAX_FRAMES:
        raise RequestError(f"a strip needs between {MIN_FRAMES} and {MAX_FRAMES} frames (got {frames})")
    return [i / (frames - 1) for i in range(frames)]


def strip_requests(
    base: GenerationRequest, prompt_b: str, frames: int, seed_b: int | None = None
) -> list[GenerationRequest]:
    """One request per frame: prompt mix t from 0 to 1; with seed_b, the seed mix walks along too."""
    if not prompt_b.strip():
        raise RequestError("a strip needs a second prompt to walk to")
    requests = []
    for t in strip_positions(frames):
        request = base.replace(blend_prompts=(prompt_b,), blend_weights=(t,))
        if seed_b is not None:
            request = request.replace(seed_b=seed_b, seed_mix=t)
        requests.append(request.validate())
    return requests


def render_strip(
    engine: JobQueue,
    requests: Sequence[GenerationRequest],
    on_event: Callable[[int, Event], None] | None = None,
) -> list[Image.Image]:
    """Queue every frame, wait, and return the images in frame order.

    `on_event(frame_index, event)` sees each frame's events (progress for a CLI). A failed or
    cancelled frame raises UserError with a one-line reason after the other frames are stopped.
    """
    ids: dict[int, int] = {}
    results: dict[int, Event] = {}
    lock = threading.RLock()  # submit() emits Queued on this thread, inside the lock
    done = threading.Event()

    def listen(event: Event) -> None:
        with lock:
            frame = ids.get(event.job_id)
        if frame is None:
            return
        if on_event is not None:
            on_event(frame, event)
        if isinstance(event, (Finished, Failed, Cancelled)):
            with lock:
                results[frame] = event
                if len(results) == len(requests) or not isinstance(event, Finished):
                    done.set()

    unsubscribe = engine.subscribe(listen)
    try:
        with lock:  # hold the listener back until every id is known
            for index, request in enumerate(requests):
                ids[engine.submit(request)] = index
        while not done.wait(0.2):  # a timed wait lets Ctrl-C through
            pass
    finally:
        unsubscribe()
        for job_id, frame in ids.items():  # stop what is left after a failure or Ctrl-C
            if frame not in results:
                engine.cancel(job_id)
    failed = sorted((frame, e.message) for frame, e in results.items() if isinstance(e, Failed))
    if failed:
        raise UserError(f"frame {failed[0][0] + 1} failed: {failed[0][1]}")
    missing = [i for i in range(len(requests)) if not isinstance(results.get(i), Finished)]
    if missing:
        raise UserError(f"frame {missing[0] + 1} was cancelled")
    return [results[i].image for i in range(len(requests))]


def contact_sheet(images: Sequence[Image.Image], gap: int = 0) -> Image.Image:
    """The frames side by side in one image (for a README or a quick look)."""
    from PIL import Image

    if not images:
        raise ValueError("no frames to lay out")
    width, height = images[0].size
    sheet = Image.new("RGB", (len(images) * width + (len(images) - 1) * gap, height), "white")
    for index, image in enumerate(images):
        sheet.paste(image.convert("RGB").resize((width, height)), (index * (width + gap), 0))
    return sheet


def export_strip(images: Sequence[Image.Image], target: str | Path, fps: float = 8.0) -> list[Path]:
    """Write the frames: OUT.webp / OUT.gif animated (looping), OUT.png side by side, or numbered
    PNGs (frame-001.png...) when `target` is a folder or has no suffix. Every file is written
    atomically. Returns the paths written; UserError (one line) for a target it cannot write.

    GIF and WebP encoders fold a frame identical to the one before into it (adding its time), so an
    animation can hold fewer frames than the strip while playing exactly the same."""
    if not images:
        raise UserError("there are no frames to export")
    target = Path(target).expanduser()
    suffix = target.suffix.lower()
    try:
        if target.is_dir() or not suffix:
            target.mkdir(parents=True, exist_ok=True)
            paths = []
            for index, image in enumerate(images, start=1):
                path = target / f"frame-{index:03d}.png"
                atomic_write_bytes(path, _encode(image, "PNG"))
                paths.append(path)
            return paths
        if suffix == ".png":
            atomic_write_bytes(target, _encode(contact_sheet(images), "PNG"))
            return [target]
        if suffix in ANIMATED:
            atomic_write_bytes(target, _encode_animation(images, ANIMATED[suffix], fps))
            return [target]
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror or exc}") from None
    raise UserError(f"unsupported strip format {suffix!r}: use .webp, .gif, .png or a folder")


def _encode(image: Image.Image, fmt: str) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format=fmt)
    return buffer.getvalue()


def _encode_animation(images: Sequence[Image.Image], fmt: str, fps: float) -> bytes:
    frames = [image.convert("RGB") for image in images]
    duration = max(20, round(1000 / max(fps, 0.1)))  # ms per frame; GIF viewers clamp below 20
    buffer = io.BytesIO()
    options = {"quality": 90} if fmt == "WEBP" else {"optimize": False}
    frames[0].save(
        buffer,
        format=fmt,
        save_all=True,
        append_images=frames[1:],
        duration=duration,
        loop=0,
        **options,
    )
    return buffer.getvalue()
