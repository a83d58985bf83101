"""Inpainting overhead and pixel-work cost.

1. Engine inpaint vs a plain diffusers StableDiffusionInpaintPipeline call on the same model,
   size, steps, seed and strength; runs rotate so machine load hits all alike. Prints wall and
   CPU medians and ratios to the plain call (goal: <= 1.05). What each side counts:
     plain diffusers   open the two pictures, then one inpaint call from the prompt text: it
                       encodes the prompt every call.
     engine, cold      submit -> job idle: load + validate source and mask from their files,
                       feather, composited previews every step, pixel-space composite; the
                       engine's prompt cache cleared before each run (the same encoding work).
     engine, warm      the same with the prompt already encoded (inpainting again).
     window, cold/warm the engine on its own queue behind the window's bridge (studio/ui/bridge.py,
                       offscreen Qt): submit -> `finished` delivered on the GUI thread, every
                       composited preview converted to a QImage and delivered there first.
2. The pure-pixel steps on a large picture (2048x1536): feathering, the masked-only crop plan and
   the final composite, in milliseconds.

    python benchmarks/bench_inpaint.py [--runs 5] [--steps 10] [--size 256] [--no-bundled] [--quick]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _alternating import rotating_medians
from _fair import WindowDelivery, clear_prompt_cache, print_ratios
from PIL import Image, ImageDraw

from studio.core.paths import bundled_model_path
from studio.core.request import GenerationRequest
from studio.core.settings import EngineSettings
from studio.engine import imageops
from studio.engine._schedulers import build_scheduler
from studio.engine.backend import DiffusersBackend
from studio.engine.jobs import JobQueue
from studio.engine.tiny import ensure_tiny_model

PROMPT = "a green triangle"


def pictures(folder: Path, size: int) -> tuple[Path, Path]:
    rng = np.random.default_rng(0)
    source = Image.fromarray(rng.integers(0, 256, (size, size, 3), dtype=np.uint8), "RGB")
    mask = Image.new("L", (size, size), 0)
    ImageDraw.Draw(mask).ellipse((size // 4, size // 4, size * 3 // 4, size * 3 // 4), fill=255)
    source.save(folder / "source.png")
    mask.save(folder / "mask.png")
    return folder / "source.png", folder / "mask.png"


def plain_inpaint(model_dir: Path, scheduler: str):
    from diffusers import DiffusionPipeline, StableDiffusionInpaintPipeline

    base = DiffusionPipeline.from_pretrained(model_dir, local_files_only=True, safety_checker=None)
    pipe = StableDiffusionInpaintPipeline.from_pipe(base)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = build_scheduler(scheduler, pipe.scheduler.config)
    return pipe


def time_plain(pipe, request: GenerationRequest) -> float:
    start = time.perf_counter()
    with Image.open(request.init_image) as source, Image.open(request.mask_image) as mask:
        source, mask = source.convert("RGB"), mask.convert("L")  # the engine reads them too
    pipe(
        request.prompt,
        image=source,
        mask_image=mask,
        width=request.width,
        height=request.height,
        strength=request.strength,
        num_inference_steps=request.steps,
        guidance_scale=request.guidance_scale,
        generator=torch.Generator("cpu").manual_seed(request.seed),
    )
    return time.perf_counter() - start


def time_engine(engine: JobQueue, request: GenerationRequest) -> float:
    start = time.perf_counter()
    engine.submit(request)
    engine.wait_idle()
    return time.perf_counter() - start


def cold(backend: DiffusersBackend, timed):  # noqa: ANN001, ANN201 - a timing function
    """`timed` with the engine's prompt cache cleared first (outside the timed part)."""

    def run() -> float:
        clear_prompt_cache(backend)
        return timed()

    return run


def compare(name: str, model_dir: Path, size: int, steps: int, runs: int, folder: Path) -> None:
    source, mask = pictures(folder, size)
    request = GenerationRequest(
        PROMPT, model=str(model_dir), init_image=str(source), mask_image=str(mask), strength=1.0,
        steps=steps, width=size, height=size, seed=1, guidance_scale=5.0,
    )
    plain = plain_inpaint(model_dir, request.scheduler)
    settings = EngineSettings(preview_every=1)
    backend, window_backend = DiffusersBackend(settings), DiffusersBackend(settings)
    engine = JobQueue(backend)
    window = WindowDelivery(JobQueue(window_backend))
    failures: list[str] = []
    engine.subscribe(lambda e: failures.append(e.message) if hasattr(e, "message") and type(e).__name__ == "Failed" else None)
    variants = {
        "plain diffusers call": lambda: time_plain(plain, request),
        "engine, cold prompt cache": cold(backend, lambda: time_engine(engine, request)),
        "engine, warm prompt cache": lambda: time_engine(engine, request),
        "window (engine + bridge), cold": cold(window_backend, lambda: window.time(request)),
        "window (engine + bridge), warm": lambda: window.time(request),
    }
    try:
        medians = rotating_medians(variants, runs)
    finally:
        engine.shutdown()
        window.shutdown()
    if failures:
        raise SystemExit(f"engine failed: {failures[0]}")
    print_ratios(f"{name}: {size}x{size}, {steps} steps, strength 1, {runs} rotating runs", medians,
                 1.05, scale=1.0, unit="s")


def pixel_work(runs: int) -> None:
    width, height = 2048, 1536
    rng = np.random.default_rng(1)
    source = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")
    generated = Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")
    mask = Image.new("L", (width, height), 0)
    ImageDraw.Draw(mask).ellipse((900, 500, 1300, 900), fill=255)

    def median_ms(fn) -> float:
        times = []
        for _ in range(runs):
            start = time.perf_counter()
            fn()
            times.append((time.perf_counter() - start) * 1000)
        return statistics.median(times)

    feathered = imageops.feather_mask(mask, 16)
    box = imageops.bounding_box(feathered, 32)

    def plan() -> None:
        size = imageops.working_size((box[2] - box[0], box[3] - box[1]), 512 * 512)
        source.crop(box).resize(size, Image.Resampling.LANCZOS)

    print(f"pixel work on {width}x{height} (median of {runs}):")
    print(f"  feather 16 px          {median_ms(lambda: imageops.feather_mask(mask, 16)):7.1f} ms")
    print(f"  masked-only crop plan  {median_ms(plan):7.1f} ms")
    print(f"  composite (full frame) {median_ms(lambda: imageops.composite(source, generated, feathered)):7.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--steps", type=int, default=10)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--no-bundled", action="store_true")
    parser.add_argument("--quick", action="store_true", help="3 runs of 4 steps at 128 px: a smoke run")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.steps, args.size = 3, 4, 128
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        tiny = ensure_tiny_model(folder / "tiny")
        compare("tiny SD1-architecture model", tiny, args.size, args.steps, args.runs, folder)
        bundled = bundled_model_path()
        if not args.no_bundled and (bundled / "model_index.json").is_file():
            compare("bundled studio-shapes", bundled, args.size, args.steps, args.runs, folder)
    pixel_work(args.runs)


if __name__ == "__main__":
    main()
