"""Which model and LoRAs an imported image may switch to: the policy, free of Qt and of the engine.

Metadata in an image is someone else's text. A model or LoRA path it names is used as it is only
when it lies inside Studio's own model folders (the models folder, the bundled model, the Hugging
Face cache) or is one of the artist's listed models; anything else is matched by file name or hash
against the artist's known models, and otherwise reported as not found. `vet_models()` says what an
image names and what of it may be used; `offer_for()` compares that with what is chosen now, so the
window can show the change and apply it only when the artist agrees.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import PurePath

from studio.core.request import GenerationRequest

Loras = tuple[tuple[str, float], ...]
_WEIGHT_SUFFIXES = (".safetensors", ".ckpt", ".bin", ".pt", ".pth")  # dropped when matching by name


@dataclass(frozen=True)
class KnownModel:
    """One of the artist's models or LoRAs, as the model library lists it."""

    path: str
    name: str  # as listed ("foo.safetensors", "owner/name" for the HF cache)
    is_lora: bool = False
    sha256: str = ""  # "" when not hashed yet


@dataclass(frozen=True)
class ModelHints:
    """What the metadata says about the model besides `request.model`."""

    names_model: bool = False  # request.model is meaningful (Studio's own JSON, where "" is the bundled model)
    names_loras: bool = False  # request.loras is meaningful (other tools' LoRAs are not read)
    model_name: str = ""  # e.g. A1111's "Model: v1-5-pruned-emaonly"
    model_hash: str = ""  # e.g. A1111's "Model hash: 6ce0161689" (sha256 prefix)


@dataclass(frozen=True)
class VettedModels:
    """What an image names, reduced to what may be loaded.

    model: a usable path ("" = the bundled model), or None when the image names none usable.
    loras: the usable LoRAs, or None when the image says nothing about LoRAs.
    missing: one line per model or LoRA it names that is not found among the artist's.
    """

    model: str | None = None
    loras: Loras | None = None
    missing: tuple[str, ...] = ()


@dataclass(frozen=True)
class ModelOffer:
    """A change of model and/or LoRAs to show the artist; None fields stay as they are."""

    model: str | None
    loras: Loras | None
    text: str  # "This image was made with model X and LoRA Y"


def _real(path: str) -> str:
    return os.path.realpath(os.path.expanduser(path))


def _inside(path: str, roots: Iterable[str]) -> bool:
    for root in roots:
        try:
            if os.path.commonpath([path, root]) == root:
                return True
        except ValueError:  # another drive on Windows
            continue
    return False


def _names(text: str) -> set[str]:
    """The ways an artist's model may be called: file name, stem, and last part of "owner/name"."""
    pure = PurePath(text.replace("\\", "/").rstrip("/"))
    found = {text, pure.name}
    if pure.suffix.lower() in _WEIGHT_SUFFIXES:
        found.add(pure.stem)
    return {n.strip().lower() for n in found if n.strip()}


def _match(path: str, name: str, digest: str, known: Sequence[KnownModel], roots: Sequence[str],
           lora: bool) -> str | None:
    """The known path to load for what the metadata named, or None when none may be loaded."""
    kind = [k for k in known if k.is_lora == lora]
    if path:
        real = _real(path)
        for entry in kind:
            if _real(entry.path) == real:
                return entry.path
        if _inside(real, roots) and os.path.exists(real):
            return real
    wanted = _names(path) | _names(name)
    digest = digest.strip().lower()
    if len(digest) >= 8 and all(c in "0123456789abcdef" for c in digest):
        for entry in kind:
            if entry.sha256 and entry.sha256.lower().startswith(digest):
                return entry.path
    for entry in kind:
        if wanted & (_names(entry.name) | _names(entry.path)):
            return entry.path
    return None


def vet_models(request: GenerationRequest, hints: ModelHints, known: Sequence[KnownModel],
               roots: Sequence[str], bundled: str = "") -> VettedModels:
    """The model and LoRAs `request` (read from an image) names, limited to what may be loaded.

    `roots` are Studio's model folders; `known` the artist's models and LoRAs; `bundled` the
    bundled model's folder (a match on it comes back as "", the name the picker uses for it).
    """
    real_roots = [_real(r) for r in roots if r]
    real_bundled = _real(bundled) if bundled else ""
    missing: list[str] = []
    model: str | None = None
    path = request.model if hints.names_model else ""
    if hints.names_model and not request.model:
        model = ""  # Studio's own file made with the bundled model
    elif path or hints.model_name or hints.model_hash:
        model = _match(path, hints.model_name, hints.model_hash, known, real_roots, lora=False)
        if model is not None and real_bundled and _real(model) == real_bundled:
            model = ""
        if model is None:
            label = PurePath(path).name if path else (hints.model_name or hints.model_hash)
            missing.append(f"model {label} is not found among your models")
    loras: Loras | None = None
    if hints.names_loras:
        usable = []
        for lora_path, weight in request.loras:
            found = _match(lora_path, "", "", known, real_roots, lora=True)
            if found is None:
                missing.append(f"LoRA {PurePath(lora_path).name} is not found among your LoRAs")
            else:
                usable.append((found, float(weight)))
        loras = tuple(usable)
        if request.loras and not usable:
            loras = None  # none found: nothing to offer, the artist's own stay
    return VettedModels(model=model, loras=loras, missing=tuple(missing))


def _same_model(a: str, b: str) -> bool:
    return a == b or (bool(a) and bool(b) and _real(a) == _real(b))


def _same_loras(a: Loras, b: Loras) -> bool:
    def key(loras: Loras) -> list[tuple[str, float]]:
        return sorted((_real(p), round(float(w), 3)) for p, w in loras)

    return key(a) == key(b)


def model_label(model: str) -> str:
    """A model as named to the artist: its file or folder name, or "the bundled model"."""
    return PurePath(model.rstrip("/\\")).name if model else "the bundled model"


def offer_for(vetted: VettedModels, current_model: str, current_loras: Loras) -> ModelOffer | None:
    """The change to show the artist, or None when the image asks for what is chosen already."""
    model = vetted.model if vetted.model is not None and not _same_model(vetted.model, current_model) else None
    loras = vetted.loras if vetted.loras is not None and not _same_loras(vetted.loras, current_loras) else None
    if model is None and loras is None:
        return None
    parts = []
    if model is not None:
        parts.append(f"model {model_label(model)}")
    if loras is not None:
        parts.append("no LoRAs" if not loras else
                     ("LoRA " if len(loras) == 1 else "LoRAs ") +
                     ", ".join(f"{PurePath(p).stem} ({w:g})" for p, w in loras))
    return ModelOffer(model=model, loras=loras, text="This image was made with " + " and ".join(parts))
