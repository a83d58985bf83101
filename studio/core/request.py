"""The generation request: the frozen, JSON-serialisable record that is the only thing a job reads.

Everything that changes the pixels lives here, so a request plus the model gives back the image.
Images that feed a request (init image, mask) are referenced by file path: the UI writes them to
STUDIO_HOME/inputs first, named by content hash, so requests stay small and replayable.
"""

from __future__ import annotations

import dataclasses
import json
import random
from dataclasses import dataclass, field
from typing import Any

from studio.core.paths import bundled_model_present

SCHEDULERS: tuple[str, ...] = (
    "Euler",
    "Euler a",
    "DPM++ 2M",
    "DPM++ 2M Karras",
    "DDIM",
    "UniPC",
    "LCM",
)
BLEND_MODES: tuple[str, ...] = ("slerp", "lerp")
MAX_SEED = 2**32 - 1
MIN_SIZE, MAX_SIZE = 64, 4096
MAX_STEPS = 150
MAX_GUIDANCE = 50.0


class RequestError(ValueError):
    """A request the engine cannot run; the message is one line an artist can act on."""


def random_seed() -> int:
    return random.randint(0, MAX_SEED)


DEFAULT_GUIDANCE = 5.0
# The bundled model follows prompts best at guidance 4 with the rescale applied there (held-out
# colour / shape / position 98.5 / 88 / 99.5%, against 98 / 82 / 98.5% at guidance 2:
# studio/shapes/README.md); the app and the CLI use it for that model.
BUNDLED_GUIDANCE = 4.0


def default_guidance(model: str) -> float:
    """Guidance for `model` ("" = the default model) when the artist has not said."""
    return BUNDLED_GUIDANCE if not model and bundled_model_present() else DEFAULT_GUIDANCE


@dataclass(frozen=True)
class GenerationRequest:
    prompt: str
    negative_prompt: str = ""
    seed: int = 0
    steps: int = 20
    guidance_scale: float = DEFAULT_GUIDANCE
    # Guidance rescale (Lin et al. 2023, their phi): pulls the guided prediction's spread back towards
    # the prompt's own, against the washed-out or burnt colours strong guidance gives models trained
    # with a zero-terminal-SNR schedule. None = the model's own (engine._schedulers.default_guidance_rescale).
    guidance_rescale: float | None = None
    width: int = 512
    height: int = 512
    scheduler: str = "Euler a"
    # A local diffusers folder or .safetensors file; "" means the bundled default model.
    model: str = ""

    # Variations and inpainting: a source image (PNG path), an optional mask (white = repaint).
    init_image: str | None = None
    strength: float = 0.75
    mask_image: str | None = None
    mask_feather: int = 8
    masked_only: bool = False
    masked_padding: int = 32

    # Embedding interpolation: `prompt` is prompt A; each blend prompt gets its weight (0..1) and
    # prompt A keeps what is left (1 - sum), or nothing when the weights sum past 1.
    blend_prompts: tuple[str, ...] = ()
    blend_weights: tuple[float, ...] = ()
    blend_mode: str = "slerp"
    # Noise interpolation between the noise of `seed` and of `seed_b`.
    seed_b: int | None = None
    seed_mix: float = 0.0

    # LoRA adapters: (path, weight) pairs.
    loras: tuple[tuple[str, float], ...] = field(default_factory=tuple)

    # ---- derived -------------------------------------------------------------------------
    @property
    def mode(self) -> str:
        """txt2img, img2img, inpaint or blend: what the gallery files it under."""
        if self.mask_image:
            return "inpaint"
        if self.init_image:
            return "img2img"
        if self.blend_prompts or (self.seed_b is not None and self.seed_mix > 0):
            return "blend"
        return "txt2img"

    def prompt_weights(self) -> list[tuple[str, float]]:
        """All prompts with weights that sum to 1 (prompt A first)."""
        extra = [max(0.0, float(w)) for w in self.blend_weights]
        total = sum(extra)
        if total > 1.0:
            weights = [0.0] + [w / total for w in extra]
        else:
            weights = [1.0 - total] + extra
        return list(zip((self.prompt, *self.blend_prompts), weights, strict=True))

    # ---- validation ----------------------------------------------------------------------
    def validate(self) -> GenerationRequest:
        """Raise RequestError with a one-line message if the request cannot run; else return self."""
        for name in ("width", "height"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool):
                raise RequestError(f"{name} must be a whole number of pixels, got {value!r}")
            if self.init_image:  # an edit states its picture's size, the source's (any size)
                if not 1 <= value <= MAX_SIZE:
                    raise RequestError(f"{name} must be between 1 and {MAX_SIZE} px (got {value})")
                continue
            if value % 8:
                raise RequestError(f"{name} must be a multiple of 8 (got {value}; try {value // 8 * 8 or 8})")
            if not MIN_SIZE <= value <= MAX_SIZE:
                raise RequestError(f"{name} must be between {MIN_SIZE} and {MAX_SIZE} px (got {value})")
        if not isinstance(self.steps, int) or not 1 <= self.steps <= MAX_STEPS:
            raise RequestError(f"steps must be between 1 and {MAX_STEPS} (got {self.steps})")
        if not 0.0 <= float(self.guidance_scale) <= MAX_GUIDANCE:
            raise RequestError(f"guidance must be between 0 and {MAX_GUIDANCE:g} (got {self.guidance_scale})")
        rescale = self.guidance_rescale
        if rescale is not None and (isinstance(rescale, bool) or not isinstance(rescale, int | float)
                                    or not 0.0 <= rescale <= 1.0):
            raise RequestError(f"guidance rescale must be between 0 and 1 (got {rescale!r})")
        if not isinstance(self.seed, int) or not 0 <= self.seed <= MAX_SEED:
            raise RequestError(f"seed must be between 0 and {MAX_SEED} (got {self.seed})")
        if self.seed_b is not None and not 0 <= self.seed_b <= MAX_SEED:
            raise RequestError(f"seed B must be between 0 and {MAX_SEED} (got {self.seed_b})")
        if self.scheduler not in SCHEDULERS:
            raise RequestError(
                f"unknown scheduler {self.scheduler!r}; choose one of: {', '.join(SCHEDULERS)}"
            )
        if not 0.0 <= self.strength <= 1.0:
            raise RequestError(f"strength must be between 0 and 1 (got {self.strength})")
        if self.mask_image and not self.init_image:
            raise RequestError("a mask needs a source image to paint into (--init-image)")
        if self.mask_feather < 0 or self.masked_padding < 0:
            raise RequestError("mask feather and padding cannot be negative")
        if len(self.blend_prompts) != len(self.blend_weights):
            raise RequestError("each blend prompt needs exactly one weight")
        if any(not 0.0 <= w <= 1.0 for w in self.blend_weights):
            raise RequestError("blend weights must be between 0 and 1")
        if self.blend_mode not in BLEND_MODES:
            raise RequestError(f"blend mode must be one of {', '.join(BLEND_MODES)} (got {self.blend_mode!r})")
        if not 0.0 <= self.seed_mix <= 1.0:
            raise RequestError(f"seed mix must be between 0 and 1 (got {self.seed_mix})")
        return self

    # ---- serialisation -------------------------------------------------------------------
    def replace(self, **changes: Any) -> GenerationRequest:
        return dataclasses.replace(self, **changes)

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["blend_prompts"] = list(self.blend_prompts)
        data["blend_weights"] = list(self.blend_weights)
        data["loras"] = [list(pair) for pair in self.loras]
        return data

    def to_json(self) -> str:
        return json.dumps(self.to_dict(), sort_keys=True, ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> GenerationRequest:
        """Build from a dict, ignoring unknown keys (newer files) and keeping defaults for missing ones."""
        known = {f.name for f in dataclasses.fields(cls)}
        kwargs = {k: v for k, v in data.items() if k in known}
        if "prompt" not in kwargs:
            raise RequestError("the request has no prompt")
        for key in ("blend_prompts", "blend_weights"):
            if key in kwargs:
                kwargs[key] = tuple(kwargs[key])
        if "loras" in kwargs:
            kwargs["loras"] = tuple((str(p), float(w)) for p, w in kwargs["loras"])
        return cls(**kwargs)

    @classmethod
    def from_json(cls, text: str) -> GenerationRequest:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise RequestError(f"the request is not valid JSON ({exc.msg})") from None
        if not isinstance(data, dict):
            raise RequestError("the request must be a JSON object")
        return cls.from_dict(data)
