"""Artist-facing sampler names -> diffusers schedulers, built from the model's own scheduler config.

Building from the model's config keeps its training schedule (betas, prediction type, offsets);
the overrides only pick the solver variant the name stands for.
"""

from __future__ import annotations

import inspect
from typing import Any

from diffusers import (
    DDIMScheduler,
    DPMSolverMultistepScheduler,
    EulerAncestralDiscreteScheduler,
    EulerDiscreteScheduler,
    LCMScheduler,
    UniPCMultistepScheduler,
)

from studio.core.request import SCHEDULERS

# name -> (class, config overrides)
SCHEDULER_TABLE: dict[str, tuple[type, dict[str, Any]]] = {
    "Euler": (EulerDiscreteScheduler, {}),
    "Euler a": (EulerAncestralDiscreteScheduler, {}),
    "DPM++ 2M": (
        DPMSolverMultistepScheduler,
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": False},
    ),
    "DPM++ 2M Karras": (
        DPMSolverMultistepScheduler,
        {"algorithm_type": "dpmsolver++", "solver_order": 2, "use_karras_sigmas": True},
    ),
    "DDIM": (DDIMScheduler, {}),
    "UniPC": (UniPCMultistepScheduler, {}),
    "LCM": (LCMScheduler, {}),
}
assert tuple(SCHEDULER_TABLE) == SCHEDULERS, "every request scheduler name needs a table entry"


def build_scheduler(name: str, base_config: Any) -> Any:
    """A fresh scheduler for `name`; KeyError for a name not in SCHEDULERS (requests validate it)."""
    cls, overrides = SCHEDULER_TABLE[name]
    return cls.from_config(base_config, **overrides)


class SchedulerCache:
    """One scheduler per name for one loaded model (the pipeline re-sets timesteps every call)."""

    def __init__(self, base_config: Any) -> None:
        self.base_config = base_config  # the model's own scheduler config, never mutated
        self._built: dict[str, Any] = {}

    def get(self, name: str) -> Any:
        if name not in self._built:
            self._built[name] = build_scheduler(name, self.base_config)
        return self._built[name]


# Lin et al. 2023 (zero terminal SNR) pair such schedules with rescale phi = 0.7 at strong guidance.
# On the previous bundled weights (trained that way) it took guidance 5 from 85 to 92% colour, but at
# their guidance 2 it bled a large red circle into a blue background (purple in 14 of 16 seeds, against 4
# without): there is no over-exposure to undo at weak guidance. So the model's own rescale rises
# from none at guidance 2 to phi at guidance 5 and above (studio/shapes/README.md).
ZERO_SNR_GUIDANCE_RESCALE = 0.7
RESCALE_FROM, RESCALE_FULL_AT = 2.0, 5.0


def default_guidance_rescale(base_config: Any, guidance_scale: float) -> float:
    """The model's own guidance rescale: for a zero-terminal-SNR schedule 0 up to guidance 2,
    rising linearly to 0.7 at guidance 5 and above; none for other schedules."""
    if not base_config.get("rescale_betas_zero_snr", False):
        return 0.0
    ramp = (guidance_scale - RESCALE_FROM) / (RESCALE_FULL_AT - RESCALE_FROM)
    return round(ZERO_SNR_GUIDANCE_RESCALE * min(1.0, max(0.0, ramp)), 3)


def applied_guidance_rescale(pipe: Any, requested: float | None, guidance_scale: float, base_config: Any) -> float:
    """What `pipe` will apply: the request's value, else the model's own; 0 without guidance or
    where the pipeline has no such option (SD 1/2 img2img and inpainting)."""
    if guidance_scale <= 1.0 or "guidance_rescale" not in inspect.signature(pipe.__call__).parameters:
        return 0.0
    return float(requested) if requested is not None else default_guidance_rescale(base_config, guidance_scale)
