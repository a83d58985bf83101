"""Inpainting: only the masked area is regenerated; outside the feathered mask the source stays
byte for byte (the shared machinery in _inpaint composites in pixel space)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.core.settings import EngineSettings
from studio.engine.jobs import JobContext, UserError

if TYPE_CHECKING:
    from PIL import Image


def run(model: Any, job: JobContext, settings: EngineSettings) -> tuple[Image.Image, dict[str, float]]:
    from studio.engine import _inpaint, _sampler  # the shared edit machinery (torch)

    if not job.request.mask_image:
        raise UserError(f"{job.request.mode} needs a mask (white = the area to paint)")
    reporters = _sampler.reporter_factory(model, job, settings)
    return _inpaint.run(model, job.request, job, reporters, model.encoder)
