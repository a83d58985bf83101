"""Time a 20-step, 128x128, CFG (batch-2 UNet) generation with the embedded shapes model.

    python benchmarks/bench_shapes_model.py [--model resources/models/studio-shapes] [--threads 2]

Prints the median of 3 timed runs (after one warm-up) and its ratio to the 1.5 s goal.
"""

from __future__ import annotations

import argparse
import statistics
import time

import torch
from diffusers import StableDiffusionPipeline

from studio.engine._schedulers import applied_guidance_rescale

GOAL_S = 1.5


def main() -> None:
    p = argparse.ArgumentParser()
    p.add_argument("--model", default="resources/models/studio-shapes")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=5.0)
    p.add_argument("--guidance-rescale", type=float, default=None,
                   help="default: the model's own, as the app applies it (0.7 at guidance 5)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args()
    torch.set_num_threads(args.threads)
    pipe = StableDiffusionPipeline.from_pretrained(args.model)
    pipe.set_progress_bar_config(disable=True)
    rescale = applied_guidance_rescale(pipe, args.guidance_rescale, args.guidance, pipe.scheduler.config)
    prompt = "a small red star in the top left on a blue background"

    def run() -> float:
        t0 = time.perf_counter()
        pipe(prompt, num_inference_steps=args.steps, guidance_scale=args.guidance, height=128, width=128,
             guidance_rescale=rescale, generator=torch.Generator().manual_seed(0))
        return time.perf_counter() - t0

    run()  # warm-up: first call pays for lazy init
    times = [run() for _ in range(3)]
    med = statistics.median(times)
    print(f"20 steps 128x128 CFG {args.guidance:g}, rescale {rescale:g} ({args.threads} threads): median {med:.3f} s of {[round(t, 3) for t in times]}; "
          f"ratio to {GOAL_S} s goal = {med / GOAL_S:.2f} ({'OK' if med <= GOAL_S else 'SLOW'})")


if __name__ == "__main__":
    main()
