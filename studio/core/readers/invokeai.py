"""InvokeAI: 3.x and later write `invokeai_metadata` (JSON); 2.x wrote `sd-metadata` (JSON, the
prompt with its negative in [brackets]) and `Dream` (the dream command line: "prompt" -s steps
-S seed -W width -H height -C cfg -A sampler)."""

from __future__ import annotations

import re
import shlex
from typing import Any

from studio.core.readers._common import (
    MetadataError,
    check_text,
    json_object,
    model_stem,
    put,
    put_sampler,
    text,
    to_float,
    to_int,
    to_seed,
)

# The negative prompt: the bracketed parts of an InvokeAI 2 prompt ("a cat [blurry, dog]").
_BRACKETS = re.compile(r"\[([^\[\]]*)\]")


def _split_prompt(prompt: str) -> tuple[str, str]:
    negatives = [m.strip() for m in _BRACKETS.findall(prompt)]
    positive = " ".join(_BRACKETS.sub(" ", prompt).split())
    return positive, ", ".join(n for n in negatives if n)


def parse_invokeai(value: str) -> dict[str, Any]:
    """InvokeAI 3+ `invokeai_metadata`."""
    data = json_object(value, "InvokeAI")
    out: dict[str, Any] = {
        "prompt": text(data.get("positive_prompt")) or text(data.get("prompt")),
        "negative_prompt": text(data.get("negative_prompt")),
    }
    put(out, "seed", to_seed(data.get("seed")))
    put(out, "steps", to_int(data.get("steps")))
    put(out, "guidance_scale", to_float(data.get("cfg_scale")))
    put(out, "width", to_int(data.get("width")))
    put(out, "height", to_int(data.get("height")))
    put(out, "strength", to_float(data.get("strength")))
    put_sampler(out, text(data.get("scheduler")))
    model = data.get("model")
    if isinstance(model, dict):
        put(out, "model_name", text(model.get("name")) or text(model.get("model_name")) or None)
        put(out, "model_hash", text(model.get("hash")) or None)
    else:
        put(out, "model_name", text(model) or None)
    return out


def parse_sd_metadata(value: str) -> dict[str, Any]:
    """InvokeAI 2.x `sd-metadata`."""
    data = json_object(value, "InvokeAI")
    image = data.get("image") if isinstance(data.get("image"), dict) else {}
    prompt = image.get("prompt")
    if isinstance(prompt, list):  # [{"prompt": ..., "weight": ...}, ...]
        prompt = " ".join(text(p.get("prompt")) for p in prompt if isinstance(p, dict))
    positive, negative = _split_prompt(text(prompt))
    out: dict[str, Any] = {"prompt": positive, "negative_prompt": negative}
    put(out, "seed", to_seed(image.get("seed")))
    put(out, "steps", to_int(image.get("steps")))
    put(out, "guidance_scale", to_float(image.get("cfg_scale")))
    put(out, "width", to_int(image.get("width")))
    put(out, "height", to_int(image.get("height")))
    put(out, "strength", to_float(image.get("strength")))
    put_sampler(out, text(image.get("sampler")))
    put(out, "model_name", model_stem(data.get("model_weights")) or None)
    put(out, "model_hash", text(data.get("model_hash")) or None)
    return out


_DREAM_OPTIONS = {"-s": "steps", "--steps": "steps", "-S": "seed", "--seed": "seed",
                  "-W": "width", "--width": "width", "-H": "height", "--height": "height",
                  "-C": "cfg", "--cfg_scale": "cfg", "-A": "sampler", "--sampler": "sampler",
                  "-f": "strength", "--strength": "strength"}


def parse_dream(value: str) -> dict[str, Any]:
    """InvokeAI 2.x `Dream`: the prompt in quotes, then dream's short options."""
    check_text(value, "InvokeAI Dream")
    try:
        words = shlex.split(value)
    except ValueError:
        raise MetadataError("the image's InvokeAI Dream line is not a valid command line") from None
    if not words:
        raise MetadataError("the image's InvokeAI Dream line is empty")
    options: dict[str, str] = {}
    prompt_words: list[str] = []
    i = 0
    while i < len(words):
        word = words[i]
        if word in _DREAM_OPTIONS and i + 1 < len(words):
            options[_DREAM_OPTIONS[word]] = words[i + 1]
            i += 2
            continue
        if not word.startswith("-") and not options:
            prompt_words.append(word)
        i += 1
    positive, negative = _split_prompt(" ".join(prompt_words))
    out: dict[str, Any] = {"prompt": positive, "negative_prompt": negative}
    put(out, "seed", to_seed(options.get("seed")))
    put(out, "steps", to_int(options.get("steps")))
    put(out, "guidance_scale", to_float(options.get("cfg")))
    put(out, "width", to_int(options.get("width")))
    put(out, "height", to_int(options.get("height")))
    put(out, "strength", to_float(options.get("strength")))
    put_sampler(out, options.get("sampler", ""))
    return out
