"""The blend flags of `studio generate` (issue 5): --blend, --mix, --mix-mode, --seed-b, --seed-mix.

They only map to request fields; the engine does the mixing.
"""

from __future__ import annotations

import argparse
from typing import Any

from studio.core.request import BLEND_MODES, RequestError


def add_blend_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("blending (embedding interpolation)")
    group.add_argument("--blend", metavar="PROMPT_B", default=None, help="a second prompt to mix in")
    group.add_argument(
        "--mix", type=float, default=None, metavar="T",
        help="how far towards PROMPT_B, 0..1 (0 = only PROMPT, 1 = only PROMPT_B; default 0.5)",
    )
    group.add_argument(
        "--mix-mode", choices=BLEND_MODES, default="slerp", help="how prompts mix (default: slerp)"
    )
    group.add_argument("--seed-b", type=int, default=None, metavar="N", help="a second noise seed to mix in")
    group.add_argument(
        "--seed-mix", type=float, default=None, metavar="T",
        help="how far towards seed B's noise, 0..1 (default 0.5 with --seed-b)",
    )


def blend_fields(args: argparse.Namespace) -> dict[str, Any]:
    """Request fields for the blend flags; RequestError (one line) for flags that make no sense."""
    prompt_b, mix = getattr(args, "blend", None), getattr(args, "mix", None)
    seed_b, seed_mix = getattr(args, "seed_b", None), getattr(args, "seed_mix", None)
    fields: dict[str, Any] = {"blend_mode": getattr(args, "mix_mode", "slerp")}
    if prompt_b is None:
        if mix is not None:
            raise RequestError("--mix needs --blend PROMPT_B (the prompt to mix towards)")
    else:
        fields.update(blend_prompts=(prompt_b,), blend_weights=(0.5 if mix is None else mix,))
    if seed_b is None:
        if seed_mix is not None:
            raise RequestError("--seed-mix needs --seed-b N (the seed to mix towards)")
    else:
        fields.update(seed_b=seed_b, seed_mix=0.5 if seed_mix is None else seed_mix)
    return fields
