"""One runner per request mode, chosen by `request.mode` (no branching on field values).

Every runner has the same signature, `run(model, job, settings) -> (image, timings)`: `model` is
the loaded model (_loader.LoadedModel), `job` the JobContext, `settings` the EngineSettings. The
runner modules are torch-free at import; each imports its sampling code when it runs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from studio.core.settings import EngineSettings
from studio.engine.jobs import JobContext, UserError
from studio.engine.modes import blend, img2img, inpaint, outpaint, textdiff, txt2img

if TYPE_CHECKING:
    from PIL import Image

Timings = dict[str, float]
Runner = Callable[[Any, JobContext, EngineSettings], "tuple[Image.Image, Timings]"]

RUNNERS: dict[str, Runner] = {
    "txt2img": txt2img.run,
    "img2img": img2img.run,
    "inpaint": inpaint.run,
    "outpaint": outpaint.run,
    "blend": blend.run,
    "textdiff": textdiff.run,
}


def runner_for(mode: str) -> Runner:
    """The runner for `mode`; UserError (one line) for a mode this engine does not run."""
    try:
        return RUNNERS[mode]
    except KeyError:
        raise UserError(f"{mode or 'this'} mode is not supported by this engine") from None
