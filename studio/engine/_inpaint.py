"""Variations (img2img), inpainting and outpainting jobs, run on the loaded model's own components.

The shared machinery of the img2img, inpaint and outpaint runners (studio/engine/modes). The pipeline class comes
from the model itself via `from_pipe` (shares every weight, no reload): an inpainting UNet
(9 input channels: latents + mask + masked-image latents) gets the inpaint pipeline's own
conditioning; an ordinary 4-channel UNet gets the same pipeline's latent masking (the unmasked
latents are reset to the noised source after each step).

Whatever the model does, the result is composited in pixel space with the feathered mask
(imageops.composite), so everything outside the feather band is the source byte for byte: the VAE
round trip cannot shift colours there. Decisions on odd input, all reported in one line:
  * strength 0 (or too low to make a single step) -> the source, unchanged, without running the model;
  * an empty mask -> UserError; a mask covering everything -> a warning and a whole-image variation;
  * a mask of another size -> scaled if it has the image's aspect ratio (warning), else UserError.
The picture keeps its source's size, and so does the request recorded with it (backend.sized_request);
a masked-only crop is sampled at about the model's native area, never at the request's size.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any

import numpy as np
import torch
from PIL import Image

from studio.core.events import Started
from studio.core.request import GenerationRequest, sized_request
from studio.engine import imageops
from studio.engine._loader import LoadedModel
from studio.engine._noise import initial_latents
from studio.engine._previews import PreviewMap
from studio.engine._sampler import ReporterFactory, decode_latents, guidance_rescale
from studio.engine.jobs import JobContext, UserError

Timings = dict[str, float]


@dataclass(frozen=True)
class Plan:
    """What to sample and how to put it back: all in pixels, decided before the model runs."""

    source: Image.Image  # the full source picture, RGB
    feathered: Image.Image | None  # composite mask at source size (None: whole image)
    box: imageops.Box  # the part of the source that is sampled
    model_image: Image.Image  # what the pipeline gets: the box, scaled/padded to its working size
    model_mask: Image.Image | None  # the pipeline's mask at the working size, latent-block aligned
    scaled: bool = False  # True: the box was resized to the working size; False: only edge-padded


def run(
    model: LoadedModel,
    request: GenerationRequest,
    job: JobContext,
    reporter_factory: ReporterFactory,
    encoder: Any,
) -> tuple[Image.Image, Timings]:
    """Run one img2img/inpaint job; returns (image at the source's size, timings)."""
    plan = make_plan(request, job, model.vae_scale_factor, model.native_size() ** 2)
    recorded = sized_request(request, plan.source.size)
    steps = effective_steps(request)
    if steps == 0:
        if request.strength > 0:
            job.warn(
                f"strength {request.strength:g} is too low for {request.steps} steps: nothing changes; "
                "raise the strength or the steps"
            )
        job.emit(Started(job.job_id, recorded, 0))
        return plan.source.copy(), {"sample": 0.0, "decode": 0.0}

    job.emit(Started(job.job_id, recorded, steps))
    start = time.perf_counter()
    latents = _sample(model, job, plan, steps, reporter_factory, encoder)
    sample_time = time.perf_counter() - start
    job.check_cancelled()  # interrupted: skip the decode

    start = time.perf_counter()
    generated = decode_latents(model.pipe, latents)
    image = put_back(plan, generated)
    return image, {"sample": sample_time, "decode": time.perf_counter() - start}


def effective_steps(request: GenerationRequest) -> int:
    """Denoising steps the pipelines actually run at this strength (as diffusers' get_timesteps)."""
    return min(int(request.steps * request.strength), request.steps)


# ---- planning (pixels only) --------------------------------------------------------------------
def make_plan(request: GenerationRequest, job: JobContext, multiple: int, area: int) -> Plan:
    """`multiple`: the latent block in px; `area`: about how many pixels a masked-only crop is
    sampled at (the model's native area)."""
    if not request.init_image:
        raise UserError("a variation or inpaint needs a source image")
    source = imageops.load_image(request.init_image)
    mask = None
    if request.mask_image:
        mask, note = imageops.load_mask(request.mask_image, source.size)
        if note:
            job.warn(note)
        kind = imageops.coverage(mask)
        if kind == "empty":
            raise UserError("the mask is empty: paint the area to regenerate")
        if kind == "full":
            job.warn(
                "the mask covers the whole image: regenerating all of it "
                f"(a variation at strength {request.strength:g})"
            )
            mask = None
    full_box = (0, 0, *source.size)
    if mask is None:
        return Plan(source, None, full_box, imageops.pad_to_multiple(source, multiple), None)

    feathered = imageops.feather_mask(mask, request.mask_feather)
    if request.masked_only:
        box = imageops.bounding_box(feathered, request.masked_padding) or full_box
        size = imageops.working_size((box[2] - box[0], box[3] - box[1]), area, multiple)
        model_image = source.crop(box).resize(size, Image.Resampling.LANCZOS)
        reach = feathered.crop(box).resize(size, Image.Resampling.BILINEAR)
    else:
        box = full_box
        model_image = imageops.pad_to_multiple(source, multiple)
        reach = imageops.pad_to_multiple(feathered, multiple)
    return Plan(source, feathered, box, model_image, block_cover(reach, multiple), request.masked_only)


def block_cover(mask: Image.Image, block: int) -> Image.Image:
    """White on every latent block that any part of the (feathered) mask touches.

    The pipelines shrink the mask to latent size by nearest sampling, which can miss thin strokes;
    covering whole blocks makes the model repaint everything the composite will show.
    """
    array = np.asarray(mask)
    h, w = array.shape
    blocks = array.reshape(h // block, block, w // block, block).max(axis=(1, 3)) > 0
    full = np.repeat(np.repeat(blocks, block, axis=0), block, axis=1)
    return Image.fromarray(np.where(full, 255, 0).astype(np.uint8), "L")


def put_back(plan: Plan, generated: Image.Image) -> Image.Image:
    """The generated picture back at the source's size, composited through the feathered mask."""
    if plan.feathered is None:
        return generated.crop((0, 0, *plan.source.size))  # drop the edge padding
    if not plan.scaled:
        generated = generated.crop(plan.box)  # drop the edge padding
    return imageops.paste_back(plan.source, generated, plan.box, plan.feathered)


# ---- sampling (torch) ----------------------------------------------------------------------------
def _pipeline(model: LoadedModel, masked: bool) -> Any:
    """The img2img or inpaint pipeline over the loaded model's components (no copy, no reload).

    A 9-channel UNet always gets the inpaint pipeline (a variation then uses an all-white mask).
    """
    from studio.engine._checkpoints import pipeline_for  # issue 7's one place for from_pipe

    return pipeline_for(model.pipe, "inpaint" if masked else "img2img")


@torch.no_grad()
def _sample(
    model: LoadedModel,
    job: JobContext,
    plan: Plan,
    steps: int,
    reporter_factory: ReporterFactory,
    encoder: Any,
) -> torch.Tensor:
    request = job.request
    masked = plan.model_mask is not None
    pipe = _pipeline(model, masked)
    pipe.scheduler = model.schedulers.get(request.scheduler)
    width, height = plan.model_image.size
    factor = model.vae_scale_factor
    shape = (1, model.latent_channels, height // factor, width // factor)

    reporter = reporter_factory(steps)
    reporter.preview_map = CompositePreview(model.preview_map, plan)
    reporter.watch(pipe.scheduler)
    kwargs: dict[str, Any] = dict(
        **encoder.encode(request),
        image=plan.model_image,
        strength=request.strength,
        num_inference_steps=request.steps,
        guidance_scale=request.guidance_scale,
        # The pipelines draw the VAE sample and the added noise from this CPU generator: same seed,
        # same picture on every device.
        generator=torch.Generator("cpu").manual_seed(request.seed),
        output_type="latent",
        callback_on_step_end=reporter,
        callback_on_step_end_tensor_inputs=["latents"],
    )
    rescale = guidance_rescale(model, job, pipe)  # SDXL's img2img/inpaint only: SD 1/2's have none
    if rescale:
        kwargs["guidance_rescale"] = rescale
    if masked or model.family.variant == "inpaint":  # its UNet needs a mask: all white
        mask = plan.model_mask if masked else Image.new("L", plan.model_image.size, 255)
        kwargs.update(mask_image=mask, height=height, width=width)
        if request.strength >= 1.0:
            # From pure noise the inpaint pipeline takes our starting latents (the seed's noise,
            # or issue 5's seed blend); below 1 it must mix the source in itself, from the generator.
            kwargs["latents"] = initial_latents(request, shape, model.dtype, model.device)
    return pipe(**kwargs).images


class CompositePreview:
    """Wraps a PreviewMap so each live preview shows the whole picture: the sampled part pasted
    into a small copy of the source through the mask, as the final composite will look."""

    def __init__(self, inner: PreviewMap, plan: Plan) -> None:
        self.inner = inner
        self.plan = plan
        self._scale: float | None = None
        self._background: Image.Image | None = None
        self._mask: Image.Image | None = None

    @property
    def channels(self) -> int:
        return self.inner.channels

    def to_image(self, latents: torch.Tensor) -> Image.Image:
        small = self.inner.to_image(latents)
        plan = self.plan
        if self._scale is None:
            self._scale = small.width / plan.model_image.width
            size = _scaled(plan.source.size, self._scale)
            self._background = plan.source.resize(size, Image.Resampling.BILINEAR)
            if plan.feathered is not None:
                self._mask = plan.feathered.resize(size, Image.Resampling.BILINEAR)
        background, scale = self._background, self._scale
        left, top, right, bottom = (int(round(v * scale)) for v in plan.box)
        if not plan.scaled:  # padded, not scaled: crop the padding away
            piece = small.crop((0, 0, right - left, bottom - top))
        else:
            piece = small.resize((max(1, right - left), max(1, bottom - top)), Image.Resampling.BILINEAR)
        full = background.copy()
        full.paste(piece, (left, top))
        if self._mask is None:
            return full
        return Image.composite(full, background, self._mask)


def _scaled(size: tuple[int, int], scale: float) -> tuple[int, int]:
    return max(1, int(round(size[0] * scale))), max(1, int(round(size[1] * scale)))
