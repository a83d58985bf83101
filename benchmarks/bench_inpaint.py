"""Inpainting overhead and pixel-work cost.

1. Engine inpaint (load + validate source and mask, feather, composited previews every step,
   pixel-space composite) vs a plain diffusers StableDiffusionInpaintPipeline call on the same
   model, size, steps, seed and strength; runs alternate so machine load hits both alike. Prints
   medians and the ratio engine / plain (goal: <= 1.05).
2. The pure-pixel steps on a large picture (2048x1536): feathering, the masked-only crop plan and
   the final composite, in milliseconds.

    python benchmarks/bench_inpaint.py [--runs 5] [--steps 10] [--size 256] [--no-bundled]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from _alternating import alternating_medians
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
    pipe(
        request.prompt,
        image=Image.open(request.init_image).convert("RGB"),
        mask_image=Image.open(request.mask_image).convert("L"),
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


def compare(name: str, model_dir: Path, size: int, steps: int, runs: int, folder: Path) -> None:
    source, mask = pictures(folder, size)
    request = GenerationRequest(
        PROMPT, model=str(model_dir), init_image=str(source), mask_image=str(mask), strength=1.0,
        steps=steps, width=size, height=size, seed=1, guidance_scale=5.0,
    )
    plain = plain_inpaint(model_dir, request.scheduler)
    engine = JobQueue(DiffusersBackend(EngineSettings(preview_every=1)))
    failures: list[str] = []
    engine.subscribe(lambda e: failures.append(e.message) if hasattr(e, "message") and type(e).__name__ == "Failed" else None)
    try:
        a, b = alternating_medians(lambda: time_engine(engine, request), lambda: time_plain(plain, request), runs)
    finally:
        engine.shutdown()
    if failures:
        raise SystemExit(f"engine failed: {failures[0]}")
    print(f"{name}: {size}x{size}, {steps} steps, strength 1, {runs} alternating runs")
    print(f"  engine inpaint (previews every step, composite) median {a:.3f} s")
    print(f"  plain diffusers inpaint call                   median {b:.3f} s")
    print(f"  ratio engine / plain: {a / b:.3f}  (goal <= 1.05)")


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
    args = parser.parse_args()
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
