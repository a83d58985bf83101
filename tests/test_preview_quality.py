"""Live previews show the sampler's estimate of the clean picture, not the noisy latent.

Issue 20: "the first third of the steps previews as rainbow noise". Each scheduler step is tapped
for its x0 estimate (`DenoisedTap`); these tests check that every sampler Studio offers yields the
true x0 when the model is perfect, that the tap leaves sampling bit for bit alone, and that on the
bundled model the preview a quarter of the way in already has the final picture's colours.
"""

from __future__ import annotations

import inspect
import json

import numpy as np
import pytest
import torch
from job_support import job_events
from PIL import Image

from studio.core.events import Finished, Preview
from studio.core.paths import bundled_model_path, repo_resources
from studio.core.request import SCHEDULERS, GenerationRequest
from studio.core.settings import EngineSettings
from studio.engine._previews import DenoisedTap
from studio.engine._schedulers import build_scheduler
from studio.engine.backend import DiffusersBackend
from studio.engine.jobs import JobQueue

# v-prediction with zero terminal SNR (the bundled model) and epsilon prediction (SD 1.x).
CONFIGS = {
    "bundled": bundled_model_path() / "scheduler" / "scheduler_config.json",
    "sd1": repo_resources() / "configs" / "sd1" / "scheduler" / "scheduler_config.json",
}


def _oracle_run(scheduler, config: dict, steps: int = 8, seed: int = 0):
    """Sample with a perfect model of one fixed x0; yields (x0, tapped estimate, latents) per step.

    The model output is exactly what a network that knew x0 would predict from the (scaled) input
    it is given, so every correct x0 estimate equals x0."""
    scheduler.set_timesteps(steps)
    generator = torch.Generator().manual_seed(seed)
    # Inside [-1, 1]: DDIM built from a config without clip_sample clips its x0 estimate there.
    x0 = torch.rand(1, 4, 8, 8, generator=generator) * 1.6 - 0.8
    latents = torch.randn(1, 4, 8, 8, generator=generator) * scheduler.init_noise_sigma
    # As the pipelines do: pass a generator only to a step() that says it takes one.
    extra = {"generator": generator} if "generator" in inspect.signature(scheduler.step).parameters else {}
    for t in scheduler.timesteps:
        model_input = scheduler.scale_model_input(latents, t)
        alpha = scheduler.alphas_cumprod[int(t)]
        noise = (model_input - alpha.sqrt() * x0) / (1 - alpha).sqrt()
        if config["prediction_type"] == "v_prediction":
            output = alpha.sqrt() * noise - (1 - alpha).sqrt() * x0
        else:
            output = noise
        latents = scheduler.step(output, t, latents, **extra, return_dict=False)[0]
        tap = scheduler.step if isinstance(scheduler.step, DenoisedTap) else None
        yield x0, (tap.take() if tap is not None else None), latents


@pytest.mark.parametrize("config_name", sorted(CONFIGS))
@pytest.mark.parametrize("name", SCHEDULERS)
def test_every_sampler_yields_the_clean_estimate_at_every_step(name, config_name):
    config = json.loads(CONFIGS[config_name].read_text(encoding="utf-8"))
    scheduler = build_scheduler(name, config)
    DenoisedTap.on(scheduler)
    rows = list(_oracle_run(scheduler, config))
    for step, (x0, estimate, latents) in enumerate(rows, start=1):
        assert estimate is not None, f"no x0 estimate at step {step}"
        # Karras sigmas fall between the integer timesteps: a few 1e-3 off, the rest ~1e-7.
        assert float((estimate - x0).abs().max()) < 0.01, f"step {step}"
        if step <= len(rows) // 2:  # what the preview showed before: still far from the picture
            assert float((latents - x0).abs().max()) > 0.5


@pytest.mark.parametrize("name", SCHEDULERS)
def test_the_tap_leaves_every_step_bit_for_bit_alone(name):
    config = json.loads(CONFIGS["bundled"].read_text(encoding="utf-8"))
    plain = [latents for _x0, _e, latents in _oracle_run(build_scheduler(name, config), config)]
    tapped_scheduler = build_scheduler(name, config)
    DenoisedTap.on(tapped_scheduler)
    DenoisedTap.on(tapped_scheduler)  # installing twice keeps one tap
    assert not isinstance(tapped_scheduler.step._step, DenoisedTap)
    tapped = [latents for _x0, _e, latents in _oracle_run(tapped_scheduler, config)]
    assert all(torch.equal(a, b) for a, b in zip(plain, tapped, strict=True))


# ---- on the bundled model ------------------------------------------------------------------------
def _colour_distances(preview: Image.Image, final: Image.Image) -> tuple[float, float]:
    """(mean-colour distance, 4x4-grid distance): mean absolute difference, 0-255."""
    a = np.asarray(preview.convert("RGB"), dtype=np.float64)
    b = np.asarray(final.convert("RGB"), dtype=np.float64)
    mean = float(np.abs(a.mean(axis=(0, 1)) - b.mean(axis=(0, 1))).mean())
    grid = [np.asarray(im.convert("RGB").resize((4, 4), Image.Resampling.BOX), dtype=np.float64)
            for im in (preview, final)]
    return mean, float(np.abs(grid[0] - grid[1]).mean())


@pytest.fixture(scope="module")
def engine():
    queue = JobQueue(DiffusersBackend(EngineSettings()))
    yield queue
    assert queue.shutdown(timeout=60)


@pytest.mark.slow
@pytest.mark.parametrize("scheduler", ["Euler a", "DPM++ 2M", "UniPC"])
@pytest.mark.parametrize(
    ("seed", "prompt"),
    [(0, "a red circle in the center on a yellow background"),
     (1, "a blue square on the left on a white background")],
)
def test_a_quarter_of_the_way_in_the_preview_has_the_final_colours(engine, scheduler, seed, prompt):
    # Measured over 8 seeds with these samplers (benchmarks/bench_previews.py): at 5 of 20 steps the
    # mean colours were 1-8 apart (4x4 grid: 8-13); the noisy latent previewed 72-85 apart.
    request = GenerationRequest(prompt, seed=seed, steps=20, width=128, height=128, guidance_scale=4.0,
                                scheduler=scheduler)
    events = job_events(engine, request)
    previews = {e.step: e.image for e in events if isinstance(e, Preview)}
    final = next(e for e in events if isinstance(e, Finished)).image
    mean, coarse = _colour_distances(previews[5], final)
    assert mean < 20, f"mean colours {mean:.1f} apart at step 5 of 20"
    assert coarse < 25, f"4x4 colours {coarse:.1f} apart at step 5 of 20"
