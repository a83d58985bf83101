"""What the window asks the engine about a model: plain functions that read files (configs,
checkpoint headers, LoRA headers, the library folder), run through EngineQueries on a background
thread, never on the GUI thread. They import the engine's light modules only when called."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from studio.engine.models import ModelEntry

FALLBACK_NATIVE = 512  # a usable size for a model whose size cannot be read


def native_size_of(model: str) -> int:
    """The model's training size, from its configs or file header (no torch, no weights).
    FALLBACK_NATIVE when unreadable: the job explains what is wrong with the model."""
    from studio.engine.backend import native_size
    from studio.engine.jobs import UserError

    try:
        return native_size(model)
    except UserError:
        return FALLBACK_NATIVE


@dataclass(frozen=True)
class ModelLook:
    """A model the artist picked, as read: what it is, and a few-step model's own settings."""

    path: str
    entry: ModelEntry
    defaults: dict[str, Any] | None  # steps, guidance_scale, scheduler when it is distilled


def look_at_model(path: str) -> ModelLook | None:
    """`path` read: None when it is the bundled model (the library lists it by its folder)."""
    from studio.core.paths import bundled_model_path
    from studio.engine.models import describe, recommended_defaults

    if Path(path).resolve() == bundled_model_path().resolve():
        return None
    entry = describe(Path(path), "added")
    usable = not entry.error and entry.kind in ("diffusers", "checkpoint")
    return ModelLook(path, entry, recommended_defaults(path) if usable and entry.distilled else None)


def lora_problem(model: str, loras: tuple[tuple[str, float], ...]) -> str:
    """One line naming a ticked LoRA made for another model family, or ""."""
    from studio.engine.models import lora_mismatch

    return lora_mismatch(model, loras)


def window_words(problem: str) -> str:
    """An engine's one-line refusal as the window says it: the CLI's --config is Config… here."""
    from studio.engine.family import NEEDS_CONFIG

    if problem.endswith(NEEDS_CONFIG):
        return problem.removesuffix(NEEDS_CONFIG) + "give it its config with Config… in the Models panel"
    return problem
