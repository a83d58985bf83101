"""Deterministic DDIM inversion of a picture under its own description, and sampling back from it.

One DDIM step from timestep t to the next one p is linear in the latent z and the model's output
o (epsilon or v): z_p = A z + B o(z). Inversion solves that for z given z_p, one step at a time
from the clean latent to the starting noise:

* "ddim": the classic approximation, o evaluated at z_p instead of the unknown z (one pass a step);
* "fixed-point": z <- (z_p - B o(z)) / A iterated a few times (exact inversion when it converges);
* "negative-prompt": inverted without guidance, and sampled with the source description as the
  negative prompt, so at amount 0 guidance cancels out (Miyake et al. 2023);
* "exact-negative": "negative-prompt" inverted with the fixed-point iteration;
* "exact": "fixed-point", plus the residual it leaves stored as "direct" does;
* "direct": "ddim", plus the per-step residual z_p - (A z + B o(z)) stored and added back while
  sampling, so amount 0 gives the inverted latents back exactly (Ju et al. 2023, "direct inversion").

The output o is the guided one (the same guidance and rescale sampling uses), so the sampler that
walks back is the one that was inverted. `invert` results are kept per worker process in a small
LRU keyed by everything that changes them, so moving the amount slider costs one sampling pass.
"""

from __future__ import annotations

import hashlib
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import torch
from diffusers import DDIMScheduler
from PIL import Image

from studio.core.events import Started
from studio.core.request import sized_request
from studio.core.settings import EngineSettings
from studio.engine import imageops
from studio.engine._embeddings import _pad_same
from studio.engine._loader import LoadedModel
from studio.engine._sampler import StepReporter, decode_latents
from studio.engine._schedulers import default_guidance_rescale
from studio.engine.jobs import JobContext, UserError

METHODS: tuple[str, ...] = ("direct", "exact", "fixed-point", "exact-negative", "negative-prompt", "ddim")
_ITERATED = ("fixed-point", "exact-negative", "exact")
_CORRECTED = ("direct", "exact")  # residuals stored and added back while sampling
_UNGUIDED = ("negative-prompt", "exact-negative")  # inverted without guidance, sampled against the source
DEFAULT_METHOD = "direct"
FIXED_POINT_ITERATIONS = 4
CACHE_SIZE = 4  # inversions kept per worker (a few latents each: small)

StepCallback = Callable[[int, torch.Tensor], None]  # (latent, after each model pass) for progress/cancel


@dataclass(frozen=True)
class Inversion:
    noise: torch.Tensor  # the sampler's starting latent
    corrections: tuple[torch.Tensor | None, ...]  # per sampling step, added after it ("direct")
    method: str
    seconds: float  # what the inversion cost


@dataclass(frozen=True)
class Conditioning:
    source: torch.Tensor  # hidden states of the source description
    target: torch.Tensor
    negative: torch.Tensor
    guidance: float
    rescale: float


_cache: OrderedDict[tuple, Inversion] = OrderedDict()


def image_key(image: Image.Image) -> str:
    """Content hash of a picture's pixels (not its file: the same picture saved twice is one key)."""
    digest = hashlib.sha256(f"{image.mode}{image.size}".encode())
    digest.update(image.tobytes())
    return digest.hexdigest()


def cached(key: tuple) -> Inversion | None:
    item = _cache.get(key)
    if item is not None:
        _cache.move_to_end(key)
    return item


def remember(key: tuple, inversion: Inversion) -> None:
    _cache[key] = inversion
    _cache.move_to_end(key)
    while len(_cache) > CACHE_SIZE:
        _cache.popitem(last=False)


def clear_cache() -> None:
    _cache.clear()


# ---- the schedule ------------------------------------------------------------------------------
class Schedule:
    """DDIM timesteps for the model's own training schedule, with each step's (A, B) coefficients."""

    def __init__(self, scheduler_config: object, steps: int) -> None:
        ddim = DDIMScheduler.from_config(scheduler_config)
        ddim.set_timesteps(steps)
        self.timesteps = [int(t) for t in ddim.timesteps]  # noisiest first
        self.prediction = ddim.config.prediction_type
        if self.prediction not in ("epsilon", "v_prediction"):
            raise ValueError(f"text diffs need an epsilon or v-prediction model (this one predicts {self.prediction})")
        alphas = ddim.alphas_cumprod.double()
        final = float(ddim.final_alpha_cumprod)
        self.alpha = [float(alphas[t]) for t in self.timesteps]
        self.alpha_next = [float(alphas[t]) for t in self.timesteps[1:]] + [final]

    def coefficients(self, index: int) -> tuple[float, float]:
        """(A, B) of the step from timesteps[index] to the next: z_next = A z + B output."""
        a_t, a_p = self.alpha[index], self.alpha_next[index]
        c_t, s_t = a_t**0.5, (1 - a_t) ** 0.5
        c_p, s_p = a_p**0.5, (1 - a_p) ** 0.5
        if self.prediction == "v_prediction":  # x0 = c_t z - s_t v, eps = c_t v + s_t z
            return c_p * c_t + s_p * s_t, s_p * c_t - c_p * s_t
        return c_p / c_t, s_p - c_p * s_t / c_t  # epsilon: x0 = (z - s_t eps) / c_t


# ---- the model ---------------------------------------------------------------------------------
def guided(unet: torch.nn.Module, z: torch.Tensor, t: int, cond: torch.Tensor, negative: torch.Tensor | None,
           guidance: float, rescale: float) -> torch.Tensor:
    """The UNet's classifier-free-guided output, with guidance rescale as diffusers applies it."""
    if negative is None or guidance == 1.0:
        return unet(z, t, encoder_hidden_states=cond).sample
    both = unet(torch.cat([z, z]), t, encoder_hidden_states=torch.cat([negative, cond])).sample
    out_neg, out_cond = both.chunk(2)
    out = out_neg + guidance * (out_cond - out_neg)
    if rescale > 0:  # Lin et al. 2023: pull the guided output's spread back to the conditional one's
        dims = list(range(1, out.ndim))
        ratio = out_cond.std(dim=dims, keepdim=True) / out.std(dim=dims, keepdim=True)
        out = rescale * (out * ratio) + (1 - rescale) * out
    return out


@torch.no_grad()
def encode_image(pipe: object, image: Image.Image) -> torch.Tensor:
    """The VAE's mean latent of `image` (its size a multiple of the latent block), scaled."""
    vae = pipe.vae  # type: ignore[attr-defined]
    pixels = np.asarray(image.convert("RGB"), dtype=np.float32) / 127.5 - 1.0
    tensor = torch.from_numpy(pixels).permute(2, 0, 1)[None].to(vae.device, vae.dtype)
    return vae.encode(tensor).latent_dist.mean * vae.config.scaling_factor


@torch.no_grad()
def invert(unet: torch.nn.Module, schedule: Schedule, latent: torch.Tensor, cond: Conditioning, method: str,
           on_step: StepCallback | None = None) -> Inversion:
    """The starting latent that samples back to `latent` under the source description."""
    if method not in METHODS:
        raise ValueError(f"unknown inversion method {method!r}; choose one of {', '.join(METHODS)}")
    start = time.perf_counter()
    guidance = 1.0 if method in _UNGUIDED else cond.guidance
    iterations = FIXED_POINT_ITERATIONS if method in _ITERATED else 0
    count = len(schedule.timesteps)
    z = latent.float()
    latents = [z]  # z after each inversion step, cleanest first
    passes = 0

    def output(x: torch.Tensor, t: int) -> torch.Tensor:
        nonlocal passes
        result = guided(unet, x.to(latent.dtype), t, cond.source, cond.negative, guidance, cond.rescale).float()
        passes += 1
        if on_step is not None:
            on_step(passes, x)
        return result

    for index in reversed(range(count)):
        a, b = schedule.coefficients(index)
        t = schedule.timesteps[index]
        target = z
        z_t = (target - b * output(target, t)) / a  # o evaluated at the cleaner latent
        for _ in range(iterations):
            z_t = (target - b * output(z_t, t)) / a
        z = z_t
        latents.append(z)
    corrections: list[torch.Tensor | None] = [None] * count
    if method in _CORRECTED:
        for index in range(count):  # sampling order: latents[-1] is the noise
            a, b = schedule.coefficients(index)
            z_t, z_p = latents[count - index], latents[count - index - 1]
            corrections[index] = z_p - (a * z_t + b * output(z_t, schedule.timesteps[index]))
    return Inversion(z.to(latent.dtype), tuple(corrections), method, time.perf_counter() - start)


def passes_for(method: str, steps: int) -> int:
    """How many guided model passes `invert` makes (for progress)."""
    per_step = 1 + (FIXED_POINT_ITERATIONS if method in _ITERATED else 0)
    return steps * per_step + (steps if method in _CORRECTED else 0)


@torch.no_grad()
def sample(unet: torch.nn.Module, schedule: Schedule, inversion: Inversion, cond: Conditioning, amount: float,
           on_step: StepCallback | None = None) -> torch.Tensor:
    """Walk back from the inverted noise while the conditioning sits `amount` of the way from the
    source to the target description (lerp, so amounts past 1 extrapolate the difference)."""
    text = cond.source + amount * (cond.target - cond.source) if amount else cond.source
    negative = cond.source if inversion.method in _UNGUIDED else cond.negative
    z = inversion.noise.float()
    dtype = inversion.noise.dtype
    for index, t in enumerate(schedule.timesteps):
        a, b = schedule.coefficients(index)
        out = guided(unet, z.to(dtype), t, text, negative, cond.guidance, cond.rescale).float()
        z = a * z + b * out
        correction = inversion.corrections[index]
        if correction is not None:
            z = z + correction
        if on_step is not None:
            on_step(index + 1, z)
    return z.to(dtype)


# ---- one job -----------------------------------------------------------------------------------
class _Progress:
    """Stands in for the pipeline StepReporter expects: it reads the total and sets _interrupt."""

    def __init__(self, total: int) -> None:
        self._num_timesteps = total
        self._interrupt = False


def run_job(model: LoadedModel, job: JobContext, settings: EngineSettings,
            method: str = DEFAULT_METHOD) -> tuple[Image.Image, dict[str, float]]:
    """One textdiff job: invert the source (or take its cached inversion), sample at the amount."""
    request = job.request
    if model.arch == "sdxl" or model.family.variant == "inpaint":
        raise UserError(f"text diffs need an SD 1.x or 2.x model; {model.name} is not one (choose another model)")
    if not request.init_image:
        raise UserError("textdiff needs a source image to edit")
    source = imageops.load_image(request.init_image)
    block = model.vae_scale_factor
    size = (max(block, source.width // block * block), max(block, source.height // block * block))
    working = source if size == source.size else source.resize(size, Image.Resampling.LANCZOS)
    pipe, unet = model.pipe, model.pipe.unet

    guidance = float(request.guidance_scale)
    rescale = 0.0
    if guidance > 1.0:
        rescale = (float(request.guidance_rescale) if request.guidance_rescale is not None
                   else default_guidance_rescale(model.schedulers.base_config, guidance))
    job.applied["guidance_rescale"] = rescale
    texts = [request.source_prompt, request.target_prompt, request.negative_prompt]
    encoded = [model.encoder.encode_text(text, request.loras) for text in texts]
    encoded = _pad_same(encoded, lambda: model.encoder.encode_text("", request.loras))
    cond = Conditioning(*(e.hidden for e in encoded), guidance=guidance, rescale=rescale)
    try:
        schedule = Schedule(model.schedulers.base_config, request.steps)
    except ValueError as exc:
        raise UserError(str(exc)) from None

    key = (image_key(working), request.source_prompt, request.negative_prompt, model.content_hash,
           request.steps, guidance, rescale, method, tuple(request.loras), str(model.device), str(model.dtype))
    inversion = cached(key)
    total = request.steps + (0 if inversion is not None else passes_for(method, request.steps))
    job.emit(Started(job.job_id, sized_request(request, source.size), total))
    reporter = StepReporter(job, model.preview_map, total, settings.preview_every)
    progress = _Progress(total)
    done = 0

    def step(_: int, latent: torch.Tensor) -> None:
        nonlocal done
        reporter(progress, done, None, {"latents": latent})
        done += 1
        job.check_cancelled()

    timings: dict[str, float] = {"invert": 0.0}
    if inversion is None:
        latent = encode_image(pipe, working).to(model.dtype)
        inversion = invert(unet, schedule, latent, cond, method, step)
        remember(key, inversion)
        timings["invert"] = inversion.seconds
    start = time.perf_counter()
    latents = sample(unet, schedule, inversion, cond, float(request.edit_amount), step)
    timings["sample"] = time.perf_counter() - start
    start = time.perf_counter()
    image = decode_latents(pipe, latents)
    timings["decode"] = time.perf_counter() - start
    if image.size != source.size:
        image = image.resize(source.size, Image.Resampling.LANCZOS)
    return image, timings
