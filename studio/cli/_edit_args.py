"""`studio generate` options for variations, inpainting and outpainting (issue 4).

    --init-image IMG [--strength S] [--mask MASK.png] [--feather PX] [--masked-only]
    [--mask-padding PX] [--outpaint LEFT,TOP,RIGHT,BOTTOM]

The pictures are checked here, before any model loads, so a wrong path or an empty mask costs no
time. The source and mask are copied into STUDIO_HOME/inputs, named by content hash, as the window
does: the files Studio writes name them by that hash (never by the artist's own paths), and
opening such a file finds them there again. --outpaint builds the extended picture and its mask
with imageops, writes both into STUDIO_HOME/inputs, and asks for an inpaint of them.
"""

from __future__ import annotations

import argparse
from typing import Any

from studio.cli._output import warning
from studio.core.request import RequestError

OUTPAINT_STRENGTH = 1.0  # the new area starts as blurred edge colours: repaint it fully
EDIT_STRENGTH = 0.75


def add_edit_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("variations, inpainting and outpainting")
    group.add_argument("--init-image", metavar="IMG", help="start from this picture (a variation, or inpaint with --mask)")
    group.add_argument(
        "--strength", type=float, default=None,
        help=f"0 keeps the picture, 1 repaints it fully (default: {EDIT_STRENGTH:g}; {OUTPAINT_STRENGTH:g} with --outpaint)",
    )
    group.add_argument("--mask", metavar="MASK.png", help="white = repaint; same size as the picture")
    group.add_argument("--feather", type=int, default=8, metavar="PX", help="soft blend width at the mask edge (default: 8)")
    group.add_argument(
        "--masked-only", action="store_true",
        help="regenerate only a box around the mask at the model's size, then paste it back (fine detail)",
    )
    group.add_argument("--mask-padding", type=int, default=32, metavar="PX", help="context around the mask for --masked-only (default: 32)")
    group.add_argument(
        "--outpaint", metavar="L,T,R,B",
        help="extend the picture by these px on the left, top, right, bottom and paint the new area",
    )


def edit_fields(args: argparse.Namespace) -> dict[str, Any]:
    """GenerationRequest fields for the edit options; RequestError (one line) for bad input."""
    from studio.engine import imageops
    from studio.engine.jobs import UserError

    init = getattr(args, "init_image", None)
    mask = getattr(args, "mask", None)
    outpaint = getattr(args, "outpaint", None)
    strength = getattr(args, "strength", None)
    masked_only = bool(getattr(args, "masked_only", False))
    if not init:
        for flag, value in (("--mask", mask), ("--outpaint", outpaint), ("--strength", strength)):
            if value is not None:
                raise RequestError(f"{flag} needs a picture to work on: add --init-image IMG")
        if masked_only:
            raise RequestError("--masked-only needs --init-image and --mask")
        return {}
    if outpaint and mask:
        raise RequestError("--outpaint makes its own mask: leave out --mask")
    if masked_only and not (mask or outpaint):
        raise RequestError("--masked-only needs a --mask")
    try:
        source = imageops.load_image(init)
        if outpaint:
            try:
                margins = imageops.parse_margins(outpaint)
            except ValueError as exc:
                raise RequestError(str(exc)) from None
            canvas, auto_mask = imageops.outpaint_canvas(source, margins)
            init = str(imageops.save_input(canvas, "source"))
            mask = str(imageops.save_input(auto_mask, "mask"))
        else:
            if mask:
                picture, note = imageops.load_mask(mask, source.size)
                if imageops.coverage(picture) == "empty":
                    raise RequestError("the mask is empty: paint the area to regenerate")
                if note:  # the saved mask has the picture's size: the engine has nothing to say
                    warning(note)
                mask = str(imageops.save_input(picture, "mask"))
            init = str(imageops.save_input(source, "source"))  # upright RGB, as the engine reads it
    except UserError as exc:
        raise RequestError(str(exc)) from None
    if strength is None:
        strength = OUTPAINT_STRENGTH if outpaint else EDIT_STRENGTH
    return {
        "mode": "outpaint" if outpaint else ("inpaint" if mask else "img2img"),
        "init_image": str(init),
        "mask_image": str(mask) if mask else None,
        "strength": strength,
        "mask_feather": getattr(args, "feather", 8),
        "masked_only": masked_only,
        "masked_padding": getattr(args, "mask_padding", 32),
    }
