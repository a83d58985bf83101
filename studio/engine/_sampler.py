"""One txt2img job through the pipeline's own __call__, with live progress, previews and cancel.

The pipeline runs with output_type="latent" and we decode exactly as it would afterwards, so a
cancelled job skips the VAE decode while a finished one matches a plain pipeline call bit for bit.
`StepReporter` works for any diffusers pipeline with callback_on_step_end (img2img and inpaint use
it through `reporter_factory`); their runners return (image, timings) like `run_txt2img`.
"""

from __future__ import annotations

import gc
import time
from collections.abc import Callable
from typing import Any

import torch
from PIL import Image

from studio.core.events import Preview, Progress, Started
from studio.core.settings import EngineSettings
from studio.engine._loader import LoadedModel
from studio.engine._noise import initial_latents, step_noise_seed
from studio.engine._previews import DenoisedTap, PreviewMap
from studio.engine._schedulers import applied_guidance_rescale
from studio.engine.jobs import JobContext


class StepReporter:
    """A callback_on_step_end: Progress every step, a Preview every `preview_every`, and cancel.

    Previews show the sampler's clean-latent estimate once `watch(scheduler)` has tapped it (the
    noisy latent otherwise). On cancel it sets the pipeline's interrupt flag, which makes the
    remaining steps no-ops.
    """

    def __init__(self, job: JobContext, preview_map: PreviewMap, total: int, preview_every: int = 1) -> None:
        self.job = job
        self.preview_map = preview_map
        self.total = total
        self.preview_every = max(1, preview_every)
        self.start = time.perf_counter()
        self.steps_done = 0
        self.previews = 0
        self.tap: DenoisedTap | None = None

    def watch(self, scheduler: Any) -> None:
        """Preview `scheduler`'s estimate of the clean latent; call before the pipeline runs."""
        self.tap = DenoisedTap.on(scheduler)

    def __call__(self, pipe: Any, step_index: int, timestep: Any, tensors: dict[str, Any]) -> dict[str, Any]:
        job = self.job
        if job.cancelled:
            pipe._interrupt = True
            return {}
        # img2img runs fewer steps than requested; the pipeline knows how many.
        total = int(getattr(pipe, "_num_timesteps", 0) or self.total)
        step = step_index + 1
        self.steps_done = step
        elapsed = time.perf_counter() - self.start
        eta = elapsed / step * max(0, total - step)
        job.emit(Progress(job.job_id, step, total, elapsed, eta))
        denoised = self.tap.take() if self.tap is not None else None
        if step % self.preview_every == 0 or step == total:
            image = self.preview_map.to_image(denoised if denoised is not None else tensors["latents"])
            job.last_preview = image
            self.previews += 1
            job.emit(Preview(job.job_id, step, image))
        if job.cancelled:  # cancelled while we were reporting: stop before the next step
            pipe._interrupt = True
        return {}


ReporterFactory = Callable[[int], StepReporter]


def reporter_factory(model: LoadedModel, job: JobContext, settings: EngineSettings) -> ReporterFactory:
    """A function total_steps -> StepReporter bound to this job and model."""

    def make(total: int) -> StepReporter:
        return StepReporter(job, model.preview_map, total, settings.preview_every)

    return make


def ancestral_generator(seed: int, noise_shape: tuple[int, ...]) -> torch.Generator:
    """The CPU generator a plain `pipe(generator=manual_seed(seed))` call holds after drawing its
    starting noise: ancestral/SDE schedulers draw their per-step noise from it, so we advance it
    the same way to keep parity with plain diffusers."""
    generator = torch.Generator("cpu").manual_seed(seed)
    torch.randn(noise_shape, generator=generator, dtype=torch.float32)
    return generator


@torch.no_grad()
def decode_latents(pipe: Any, latents: torch.Tensor) -> Image.Image:
    """The pipeline's own decode + postprocess for SD and SDXL, without safety checker or watermark."""
    vae = pipe.vae
    upcast = vae.dtype == torch.float16 and getattr(vae.config, "force_upcast", False)
    if upcast:  # SDXL's VAE overflows in fp16
        vae.to(torch.float32)
        latents = latents.to(torch.float32)
    try:
        mean = getattr(vae.config, "latents_mean", None)
        std = getattr(vae.config, "latents_std", None)
        if mean is not None and std is not None:
            channels = latents.shape[1]
            mean_t = torch.tensor(mean).view(1, channels, 1, 1).to(latents.device, latents.dtype)
            std_t = torch.tensor(std).view(1, channels, 1, 1).to(latents.device, latents.dtype)
            latents = latents * std_t / vae.config.scaling_factor + mean_t
        else:
            latents = latents / vae.config.scaling_factor
        image = vae.decode(latents.to(vae.dtype), return_dict=False)[0]
    finally:
        if upcast:
            vae.to(torch.float16)
    return pipe.image_processor.postprocess(image, output_type="pil", do_denormalize=[True])[0]


def run_txt2img(model: LoadedModel, job: JobContext, settings: EngineSettings) -> tuple[Image.Image, dict[str, float]]:
    """Sample one image; returns it with timings (sample, decode). Raises JobCancelled on cancel."""
    request = job.request
    pipe = model.pipe
    pipe.scheduler = model.schedulers.get(request.scheduler)
    factor = model.vae_scale_factor
    shape = (1, model.latent_channels, request.height // factor, request.width // factor)

    job.emit(Started(job.job_id, request, request.steps))
    start = time.perf_counter()
    conditioning = model.encoder.encode(request)
    latents = initial_latents(request, shape, model.dtype, model.device)
    reporter = StepReporter(job, model.preview_map, request.steps, settings.preview_every)
    reporter.watch(pipe.scheduler)
    rescale = guidance_rescale(model, job, pipe)
    result = pipe(
        **conditioning,
        height=request.height,
        width=request.width,
        num_inference_steps=request.steps,
        guidance_scale=request.guidance_scale,
        **({"guidance_rescale": rescale} if rescale else {}),
        latents=latents,
        generator=ancestral_generator(step_noise_seed(request), shape),
        output_type="latent",
        callback_on_step_end=reporter,
        callback_on_step_end_tensor_inputs=["latents"],
    )
    sample_time = time.perf_counter() - start
    job.check_cancelled()  # interrupted: skip the decode

    start = time.perf_counter()
    image = decode_latents(pipe, result.images)
    return image, {"sample": sample_time, "decode": time.perf_counter() - start}


def guidance_rescale(model: LoadedModel, job: JobContext, pipe: Any) -> float:
    """The guidance rescale `pipe` applies to this job (the request's, else the model's own),
    noted in job.applied for the Finished event."""
    request = job.request
    value = applied_guidance_rescale(pipe, request.guidance_rescale, request.guidance_scale,
                                     model.schedulers.base_config)
    job.applied["guidance_rescale"] = value
    return value


def is_out_of_memory(exc: BaseException) -> bool:
    oom_type = getattr(torch, "OutOfMemoryError", None) or getattr(torch.cuda, "OutOfMemoryError", None)
    if oom_type is not None and isinstance(exc, oom_type):
        return True
    if isinstance(exc, MemoryError):  # Python's own, e.g. numpy on the CPU
        return True
    text = str(exc).lower()
    # torch's CPU allocator: "DefaultCPUAllocator: can't allocate memory: you tried to allocate …"
    return isinstance(exc, RuntimeError) and ("out of memory" in text or "can't allocate memory" in text)


def free_memory() -> None:
    gc.collect()
    if torch.cuda.is_available():
        torch.cuda.empty_cache()
