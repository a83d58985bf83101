"""Strips: N frames walking from prompt A to prompt B (and optionally seed A to seed B), and export.

Torch-free. `strip_requests` builds the frames' requests (a strip is just N blend requests that
go through the same queue as any job); `render_strip` runs them on an engine and waits (for the
CLI); `export_strip` writes an animated WebP/GIF, a side-by-side PNG, or numbered PNG frames.

A frame is captioned by where it stands on the walk, "A→B 40%" (B's share of the prompt mix, which
the seed mix follows when the seeds walk too): an artist scrubbing a strip looks for the point
between the two prompts, and prompt A alone would name every frame the same. Exported PNG frames
carry their own request (the A1111 text and Studio's JSON, so each reopens exactly) and that
caption in words; animations and the side-by-side PNG say which walk they show.
"""

from __future__ import annotations

import io
import threading
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.core.atomic import atomic_write_bytes
from studio.core.events import Cancelled, Event, Failed, Finished
from studio.core.metadata import image_info
from studio.core.request import GenerationRequest, RequestError
from studio.engine.jobs import JobQueue, UserError

if TYPE_CHECKING:  # PIL loads when a strip is exported, not when the window opens
    from PIL import Image

MIN_FRAMES, MAX_FRAMES = 2, 240
ANIMATED = {".webp": "WEBP", ".gif": "GIF"}
DESCRIPTION_KEY = "Description"  # the PNG text keyword viewers show as the picture's description
EXIF_IMAGE_DESCRIPTION = 0x010E


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
        request = base.replace(mode="blend", blend_prompts=(prompt_b,), blend_weights=(t,))
        if seed_b is not None:
            request = request.replace(seed_b=seed_b, seed_mix=t)
        requests.append(request.validate())
    return requests


def _percent(value: float) -> str:
    return f"{round(value * 100)}%"


def frame_caption(request: GenerationRequest) -> str:
    """Where a blend frame stands, short enough for a filmstrip cell: "A→B 40%" (B's weight);
    "A 50% · B 30% · C 20%" for more prompts; a seed mix that differs is added as "seed 40%".
    A text-diff frame says how far its edit goes: "edit 40%"."""
    if request.mode == "textdiff":
        return f"edit {_percent(request.edit_amount)}"
    weights = [w for _prompt, w in request.prompt_weights()]
    seed_mix = request.seed_mix if request.seed_b is not None else None
    if len(weights) == 2:
        caption = f"A→B {_percent(weights[1])}"
        if seed_mix is not None and round(seed_mix * 100) != round(weights[1] * 100):
            caption += f" · seed {_percent(seed_mix)}"
        return caption
    if len(weights) > 2:
        letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
        caption = " · ".join(f"{letters[i % 26]} {_percent(w)}" for i, w in enumerate(weights))
        return caption + (f" · seed {_percent(seed_mix)}" if seed_mix is not None else "")
    return f"seed A→B {_percent(seed_mix)}" if seed_mix is not None else "A"


def frame_description(request: GenerationRequest, index: int | None = None, total: int | None = None) -> str:
    """The caption in words, with the prompts, their weights and the seeds (tooltips, metadata)."""
    head = f"frame {index + 1} of {total}, " if index is not None and total is not None else ""
    if request.mode == "textdiff":
        return head + f'{frame_caption(request)}: "{request.source_prompt}" → "{request.target_prompt}"'
    parts = [f"{frame_caption(request)}: " + ", ".join(
        f'"{prompt}" {_percent(weight)}' for prompt, weight in request.prompt_weights())]
    if request.seed_b is not None:
        parts.append(f"noise seed {request.seed} → {request.seed_b} at {_percent(request.seed_mix)}")
    return head + "; ".join(parts)


def strip_description(requests: Sequence[GenerationRequest]) -> str:
    """One line for a whole strip: which prompts (and seeds) it walks between, in how many frames."""
    first, last = requests[0], requests[-1]
    if last.mode == "textdiff":
        return (f'{len(requests)} frames editing "{last.source_prompt}" to "{last.target_prompt}": '
                + ", ".join(frame_caption(r) for r in requests))
    ends = [prompt for prompt, _w in last.prompt_weights()[1:]] or [last.prompt]
    text = f'{len(requests)} frames from "{first.prompt}" to "{ends[-1]}"'
    if last.seed_b is not None:
        text += f", noise seed {first.seed} → {last.seed_b}"
    captions = [frame_caption(r) for r in requests]
    if all(c.startswith("A→B ") for c in captions):
        return text + ": A→B at " + ", ".join(c.removeprefix("A→B ") for c in captions)
    return text + ": " + ", ".join(captions)


def render_strip(
    engine: JobQueue,
    requests: Sequence[GenerationRequest],
    on_event: Callable[[int, Event], None] | None = None,
) -> list[Image.Image]:
    """Queue every frame, wait, and return the images in frame order (see render_strip_events)."""
    return [event.image for event in render_strip_events(engine, requests, on_event)]


def render_strip_events(
    engine: JobQueue,
    requests: Sequence[GenerationRequest],
    on_event: Callable[[int, Event], None] | None = None,
) -> list[Finished]:
    """Queue every frame, wait, and return the frames' Finished events (image, request, info) in order.

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
    return [results[i] for i in range(len(requests))]  # every one is Finished (checked above)


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


def export_strip(
    images: Sequence[Image.Image],
    target: str | Path,
    fps: float = 8.0,
    requests: Sequence[GenerationRequest] | None = None,
    infos: Sequence[dict[str, Any]] | None = None,
) -> list[Path]:
    """Write the frames: OUT.webp / OUT.gif animated (looping), OUT.png side by side, or numbered
    PNGs (frame-001.png...) when `target` is a folder or has no suffix. Every file is written
    atomically. Returns the paths written; UserError (one line) for a target it cannot write.

    With the frames' `requests` (and the engine's `infos`), each numbered PNG embeds its own
    parameters and caption, and the other formats a line saying which walk they show.

    GIF and WebP encoders fold a frame identical to the one before into it (adding its time), so an
    animation can hold fewer frames than the strip while playing exactly the same."""
    if not images:
        raise UserError("there are no frames to export")
    if requests is not None and len(requests) != len(images):
        raise ValueError(f"{len(images)} frames but {len(requests)} requests")
    target = Path(target).expanduser()
    suffix = target.suffix.lower()
    description = strip_description(requests) if requests else None
    try:
        if target.is_dir() or not suffix:
            target.mkdir(parents=True, exist_ok=True)
            paths = []
            for index, image in enumerate(images, start=1):
                path = target / f"frame-{index:03d}.png"
                text = None
                if requests:
                    request = requests[index - 1]
                    info = infos[index - 1] if infos else None
                    text = {**image_info(request, info),
                            DESCRIPTION_KEY: frame_description(request, index - 1, len(images))}
                atomic_write_bytes(path, _encode(image, "PNG", text))
                paths.append(path)
            return paths
        if suffix == ".png":
            text = {DESCRIPTION_KEY: description} if description else None
            atomic_write_bytes(target, _encode(contact_sheet(images), "PNG", text))
            return [target]
        if suffix in ANIMATED:
            atomic_write_bytes(target, _encode_animation(images, ANIMATED[suffix], fps, description))
            return [target]
    except OSError as exc:
        raise UserError(f"cannot write {target}: {exc.strerror or exc}") from None
    raise UserError(f"unsupported strip format {suffix!r}: use .webp, .gif, .png or a folder")


def _encode(image: Image.Image, fmt: str, text: dict[str, str] | None = None) -> bytes:
    options: dict[str, Any] = {}
    if text:
        from PIL.PngImagePlugin import PngInfo

        chunks = PngInfo()
        for key, value in text.items():
            try:  # tEXt where Latin-1 holds it (older readers), else UTF-8 iTXt (the caption's arrow)
                value.encode("latin-1")
            except UnicodeEncodeError:
                chunks.add_itxt(key, value)
            else:
                chunks.add_text(key, value)
        options["pnginfo"] = chunks
    buffer = io.BytesIO()
    image.save(buffer, format=fmt, **options)
    return buffer.getvalue()


def _encode_animation(images: Sequence[Image.Image], fmt: str, fps: float, description: str | None) -> bytes:
    from PIL import Image

    frames = [image.convert("RGB") for image in images]
    duration = max(20, round(1000 / max(fps, 0.1)))  # ms per frame; GIF viewers clamp below 20
    buffer = io.BytesIO()
    options: dict[str, Any] = {"quality": 90} if fmt == "WEBP" else {"optimize": False}
    if description and fmt == "GIF":
        options["comment"] = description.encode("utf-8")
    elif description:  # WebP keeps text only in EXIF; ImageDescription is what viewers show
        exif = Image.Exif()
        exif[EXIF_IMAGE_DESCRIPTION] = description.replace("→", "->")  # an ASCII field
        options["exif"] = exif.tobytes()
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
