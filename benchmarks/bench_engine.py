"""Engine overhead: our engine (live previews every step) vs a plain diffusers pipeline call.

Same model, steps, size, seed and scheduler, one process, runs alternating so machine load hits
both alike; prints medians and the ratio engine / plain (goal: <= 1.02). Also times one preview.

    python benchmarks/bench_engine.py [--runs 7] [--steps 20] [--size N] [--no-bundled]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from pathlib import Path

import torch
from _alternating import alternating_medians

from studio.core.paths import bundled_model_path
from studio.core.request import GenerationRequest
from studio.core.settings import EngineSettings
from studio.engine._previews import preview_map_for
from studio.engine._schedulers import applied_guidance_rescale, build_scheduler
from studio.engine.backend import DiffusersBackend, native_size
from studio.engine.jobs import JobQueue
from studio.engine.tiny import ensure_tiny_model

PROMPT = "a red circle above a blue square, flat colours"


def plain_pipeline(model_dir: Path, scheduler: str):
    from diffusers import DiffusionPipeline

    pipe = DiffusionPipeline.from_pretrained(model_dir, local_files_only=True, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = build_scheduler(scheduler, pipe.scheduler.config)
    return pipe


def time_plain(pipe, request: GenerationRequest) -> float:
    start = time.perf_counter()
    pipe(
        request.prompt,
        num_inference_steps=request.steps,
        guidance_scale=request.guidance_scale,
        # What the engine applies by default: the model's own rescale (0.7 on the bundled model).
        guidance_rescale=applied_guidance_rescale(pipe, request.guidance_rescale, request.guidance_scale,
                                                  pipe.scheduler.config),
        width=request.width,
        height=request.height,
        generator=torch.Generator("cpu").manual_seed(request.seed),
    )
    return time.perf_counter() - start


def time_engine(queue: JobQueue, request: GenerationRequest) -> float:
    previews = []
    unsubscribe = queue.subscribe(lambda e: previews.append(e) if type(e).__name__ == "Preview" else None)
    start = time.perf_counter()
    queue.submit(request)
    queue.wait_idle()
    elapsed = time.perf_counter() - start
    unsubscribe()
    assert len(previews) == request.steps, f"expected a preview per step, got {len(previews)}"
    return elapsed


def bench_model(label: str, model_dir: Path, steps: int, size: int | None, runs: int) -> float:
    size = size or native_size(str(model_dir))
    request = GenerationRequest(PROMPT, seed=1234, steps=steps, width=size, height=size, model=str(model_dir))
    queue = JobQueue(DiffusersBackend(EngineSettings(preview_every=1)))
    pipe = plain_pipeline(model_dir, request.scheduler)
    try:
        engine_median, plain_median = alternating_medians(
            lambda: time_engine(queue, request), lambda: time_plain(pipe, request), runs
        )
    finally:
        queue.shutdown()
    ratio = engine_median / plain_median
    print(
        f"{label}: {size}x{size}, {steps} steps, {runs} alternating runs | "
        f"engine median {engine_median * 1000:.1f} ms, plain diffusers median {plain_median * 1000:.1f} ms | "
        f"ratio {ratio:.3f} (goal <= 1.02)"
    )
    return ratio


def bench_preview(latent_size: int = 64, calls: int = 200) -> float:
    preview = preview_map_for(None, "sd1", 4)
    latents = torch.randn(1, 4, latent_size, latent_size)
    preview.to_image(latents)
    times = []
    for _ in range(calls):
        start = time.perf_counter()
        preview.to_image(latents)
        times.append(time.perf_counter() - start)
    median = statistics.median(times)
    print(f"preview: {latent_size}x{latent_size} latents -> RGB image, median {median * 1000:.3f} ms (goal < 2 ms)")
    return median


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--size", type=int, default=None, help="pixels (default: each model's native size)")
    parser.add_argument("--no-bundled", action="store_true", help="skip the bundled model even if present")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads")
    bench_preview()
    with tempfile.TemporaryDirectory() as tmp:
        tiny = ensure_tiny_model(Path(tmp) / "tiny")
        bench_model("tiny (built in code)", tiny, args.steps, args.size, args.runs)
    bundled = bundled_model_path()
    if not args.no_bundled and (bundled / "model_index.json").is_file():
        bench_model("bundled studio-shapes", bundled, args.steps, args.size, args.runs)
    elif not args.no_bundled:
        print(f"bundled model not found at {bundled}; skipped")


if __name__ == "__main__":
    main()
