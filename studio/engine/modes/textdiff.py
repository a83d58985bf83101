"""Text diff: the source picture inverted to its starting noise under its own description, then
sampled again while the conditioning moves from that description towards a new one
(request.source_prompt -> request.target_prompt by request.edit_amount). The inversion is cached
in the process, so a new amount costs one sampling pass (studio/engine/_inversion.py)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from studio.core.request import GenerationRequest
from studio.core.settings import EngineSettings
from studio.engine.jobs import JobContext

if TYPE_CHECKING:
    from PIL import Image


def run(model: Any, job: JobContext, settings: EngineSettings) -> tuple[Image.Image, dict[str, float]]:
    from studio.engine import _inversion  # torch loads on the inference thread

    return _inversion.run_job(model, job, settings)


def edit_request(base: GenerationRequest, source: str, target: str, amount: float) -> GenerationRequest:
    """`base` (its picture in init_image) as a textdiff job, validated (RequestError, one line).
    The prompt is the target description: what the result shows, as the gallery and exports say."""
    return base.replace(
        mode="textdiff", prompt=target, source_prompt=source, target_prompt=target, edit_amount=float(amount),
        mask_image=None, blend_prompts=(), blend_weights=(), seed_b=None, seed_mix=0.0,
    ).validate()


def strip_amounts(amount: float, frames: int) -> list[float]:
    """Evenly spaced amounts from exactly 0 to exactly `amount` (a strip of the edit)."""
    from studio.engine.strip import strip_positions  # its frame-count rule and message

    return [amount * t for t in strip_positions(frames)]
