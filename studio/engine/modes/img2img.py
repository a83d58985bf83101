"""Variation (img2img): the source picture, noised to the request's strength, denoised again."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.core.settings import EngineSettings
from studio.engine.jobs import JobContext

if TYPE_CHECKING:
    from PIL import Image


def run(model: Any, job: JobContext, settings: EngineSettings) -> tuple[Image.Image, dict[str, float]]:
    from studio.engine import _inpaint, _sampler  # the shared edit machinery (torch)

    reporters = _sampler.reporter_factory(model, job, settings)
    return _inpaint.run(model, job.request, job, reporters, model.encoder)
