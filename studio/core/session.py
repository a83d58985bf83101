"""The artist's settings, Qt-free: what the Prompt, Edit and Blend panels show, and the one place
where a request is composed from them.

The panels are views of a `Session`: they write every edit into it and ask it for the request of a
job (`txt2img_request`, `edit_request`, `blend_request`), each validated or refused with a one-line
RequestError. `to_dict()` / `from_dict()` give the plain dicts the window keeps in ui.ini; reading
is tolerant: a missing or wrongly typed value falls back to the default (an older file, a hand
edit), never to an error.
"""

from __future__ import annotations

import copy
import dataclasses
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar

from studio.core.request import (
    BLEND_MODES,
    DEFAULT_GUIDANCE,
    MAX_GUIDANCE,
    MAX_SEED,
    MAX_SIZE,
    MAX_STEPS,
    SCHEDULERS,
    GenerationRequest,
    RequestError,
    random_seed,
)

EMPTY_PROMPT = "type a prompt first (describe the picture in the Prompt panel)"
EMPTY_BLEND_PROMPT = "type prompt A (or a prompt in the Prompt panel) first"
NO_SEED = "enter a seed, or tick Random"
SAMPLER_KEYS = ("steps", "guidance_scale", "scheduler")

_BAD = object()  # what a reader returns for a value it cannot use


# ---- tolerant readers: a usable value, or _BAD ------------------------------------------------------
def _text(value: Any) -> Any:
    return value if isinstance(value, str) else _BAD


def _flag(value: Any) -> Any:
    return value if isinstance(value, bool) else _BAD


def _whole(low: int, high: int) -> Callable[[Any], Any]:
    def read(value: Any) -> Any:
        if isinstance(value, str) and value.isdigit():  # seeds were saved as the text typed
            value = int(value)
        ok = isinstance(value, int) and not isinstance(value, bool) and low <= value <= high
        return value if ok else _BAD

    return read


def _number(low: float, high: float) -> Callable[[Any], Any]:
    def read(value: Any) -> Any:
        ok = isinstance(value, int | float) and not isinstance(value, bool) and low <= value <= high
        return float(value) if ok else _BAD

    return read


def _optional(read: Callable[[Any], Any]) -> Callable[[Any], Any]:
    return lambda value: None if value is None else read(value)


def _choice(options: tuple[str, ...]) -> Callable[[Any], Any]:
    return lambda value: value if value in options else _BAD


def _pairs(named: bool) -> Callable[[Any], Any]:
    """(text, weight) pairs: malformed ones (or, if `named`, unnamed ones) are dropped; a non-list
    is unusable."""

    def read(value: Any) -> Any:
        if not isinstance(value, list | tuple):
            return _BAD
        return tuple(
            (pair[0], round(float(pair[1]), 3))
            for pair in value
            if isinstance(pair, list | tuple) and len(pair) == 2 and isinstance(pair[0], str)
            and (pair[0] or not named) and isinstance(pair[1], int | float) and not isinstance(pair[1], bool)
        )

    return read


def _paths(value: Any) -> Any:
    return [p for p in value if isinstance(p, str) and p] if isinstance(value, list) else _BAD


def _sampler_settings(value: Any) -> Any:
    """A few-step model's stash of the artist's own steps, guidance and sampler (or None)."""
    if value is None:
        return None
    if not isinstance(value, Mapping):
        return _BAD
    ok = (_whole(1, MAX_STEPS)(value.get("steps")) is not _BAD
          and _number(0, MAX_GUIDANCE)(value.get("guidance_scale")) is not _BAD
          and value.get("scheduler") in SCHEDULERS)
    return {key: value[key] for key in SAMPLER_KEYS} if ok else _BAD


class _Section:
    """to_dict / from_dict for a settings dataclass with a READERS table (field -> reader)."""

    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {}

    def to_dict(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)  # type: ignore[call-overload]
        return {key: _plain(value) for key, value in data.items() if key in self.READERS}

    @classmethod
    def from_dict(cls, data: Any, base: Any = None) -> Any:
        """Read `data`; a missing or unusable value is `base`'s (default: the defaults)."""
        base = base if base is not None else cls()
        data = data if isinstance(data, Mapping) else {}
        values = {}
        for name, read in cls.READERS.items():
            value = read(data[name]) if name in data else _BAD
            values[name] = copy.deepcopy(getattr(base, name)) if value is _BAD else value
        return cls(**values)


def _plain(value: Any) -> Any:
    """JSON-safe: tuples become lists (all the way down)."""
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


@dataclass
class PromptSettings(_Section):
    """The Prompt panel: everything a txt2img request takes, plus what the panel remembers."""

    prompt: str = ""
    negative_prompt: str = ""
    seed: int | None = 0  # None: the seed box is empty
    random_seed: bool = True
    last_seed: int | None = None  # the seed of the last request sent ("Reuse last")
    steps: int = 20
    guidance_scale: float = DEFAULT_GUIDANCE
    guidance_rescale: float | None = None  # None: the model's own ("Auto")
    native_size: bool = True  # the model's own size (width/height then hold it)
    width: int = 512
    height: int = 512
    scheduler: str = "Euler a"
    model: str = ""  # "" = the bundled model
    recent_models: list[str] = field(default_factory=list)
    loras: tuple[tuple[str, float], ...] = ()
    # The artist's own settings while a few-step model's (or the bundled model's guidance) apply.
    settings_before_distilled: dict[str, Any] | None = None
    guidance_before_bundled: float | None = None
    # A ticked LoRA made for another model family: the view reads file headers to know (not saved).
    lora_problem: str = ""

    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "prompt": _text,
        "negative_prompt": _text,
        "seed": _whole(0, MAX_SEED),
        "random_seed": _flag,
        "last_seed": _optional(_whole(0, MAX_SEED)),
        "steps": _whole(1, MAX_STEPS),
        "guidance_scale": _number(0, MAX_GUIDANCE),
        "guidance_rescale": _optional(_number(0, 1)),
        "native_size": _flag,
        "width": _whole(1, 2 * MAX_SIZE),  # a bad size is kept: validation explains it better
        "height": _whole(1, 2 * MAX_SIZE),
        "scheduler": _choice(SCHEDULERS),
        "model": _text,
        "recent_models": _paths,
        "loras": _pairs(named=True),
        "settings_before_distilled": _sampler_settings,
        "guidance_before_bundled": _optional(_number(0, MAX_GUIDANCE)),
    }

    def to_dict(self) -> dict[str, Any]:
        data = super().to_dict()
        data["seed"] = "" if self.seed is None else str(self.seed)  # the text typed, as ui.ini always had
        return data

    @classmethod
    def from_dict(cls, data: Any, base: Any = None) -> PromptSettings:
        settings = super().from_dict(data, base)
        if isinstance(data, Mapping) and "native_size" not in data:
            settings.native_size = False  # saved before the model's own size existed: its size is explicit
        return settings


@dataclass
class EditSettings(_Section):
    """The Edit panel's job settings (the brush belongs to the mask, not to requests)."""

    strength: float = 0.75
    mask_feather: int = 8
    masked_only: bool = False
    masked_padding: int = 32
    outpaint_amount: int = 128

    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "strength": _number(0, 1),
        "mask_feather": _whole(0, 256),
        "masked_only": _flag,
        "masked_padding": _whole(0, 512),
        "outpaint_amount": _whole(8, MAX_SIZE),
    }


@dataclass
class BlendSettings(_Section):
    """The Blend panel: prompt A ↔ B (and more, each with a weight) and seed A ↔ B noise."""

    prompt_a: str = ""  # "": the base's prompt (the Prompt panel's)
    prompt_b: str = ""
    mix: float = 0.0  # prompt B's weight
    extras: tuple[tuple[str, float], ...] = ()  # further prompts and their weights
    mode: str = "slerp"
    seed_a: int | None = None  # None: the base's seed (the Prompt panel's)
    seed_b: int | None = 1  # None: the box is empty
    seed_mix: float = 0.0
    live: bool = True  # render while sliding
    keep_live: bool = True  # live renders go to the gallery

    READERS: ClassVar[dict[str, Callable[[Any], Any]]] = {
        "prompt_a": _text,
        "prompt_b": _text,
        "mix": _number(0, 1),
        "extras": _pairs(named=False),
        "mode": _choice(BLEND_MODES),
        "seed_a": _optional(_whole(0, MAX_SEED)),
        "seed_b": _optional(_whole(0, MAX_SEED)),
        "seed_mix": _number(0, 1),
        "live": _flag,
        "keep_live": _flag,
    }


class Session:
    """The settings of one window, and the one place its requests are composed.

    `subscribe(listener)` is told when the session changes itself: sending a request with Random
    ticked rolls a new seed (and records it as the last seed) for the Prompt panel to show."""

    def __init__(
        self,
        prompt: PromptSettings | None = None,
        edit: EditSettings | None = None,
        blend: BlendSettings | None = None,
    ) -> None:
        self.prompt = prompt or PromptSettings()
        self.edit = edit or EditSettings()
        self.blend = blend or BlendSettings()
        self._listeners: list[Callable[[], None]] = []

    def subscribe(self, listener: Callable[[], None]) -> None:
        self._listeners.append(listener)

    # ---- requests --------------------------------------------------------------------------------
    def base_request(self) -> GenerationRequest:
        """The prompt settings as a validated request, as they are: no seed rolled, the prompt may
        be empty (what Blend varies, and what the Prompt panel checks while typing)."""
        p = self.prompt
        if p.seed is None:
            raise RequestError(NO_SEED)
        if p.lora_problem:
            raise RequestError(p.lora_problem)
        return GenerationRequest(
            prompt=p.prompt.strip(),
            negative_prompt=p.negative_prompt.strip(),
            seed=p.seed,
            steps=p.steps,
            guidance_scale=round(p.guidance_scale, 2),
            guidance_rescale=None if p.guidance_rescale is None else round(p.guidance_rescale, 2),
            width=p.width,
            height=p.height,
            scheduler=p.scheduler,
            model=p.model,
            loras=tuple(p.loras),
            mode="txt2img",
        ).validate()

    def txt2img_request(self, roll_seed: bool = True) -> GenerationRequest:
        """The Generate request: a new seed first when Random is ticked (and `roll_seed`)."""
        return self._send(roll_seed, lambda base: base)

    def edit_request(
        self, source: str, mask: str | None = None, roll_seed: bool = True, outpaint: bool = False
    ) -> GenerationRequest:
        """A variation of the picture saved at `source` (img2img), or with `mask` (white = repaint)
        an inpaint; `outpaint`: the picture is an extended one and `mask` its new area."""
        e = self.edit
        mode = ("outpaint" if outpaint else "inpaint") if mask else "img2img"
        return self._send(roll_seed, lambda base: base.replace(
            mode=mode,
            init_image=source,
            mask_image=mask,
            strength=round(e.strength, 3),
            mask_feather=e.mask_feather,
            masked_only=e.masked_only,
            masked_padding=e.masked_padding,
        ).validate())

    def blend_request(self, base: GenerationRequest | None = None) -> GenerationRequest:
        """`base` (default: `base_request()`) with the blend's prompts, weights and seeds; an
        empty prompt A or seed A is the base's."""
        b = self.blend
        base = self.base_request() if base is None else base
        prompts, weights = [], []
        for text, weight in ((b.prompt_b, b.mix), *b.extras):
            if text.strip():
                prompts.append(text.strip())
                weights.append(weight)
        request = base.replace(
            mode="blend",
            prompt=b.prompt_a.strip() or base.prompt,
            blend_prompts=tuple(prompts),
            blend_weights=tuple(weights),
            blend_mode=b.mode,
            seed=base.seed if b.seed_a is None else b.seed_a,
            seed_b=_entered(b.seed_b, "seed B") if b.seed_mix > 0 else None,
            seed_mix=b.seed_mix,
        )
        if not request.prompt:
            raise RequestError(EMPTY_BLEND_PROMPT)
        return request.validate()

    def _send(
        self, roll_seed: bool, finish: Callable[[GenerationRequest], GenerationRequest]
    ) -> GenerationRequest:
        """A request to send: roll the seed if asked, refuse an empty prompt, record the seed."""
        rolled = roll_seed and self.prompt.random_seed
        if rolled:
            self.prompt.seed = random_seed()
        try:
            if not self.prompt.prompt.strip():
                raise RequestError(EMPTY_PROMPT)
            request = finish(self.base_request())
            if roll_seed:
                self.prompt.last_seed = request.seed
                rolled = True
        finally:
            if rolled:
                for listener in self._listeners:
                    listener()
        return request

    # ---- persistence -------------------------------------------------------------------------------
    def to_dict(self) -> dict[str, Any]:
        return {"prompt": self.prompt.to_dict(), "edit": self.edit.to_dict(), "blend": self.blend.to_dict()}

    @classmethod
    def from_dict(cls, data: Any) -> Session:
        """Read `to_dict()`'s output; missing sections or values get the defaults."""
        data = data if isinstance(data, Mapping) else {}
        prompt = data.get("prompt")
        return cls(
            PromptSettings.from_dict(prompt) if isinstance(prompt, Mapping) else None,
            EditSettings.from_dict(data.get("edit")),
            BlendSettings.from_dict(data.get("blend")),
        )


def _entered(seed: int | None, name: str) -> int:
    if seed is None:
        raise RequestError(f"enter {name}")
    return seed
