"""Blend: text to image with mixed prompt conditioning and/or noise mixed from two seeds (the
prompt encoder and the initial-noise code read the request's blend fields)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.core.settings import EngineSettings
from studio.engine.jobs import JobContext
from studio.engine.modes import txt2img

if TYPE_CHECKING:
    from PIL import Image


def run(model: Any, job: JobContext, settings: EngineSettings) -> tuple[Image.Image, dict[str, float]]:
    return txt2img.run(model, job, settings)
