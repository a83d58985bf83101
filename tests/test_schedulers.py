"""Artist scheduler names -> diffusers schedulers built from the model's own config."""

from __future__ import annotations

import pytest
import torch
from diffusers import EulerAncestralDiscreteScheduler

from studio.core.request import SCHEDULERS, GenerationRequest
from studio.engine._schedulers import (
    SchedulerCache,
    applied_guidance_rescale,
    build_scheduler,
    default_guidance_rescale,
)


@pytest.fixture(scope="module")
def model_config():
    # A typical SD 1.x scheduler config, with a prediction type that must survive the swap.
    return EulerAncestralDiscreteScheduler(
        beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", steps_offset=1,
        prediction_type="v_prediction",
    ).config


# The sampler names artists know from AUTOMATIC1111, and the diffusers class each one is (as
# diffusers' scheduler overview maps them): written out here, not read from the engine's table.
A1111_SAMPLERS = {
    "Euler": "EulerDiscreteScheduler",
    "Euler a": "EulerAncestralDiscreteScheduler",
    "DPM++ 2M": "DPMSolverMultistepScheduler",
    "DPM++ 2M Karras": "DPMSolverMultistepScheduler",
    "DDIM": "DDIMScheduler",
    "UniPC": "UniPCMultistepScheduler",
    "LCM": "LCMScheduler",
}


@pytest.mark.parametrize("name", sorted(A1111_SAMPLERS))
def test_each_artist_name_a_request_accepts_builds_that_sampler(name, model_config):
    GenerationRequest("x", scheduler=name).validate()
    assert type(build_scheduler(name, model_config)).__name__ == A1111_SAMPLERS[name]


def test_euler_a_adds_fresh_noise_each_step_and_euler_does_not(model_config):
    sample, eps = torch.randn(1, 4, 8, 8), torch.randn(1, 4, 8, 8)

    def first_step(name: str, noise_seed: int) -> torch.Tensor:
        scheduler = build_scheduler(name, model_config)
        scheduler.set_timesteps(4)
        t = scheduler.timesteps[0]
        scheduler.scale_model_input(sample, t)
        generator = torch.Generator().manual_seed(noise_seed)
        return scheduler.step(eps, t, sample, generator=generator).prev_sample

    assert torch.equal(first_step("Euler", 1), first_step("Euler", 2))
    assert not torch.allclose(first_step("Euler a", 1), first_step("Euler a", 2))


@pytest.mark.parametrize("name", SCHEDULERS)  # every name a request accepts, new ones included
def test_builds_from_model_config_and_sets_timesteps(name, model_config):
    scheduler = build_scheduler(name, model_config)
    assert type(scheduler).__name__ == A1111_SAMPLERS[name]
    assert scheduler.config.beta_schedule == "scaled_linear"
    assert scheduler.config.beta_end == pytest.approx(0.012)
    if name != "LCM":  # LCM distillation is epsilon-only in diffusers' configs, but keeps the field
        assert scheduler.config.prediction_type == "v_prediction"
    scheduler.set_timesteps(4)
    assert len(scheduler.timesteps) == 4


def test_variants_differ_only_where_named(model_config):
    plain = build_scheduler("DPM++ 2M", model_config)
    karras = build_scheduler("DPM++ 2M Karras", model_config)
    assert plain.config.algorithm_type == karras.config.algorithm_type == "dpmsolver++"
    assert plain.config.solver_order == karras.config.solver_order == 2
    assert not plain.config.use_karras_sigmas and karras.config.use_karras_sigmas
    plain.set_timesteps(5)
    karras.set_timesteps(5)
    assert plain.timesteps.tolist() != karras.timesteps.tolist()


def test_cache_keeps_one_per_name_and_leaves_the_base_config_alone(model_config):
    cache = SchedulerCache(model_config)
    assert cache.get("DDIM") is cache.get("DDIM")
    assert cache.get("DDIM") is not cache.get("UniPC")
    assert dict(cache.base_config) == dict(model_config)


def test_unknown_name_raises_key_error(model_config):
    with pytest.raises(KeyError):
        build_scheduler("Heun", model_config)


class _WithRescale:
    def __call__(self, prompt, guidance_scale=5.0, guidance_rescale=0.0):  # like SD / SDXL txt2img
        raise AssertionError("never called")


class _WithoutRescale:
    def __call__(self, prompt, guidance_scale=5.0):  # like SD 1/2 img2img and inpainting
        raise AssertionError("never called")


def test_guidance_rescale_is_the_models_own_unless_asked(model_config):
    zero_snr = {**model_config, "rescale_betas_zero_snr": True}
    assert default_guidance_rescale(model_config, 7.5) == 0.0
    # Zero SNR: none at weak guidance, rising to 0.7 at 5 and above.
    assert [default_guidance_rescale(zero_snr, g) for g in (1.5, 2, 3.5, 5, 9)] == [0.0, 0.0, 0.35, 0.7, 0.7]
    assert applied_guidance_rescale(_WithRescale(), None, 5.0, zero_snr) == 0.7
    assert applied_guidance_rescale(_WithRescale(), None, 2.0, zero_snr) == 0.0  # the bundled model's own
    assert applied_guidance_rescale(_WithRescale(), None, 5.0, model_config) == 0.0
    assert applied_guidance_rescale(_WithRescale(), 0.25, 5.0, model_config) == 0.25
    assert applied_guidance_rescale(_WithRescale(), 0.0, 5.0, zero_snr) == 0.0  # asked for none
    # Nothing to rescale without guidance, nor where the pipeline has no such option.
    assert applied_guidance_rescale(_WithRescale(), 0.5, 1.0, zero_snr) == 0.0
    assert applied_guidance_rescale(_WithoutRescale(), 0.5, 5.0, zero_snr) == 0.0


@pytest.mark.parametrize("family", ["sd1", "sd2", "sdxl"])
def test_ddim_from_the_shipped_single_file_configs_does_not_clip(family):
    """Real SD checkpoints ship clip_sample=false; the configs Studio gives single-file checkpoints
    must too, or DDIM clips its clean-picture estimate to [-1, 1] (diffusers' default)."""
    import json

    from diffusers import EulerDiscreteScheduler

    from studio.core.paths import repo_resources
    from studio.engine._schedulers import build_scheduler

    config = json.loads((repo_resources() / "configs" / family / "scheduler" / "scheduler_config.json").read_text())
    base = EulerDiscreteScheduler.from_config(config).config
    ddim = build_scheduler("DDIM", base)
    assert ddim.config.clip_sample is False and ddim.config.set_alpha_to_one is False
