"""Artist-facing sampler names -> diffusers schedulers, built from the model's own scheduler config.

Building from the model's config keeps its training schedule (betas, prediction type, offsets);
the overrides only pick the solver variant the name stands for.
"""

from __future__ import annotations

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
