"""Blend slider cost: text-encoder time per prompt, and slider move -> first live preview.

1. Encoder cost on an SD 1.x-sized CLIP text encoder (random weights, real CLIP tokenizer; built in
   code, nothing downloaded): one prompt encoded uncached (plain, weighted, 200 tokens) vs a cache
   hit, and the cost of mixing two cached prompts (slerp/lerp).
2. Slider move -> first preview through the real engine (JobQueue + DiffusersBackend), alternating
   runs: a new mix of prompts already cached (what a slider move costs) vs a prompt never seen
   before (what it would cost without the cache). Models: the tiny one, a tiny UNet behind the
   SD 1.x-sized text encoder (so the encoder weighs what it does in practice), and the bundled
   model when present. Medians of --runs runs; the ratio is uncached / cached.

    python benchmarks/bench_blend.py [--runs 7] [--steps 20] [--no-sd1-encoder] [--no-bundled]
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import threading
import time
from pathlib import Path

import torch
from diffusers import DiffusionPipeline

from studio.core.events import Failed, Preview
from studio.core.paths import bundled_model_path
from studio.core.request import GenerationRequest
from studio.core.settings import EngineSettings
from studio.engine._embeddings import EmbeddingCache, PromptEncoder
from studio.engine.backend import DiffusersBackend, native_size
from studio.engine.jobs import JobQueue
from studio.engine.tiny import ensure_tiny_model

PROMPT_A = "a red circle on a white background, flat colours"
PROMPT_B = "a blue square on a white background, flat colours"


def sd1_sized_pipeline():
    """Tiny UNet/VAE behind an SD 1.x-sized CLIP text encoder (123 M parameters, random)."""
    from diffusers import StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from studio.engine._checkpoints import clip_tokenizer, configs_root
    from studio.engine._tiny import build_tiny_pipeline

    torch.manual_seed(0)
    config = json.loads((configs_root() / "sd1" / "text_encoder" / "config.json").read_text())
    encoder = CLIPTextModel(CLIPTextConfig(**config)).eval()
    tiny = build_tiny_pipeline()
    unet = UNet2DConditionModel(**{**tiny.unet.config, "cross_attention_dim": 768})
    pipe = StableDiffusionPipeline(
        vae=tiny.vae, text_encoder=encoder, tokenizer=clip_tokenizer(), unet=unet,
        scheduler=tiny.scheduler, safety_checker=None, feature_extractor=None, requires_safety_checker=False,
    )
    pipe.set_progress_bar_config(disable=True)
    return pipe


def median_ms(fn, runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def bench_encoder(pipe, runs: int) -> None:
    encoder = PromptEncoder(pipe)
    prompts = {
        "plain prompt": PROMPT_A,
        "weighted (red:1.3)": "a (red:1.3) circle on a [white] background, flat colours",
        "200-token prompt": ", ".join([PROMPT_A] * 20),
    }
    print("Encoder cost (SD 1.x-sized CLIP text encoder, CPU):")
    for label, text in prompts.items():

        def uncached(text=text):
            encoder.cache = EmbeddingCache()
            encoder.encode_text(text)

        uncached()  # warm-up: first calls allocate and spin up threads
        cold = median_ms(uncached, runs)
        warm = median_ms(lambda text=text: encoder.encode_text(text), runs * 20)
        print(f"  {label:22s} uncached {cold:8.1f} ms   cached {warm * 1000:6.1f} µs")
    encoder.encode_text(PROMPT_B)
    for mode in ("slerp", "lerp"):
        request = GenerationRequest(PROMPT_A, blend_prompts=(PROMPT_B,), blend_weights=(0.37,), blend_mode=mode)
        mixed = median_ms(lambda r=request: encoder.encode(r), runs * 20)
        print(f"  {'mix of 2 cached (' + mode + ')':22s} {mixed:17.2f} ms")


def first_preview_seconds(engine: JobQueue, request: GenerationRequest) -> float:
    seen = threading.Event()
    failures: list[str] = []

    def listen(event) -> None:
        if event.job_id != job_id:
            return
        if isinstance(event, Preview):
            seen.set()
        elif isinstance(event, Failed):
            failures.append(event.message)
            seen.set()

    job_id = -1
    unsubscribe = engine.subscribe(listen)
    start = time.perf_counter()
    job_id = engine.submit(request)
    seen.wait(300)
    elapsed = time.perf_counter() - start
    engine.cancel(job_id)  # a slider moving on: the rest of this job is not wanted
    engine.wait_idle(300)
    unsubscribe()
    if failures:
        raise SystemExit(f"job failed: {failures[0]}")
    return elapsed


def bench_slider(label: str, model: str, runs: int, steps: int, size: int) -> None:
    engine = JobQueue(DiffusersBackend(EngineSettings()))
    base = GenerationRequest(PROMPT_A, seed=1, steps=steps, width=size, height=size, scheduler="Euler", model=model)
    try:
        first_preview_seconds(engine, base.replace(blend_prompts=(PROMPT_B,), blend_weights=(0.5,)))  # load, warm
        cached, uncached = [], []
        for run in range(runs):
            t = (run + 1) / (runs + 1)
            cached.append(first_preview_seconds(engine, base.replace(blend_prompts=(PROMPT_B,), blend_weights=(t,))))
            fresh = f"{PROMPT_B}, variation {run}"  # never encoded before
            uncached.append(first_preview_seconds(engine, base.replace(blend_prompts=(fresh,), blend_weights=(t,))))
    finally:
        engine.shutdown()
    c, u = statistics.median(cached) * 1000, statistics.median(uncached) * 1000
    print(f"  {label:38s} cached {c:8.1f} ms   uncached {u:8.1f} ms   uncached/cached {u / c:5.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--no-sd1-encoder", action="store_true", help="skip the 123 M-parameter text encoder")
    parser.add_argument("--no-bundled", action="store_true")
    args = parser.parse_args()
    torch.set_grad_enabled(False)
    with tempfile.TemporaryDirectory() as tmp:
        models = [("tiny model (64 px)", str(ensure_tiny_model(Path(tmp) / "tiny")), 64)]
        if not args.no_sd1_encoder:
            folder = Path(tmp) / "sd1-encoder"
            sd1_sized_pipeline().save_pretrained(folder)
            # measured as loaded from disk, like the engine's (freshly built weights run slower)
            bench_encoder(DiffusionPipeline.from_pretrained(folder, local_files_only=True), args.runs)
            models.append(("tiny UNet + SD1-sized encoder (64 px)", str(folder), 64))
        bundled = bundled_model_path()
        if not args.no_bundled and (bundled / "model_index.json").is_file():
            models.append(("bundled studio-shapes", "", native_size("")))
        print(f"\nSlider move -> first preview (engine, {args.steps} steps, Euler, medians of {args.runs}):")
        for label, model, size in models:
            bench_slider(label, model, args.runs, args.steps, size)


if __name__ == "__main__":
    main()
