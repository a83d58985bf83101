"""The generation request: the frozen, JSON-serialisable record that is the only thing a job reads.

Everything that changes the pixels lives here, so a request plus the model gives back the image.
Images that feed a request (init image, mask) are referenced by file path: the UI writes them to
STUDIO_HOME/inputs first, named by content hash, so requests stay small and replayable.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import random
import threading
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

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
# What a job does; the engine picks its runner by this name (studio/engine/modes).
MODES: tuple[str, ...] = ("txt2img", "img2img", "inpaint", "outpaint", "blend", "textdiff")
# Text diffs: how far the edit goes from the source description (0) to the target (1); past 1 exaggerates.
MAX_EDIT_AMOUNT = 3.0
# Seeds as ComfyUI, Fooocus and torch.Generator.manual_seed take them (unsigned 64-bit); random
# ones stay 32-bit, as A1111 picks them, so they are short to read and type.
MAX_SEED = 2**64 - 1
MAX_RANDOM_SEED = 2**32 - 1
MIN_SIZE, MAX_SIZE = 64, 4096
MAX_STEPS = 150
MAX_GUIDANCE = 50.0
# Untrusted JSON (image metadata, gallery rows) bigger than this is refused before parsing: a full
# request is a few kB, even with long prompts, and a large ComfyUI graph a few thousand containers.
# (Python's garbage collector makes building hundreds of thousands of lists superlinear.)
MAX_JSON_CHARS = 1_000_000
MAX_JSON_CONTAINERS = 100_000

if TYPE_CHECKING:
    from pydantic import BaseModel, ValidationError


class RequestError(ValueError):
    """A request the engine cannot run; the message is one line an artist can act on."""


def random_seed() -> int:
    return random.randint(0, MAX_RANDOM_SEED)


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

    # Text diffs (mode "textdiff"): the source image is inverted under `source_prompt` (what it
    # shows), then sampled again while the conditioning moves `edit_amount` of the way to
    # `target_prompt` (0 = the source back, 1 = the target, more exaggerates).
    source_prompt: str = ""
    target_prompt: str = ""
    edit_amount: float = 1.0

    # What the job does (one of MODES), chosen by whoever builds the request; the gallery files it
    # under this. "" (records and JSON from before it existed) means: inferred from the fields set.
    mode: str = ""

    def __post_init__(self) -> None:
        # Remember an inferred mode as inferred, so replace(init_image=...) infers it again.
        inferred = not self.mode
        object.__setattr__(self, "_mode_inferred", inferred)
        if inferred:
            object.__setattr__(self, "mode", self.inferred_mode())

    # ---- derived -------------------------------------------------------------------------
    def inferred_mode(self) -> str:
        """txt2img, img2img, inpaint or blend, from the fields set (how modes were told apart before
        requests named theirs)."""
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
        """Raise RequestError with a one-line message if the request cannot run; else return self.

        Checks every field's type first (a request built in code can hold anything: seed=True,
        guidance_scale="5"), then that the prompts are real text, then the ranges."""
        _check_types({f.name: getattr(self, f.name) for f in dataclasses.fields(self)})
        _check_encodable("prompt", self.prompt)
        _check_encodable("negative prompt", self.negative_prompt)
        for text in self.blend_prompts:
            _check_encodable("blend prompt", text)
        _check_encodable("source description", self.source_prompt)
        _check_encodable("target description", self.target_prompt)
        for name in ("width", "height"):
            value = getattr(self, name)
            if self.init_image:  # an edit states its picture's size, the source's (any size)
                if not 1 <= value <= MAX_SIZE:
                    raise RequestError(f"{name} must be between 1 and {MAX_SIZE} px (got {value})")
                continue
            if value % 8:
                raise RequestError(f"{name} must be a multiple of 8 (got {value}; try {value // 8 * 8 or 8})")
            if not MIN_SIZE <= value <= MAX_SIZE:
                raise RequestError(f"{name} must be between {MIN_SIZE} and {MAX_SIZE} px (got {value})")
        if not 1 <= self.steps <= MAX_STEPS:
            raise RequestError(f"steps must be between 1 and {MAX_STEPS} (got {self.steps})")
        if not 0.0 <= self.guidance_scale <= MAX_GUIDANCE:
            raise RequestError(f"guidance must be between 0 and {MAX_GUIDANCE:g} (got {self.guidance_scale})")
        rescale = self.guidance_rescale
        if rescale is not None and not 0.0 <= rescale <= 1.0:
            raise RequestError(f"guidance rescale must be between 0 and 1 (got {rescale!r})")
        if not 0 <= self.seed <= MAX_SEED:
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
        if not 0.0 <= self.edit_amount <= MAX_EDIT_AMOUNT:
            raise RequestError(f"edit amount must be between 0 and {MAX_EDIT_AMOUNT:g} (got {self.edit_amount:g})")
        _check_mode(self)
        return self

    # ---- serialisation -------------------------------------------------------------------
    def replace(self, **changes: Any) -> GenerationRequest:
        if "mode" not in changes and getattr(self, "_mode_inferred", False):
            changes["mode"] = ""  # infer again from the changed fields
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
        """Build from a dict (parsed JSON: image metadata, gallery rows), checking every known key's
        type; unknown keys (newer files) are ignored and missing ones keep their defaults.
        RequestError naming the field for anything of the wrong type."""
        if not isinstance(data, dict):
            raise RequestError("the request must be a JSON object")
        checked = _check_types(data)
        return cls(**checked.model_dump(exclude_unset=True))

    @classmethod
    def from_json(cls, text: str) -> GenerationRequest:
        return cls.from_dict(request_object(text))


def sized_request(request: GenerationRequest, size: tuple[int, int]) -> GenerationRequest:
    """The request as it is recorded (Started/Finished, so the gallery, exports and the CLI): an
    edit's picture has its source's size, whatever size the prompt panel held, so it states that.

    The engine reads no size from an edit request (a masked-only crop works at the model's native
    size), so replaying the recorded request gives the same picture."""
    if request.init_image and (request.width, request.height) != tuple(size):
        return request.replace(width=int(size[0]), height=int(size[1]))
    return request


def _check_mode(request: GenerationRequest) -> None:
    """The mode and the fields it needs agree (a request built by hand or read from a file)."""
    mode = request.mode
    if mode not in MODES:
        raise RequestError(f"unknown mode {mode!r}; choose one of: {', '.join(MODES)}")
    if mode in ("txt2img", "blend") and request.init_image:
        raise RequestError(f"{mode} takes no source image (for a variation use mode img2img)")
    if mode in ("img2img", "inpaint", "outpaint") and not request.init_image:
        raise RequestError(f"{mode} needs a source image (--init-image)")
    if mode in ("inpaint", "outpaint") and not request.mask_image:
        raise RequestError(f"{mode} needs a mask (white = the area to paint)")
    if mode == "textdiff":
        _check_textdiff(request)
    if mode == "img2img" and request.mask_image:
        raise RequestError("img2img takes no mask (to repaint a masked area use mode inpaint)")


def _check_textdiff(request: GenerationRequest) -> None:
    if not request.init_image:
        raise RequestError("textdiff needs a source image to edit")
    if request.mask_image:
        raise RequestError("textdiff takes no mask (it edits the whole picture by its description)")
    if not request.source_prompt.strip():
        raise RequestError("textdiff needs the source image's description (give --from \"what it shows\")")
    if not request.target_prompt.strip():
        raise RequestError("textdiff needs the new description (give --to \"what it should show\")")


# ---- untrusted input ---------------------------------------------------------------------------
def request_object(text: str | bytes) -> dict[str, Any]:
    """The JSON object a serialised request is, not yet checked field by field; RequestError
    (one line) for text that is not one."""
    try:
        data = load_json(text)
    except ValueError as exc:
        raise RequestError(f"the request is not valid JSON ({exc})") from None
    if not isinstance(data, dict):
        raise RequestError("the request must be a JSON object")
    return data


def load_json(text: str | bytes) -> Any:
    """Parse JSON from outside (image files, the gallery): linear time, at most MAX_JSON_CHARS and
    MAX_JSON_CONTAINERS, nesting capped by pydantic-core's parser (about 200 levels) so it can
    never recurse out.
    ValueError with a short reason otherwise."""
    with _PYDANTIC_LOCK:
        from pydantic_core import from_json

    if not isinstance(text, str | bytes):
        raise ValueError(f"it is {type(text).__name__}, not text")
    if len(text) > MAX_JSON_CHARS:
        raise ValueError(f"it is over {MAX_JSON_CHARS:,} characters long")
    brackets = ("[", "{") if isinstance(text, str) else (b"[", b"{")
    if sum(text.count(b) for b in brackets) > MAX_JSON_CONTAINERS:  # counted in C: linear and fast
        raise ValueError(f"it has over {MAX_JSON_CONTAINERS:,} lists and objects")
    try:
        return from_json(text)
    except ValueError as exc:  # also UnicodeEncodeError: a lone surrogate in a str
        raise ValueError(" ".join(str(exc).split())[:120]) from None


def _check_encodable(label: str, text: str) -> None:
    """Text the tokenizer can read: a lone surrogate (a broken paste, or bytes smuggled through
    sys.argv) has no UTF-8 form and would crash deep in the engine."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise RequestError(
            f"the {label} contains a character that is not valid text (U+{ord(text[exc.start]):04X} "
            f"at position {exc.start + 1}); delete it and type it again"
        ) from None


# Per field: the name an artist knows it by, and what its value must be.
_EXPECTED: dict[str, tuple[str, str]] = {
    "prompt": ("prompt", "text"),
    "negative_prompt": ("negative prompt", "text"),
    "seed": ("seed", "a whole number"),
    "steps": ("steps", "a whole number"),
    "guidance_scale": ("guidance", "a number"),
    "guidance_rescale": ("guidance rescale", "between 0 and 1"),  # as the range check says it
    "width": ("width", "a whole number of pixels"),
    "height": ("height", "a whole number of pixels"),
    "scheduler": ("scheduler", "a sampler name"),
    "model": ("model", "a file or folder path"),
    "init_image": ("source image", "a file path or empty"),
    "strength": ("strength", "a number"),
    "mask_image": ("mask", "a file path or empty"),
    "mask_feather": ("mask feather", "a whole number of pixels"),
    "masked_only": ("masked only", "true or false"),
    "masked_padding": ("masked padding", "a whole number of pixels"),
    "blend_prompts": ("blend prompts", "a list of texts"),
    "blend_weights": ("blend weights", "a list of numbers"),
    "blend_mode": ("blend mode", "slerp or lerp"),
    "seed_b": ("seed B", "a whole number or empty"),
    "seed_mix": ("seed mix", "a number"),
    "loras": ("LoRAs", "a list of [file, weight] pairs"),
    "source_prompt": ("source description", "text"),
    "target_prompt": ("target description", "text"),
    "edit_amount": ("edit amount", "a number"),
    "mode": ("mode", f"one of {', '.join(MODES)}"),
}


# pydantic is imported by one thread at a time. PySide's import hook reads the source of every newly
# imported module, which asks pydantic's lazy module attributes for `__wrapped__`; when the warm-up
# thread and the GUI thread imported pydantic at once, one of them met a half-imported module and
# the window started with an ImportError traceback (1 start in 8 on 2 loaded cores).
_PYDANTIC_LOCK = threading.Lock()


def warm_schema() -> None:
    """Build the schema now (a thread at start-up), so the first check does not wait for it."""
    _schema()


def _check_types(data: dict[str, Any]) -> BaseModel:
    """Validate by type with the schema; RequestError naming the first wrong field."""
    schema = _schema()  # imports pydantic, under the lock, before anything else of it here
    from pydantic import ValidationError

    try:
        return schema.model_validate(data)
    except ValidationError as exc:
        raise RequestError(_type_message(exc, data)) from None


def _type_message(exc: ValidationError, data: dict[str, Any]) -> str:
    error = exc.errors(include_url=False)[0]
    key = str(error["loc"][0]) if error["loc"] else ""
    if error["type"] == "missing" and key == "prompt":
        return "the request has no prompt"
    label, expected = _EXPECTED.get(key, (key, "something else"))
    got = repr(data.get(key)) if isinstance(data, dict) else repr(data)
    got = got if len(got) <= 60 else got[:57] + "..."
    return f"{label} must be {expected} (got {got})"


@functools.cache
def _schema() -> type[BaseModel]:
    """The request's pydantic schema, built on first use: importing pydantic costs ~0.15 s that
    `studio --help` and the window's start should not pay.

    Strict: a bool is not a whole number, "5" is not a number, floats are finite. Lists and tuples
    are both accepted for the sequences (JSON has only lists). A test checks that the fields
    match GenerationRequest's."""
    from typing import Annotated

    with _PYDANTIC_LOCK:
        from pydantic import (
            BaseModel,
            ConfigDict,
            Field,
            StrictBool,
            StrictFloat,
            StrictInt,
            StrictStr,
        )

    number = StrictInt | StrictFloat
    sequence = Field(strict=False)  # list or tuple; the items stay strict

    d = GenerationRequest  # the defaults are the dataclass's own (loras' is a factory: empty)

    class RequestSchema(BaseModel):
        model_config = ConfigDict(strict=True, extra="ignore", allow_inf_nan=False)

        prompt: StrictStr
        negative_prompt: StrictStr = d.negative_prompt
        seed: StrictInt = d.seed
        steps: StrictInt = d.steps
        guidance_scale: number = d.guidance_scale
        guidance_rescale: number | None = d.guidance_rescale
        width: StrictInt = d.width
        height: StrictInt = d.height
        scheduler: StrictStr = d.scheduler
        model: StrictStr = d.model
        init_image: StrictStr | None = d.init_image
        strength: number = d.strength
        mask_image: StrictStr | None = d.mask_image
        mask_feather: StrictInt = d.mask_feather
        masked_only: StrictBool = d.masked_only
        masked_padding: StrictInt = d.masked_padding
        blend_prompts: Annotated[tuple[StrictStr, ...], sequence] = d.blend_prompts
        blend_weights: Annotated[tuple[number, ...], sequence] = d.blend_weights
        blend_mode: StrictStr = d.blend_mode
        seed_b: StrictInt | None = d.seed_b
        seed_mix: number = d.seed_mix
        loras: Annotated[tuple[Annotated[tuple[StrictStr, number], sequence], ...], sequence] = ()
        source_prompt: StrictStr = d.source_prompt
        target_prompt: StrictStr = d.target_prompt
        edit_amount: number = d.edit_amount
        mode: StrictStr = d.mode

    return RequestSchema
