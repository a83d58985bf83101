"""Live preview quality and cost: how close each step's preview is to the finished picture.

Runs the bundled model through the real engine for every sampler Studio offers and prints, per
sampler, the colour distance (0-255) between the preview at each quarter of the steps and the final
image: "mean" compares the pictures' mean colours, "coarse" their 4x4 colour grids. Also prints
the milliseconds each preview costs on the inference thread.

    python benchmarks/bench_previews.py [--steps 20] [--seeds 3] [--samplers Euler,DDIM]
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from PIL import Image

from studio.core.events import Finished, Preview
from studio.core.request import SCHEDULERS, GenerationRequest
from studio.core.settings import EngineSettings
from studio.engine import _sampler
from studio.engine.backend import DiffusersBackend
from studio.engine.jobs import JobQueue

PROMPTS = (
    "a red circle in the center on a yellow background",
    "a blue square on the left on a white background",
    "a green triangle on the right on a black background",
)


def colour_distances(preview: Image.Image, final: Image.Image) -> tuple[float, float]:
    """(mean-colour distance, 4x4-grid distance), both as mean absolute difference in 0-255."""
    a = np.asarray(preview.convert("RGB"), dtype=np.float64)
    b = np.asarray(final.convert("RGB"), dtype=np.float64)
    mean = float(np.abs(a.mean(axis=(0, 1)) - b.mean(axis=(0, 1))).mean())
    grid_a = np.asarray(preview.convert("RGB").resize((4, 4), Image.Resampling.BOX), dtype=np.float64)
    grid_b = np.asarray(final.convert("RGB").resize((4, 4), Image.Resampling.BOX), dtype=np.float64)
    return mean, float(np.abs(grid_a - grid_b).mean())


def run_one(queue: JobQueue, request: GenerationRequest) -> tuple[list[Image.Image], Image.Image]:
    events: list = []
    unsubscribe = queue.subscribe(events.append)
    try:
        queue.submit(request)
        assert queue.wait_idle(timeout=600)
    finally:
        unsubscribe()
    final = next(e for e in events if isinstance(e, Finished))
    return [e.image for e in events if isinstance(e, Preview)], final.image


def time_previews() -> list[float]:
    """Wrap StepReporter.__call__ to time the preview work it does per step (ms)."""
    times: list[float] = []
    original = _sampler.StepReporter.__call__

    def timed(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        start = time.perf_counter()
        out = original(self, *args, **kwargs)
        times.append((time.perf_counter() - start) * 1000)
        return out

    _sampler.StepReporter.__call__ = timed
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--samplers", default=",".join(SCHEDULERS))
    args = parser.parse_args()
    reporter_ms = time_previews()
    queue = JobQueue(DiffusersBackend(EngineSettings()))
    quarters = (0.25, 0.5, 0.75, 1.0)
    print(f"{'sampler':16} " + " ".join(f"{int(q * 100):>3}% mean/coarse" for q in quarters))
    try:
        for sampler in args.samplers.split(","):
            rows = []
            for seed in range(args.seeds):
                request = GenerationRequest(PROMPTS[seed % len(PROMPTS)], seed=seed, steps=args.steps,
                                            width=128, height=128, guidance_scale=4.0, scheduler=sampler)
                previews, final = run_one(queue, request)
                row = []
                for q in quarters:
                    index = max(0, round(q * len(previews)) - 1)
                    row.append(colour_distances(previews[index], final))
                rows.append(row)
            cells = []
            for i in range(len(quarters)):
                mean = statistics.mean(r[i][0] for r in rows)
                coarse = statistics.mean(r[i][1] for r in rows)
                cells.append(f"{mean:6.1f} /{coarse:6.1f}")
            print(f"{sampler:16} " + " ".join(cells))
    finally:
        queue.shutdown()
    print(f"StepReporter per step (progress + preview): median {statistics.median(reporter_ms):.2f} ms, "
          f"p90 {np.percentile(reporter_ms, 90):.2f} ms over {len(reporter_ms)} steps")


if __name__ == "__main__":
    main()
