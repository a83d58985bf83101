"""Text to image: the model samples from the seed's noise under the prompt's conditioning."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.core.settings import EngineSettings
from studio.engine.jobs import JobContext, UserError

if TYPE_CHECKING:
    from PIL import Image


def run(model: Any, job: JobContext, settings: EngineSettings) -> tuple[Image.Image, dict[str, float]]:
    from studio.engine import _sampler  # looked up at run time: torch loads on the inference thread

    refuse_inpainting_model(model)
    return _sampler.run_txt2img(model, job, settings)


def refuse_inpainting_model(model: Any) -> None:
    """An inpainting UNet (9 input channels) needs a source and a mask; without them it cannot run."""
    if model.family.variant == "inpaint":
        raise UserError(
            f"{model.name} is an inpainting model: give it a source image (and a mask), "
            "or choose a regular model for text-to-image"
        )
