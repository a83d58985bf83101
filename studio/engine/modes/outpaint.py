"""Outpainting: the source is the extended picture and the mask its new area (the window builds
both with imageops.outpaint_canvas), so it runs as an inpaint of that area."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.core.settings import EngineSettings
from studio.engine.jobs import JobContext
from studio.engine.modes import inpaint

if TYPE_CHECKING:
    from PIL import Image


def run(model: Any, job: JobContext, settings: EngineSettings) -> tuple[Image.Image, dict[str, float]]:
    return inpaint.run(model, job, settings)
