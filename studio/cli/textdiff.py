"""`studio textdiff IMAGE --to "new description" [--from "old"] --amount A [--frames N] -o OUT`.

Edits a picture by the difference between two descriptions: the picture is inverted to its
starting noise under --from (default: the prompt stored in the image), then sampled again with the
conditioning moved --amount of the way to --to. With --frames N it writes a strip of the edit from
amount 0 to A (WebP/GIF animation, side-by-side PNG, or a folder of PNGs) like `studio strip`; the
inversion is done once and reused by every frame.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from studio.cli._output import EXIT_BAD_INPUT, EXIT_ERROR, EXIT_INTERRUPTED, CliError, error
from studio.cli._threads_arg import add_threads_argument, apply_threads
from studio.cli.generate import (
    base_request,
    check_output,
    encode_with_parameters,
    generate,
    record_in_gallery,
)
from studio.core.atomic import atomic_write_bytes
from studio.core.events import Cancelled, Failed
from studio.core.request import (
    BUNDLED_GUIDANCE,
    DEFAULT_GUIDANCE,
    MAX_EDIT_AMOUNT,
    GenerationRequest,
    RequestError,
)

DEFAULT_STEPS = 30  # inversion and sampling each run this many (more steps: a closer reconstruction)


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "textdiff",
        help="edit a picture by changing its description",
        description="Invert IMAGE under its description, then redraw it with the description moved towards "
        "--to by --amount: what the two descriptions differ in changes, the rest stays.",
    )
    parser.add_argument("image", metavar="IMAGE", type=Path, help="the picture to edit")
    parser.add_argument("--to", required=True, metavar="TEXT", help="the new description")
    parser.add_argument("--from", dest="source", default=None, metavar="TEXT",
                        help="what the picture shows (default: the prompt stored in the picture)")
    parser.add_argument("--amount", type=float, default=1.0,
                        help=f"0 gives the picture back, 1 the new description, up to {MAX_EDIT_AMOUNT:g} "
                        "exaggerates (default: 1)")
    parser.add_argument("--frames", type=int, default=None, metavar="N",
                        help="write a strip of N frames from amount 0 to --amount (-o .webp, .gif, .png or a folder)")
    parser.add_argument("-o", "--output", required=True, type=Path, help="image file (or strip) to write")
    parser.add_argument("--negative", default="", help="what to keep out of the picture")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS,
                        help=f"inversion and sampling steps (default: {DEFAULT_STEPS})")
    parser.add_argument("--guidance", type=float, default=None,
                        help=f"prompt guidance scale (default: {BUNDLED_GUIDANCE:g} on the bundled model, "
                             f"{DEFAULT_GUIDANCE:g} on others)")
    parser.add_argument("--model", default="", metavar="PATH", help="a diffusers model folder (default: the bundled model)")
    parser.add_argument("--fps", type=float, default=8.0, help="frames per second of an animation (default: 8)")
    parser.add_argument("--no-gallery", action="store_true", help="do not record the result in the gallery")
    add_threads_argument(parser)


def run(args: argparse.Namespace) -> int:
    from studio.engine.modes.textdiff import edit_request, strip_amounts

    apply_threads(args)
    try:
        if args.frames is None:
            image_format = check_output(args.output)
        else:
            from studio.cli.strip import check_target

            check_target(args.output)
            if not args.fps > 0:
                raise CliError(f"--fps must be above 0 (got {args.fps:g})")
        source_file, source_text = _source(args.image, args.source)
        base = _base(args, source_file)
        if args.frames is None:
            requests = [edit_request(base, source_text, args.to, args.amount)]
        else:
            requests = [edit_request(base, source_text, args.to, a) for a in strip_amounts(args.amount, args.frames)]
    except (CliError, RequestError) as exc:
        return error(str(exc), EXIT_BAD_INPUT)
    if args.frames is not None:
        from studio.cli.strip import render_and_write

        return render_and_write(requests, args.output, args.fps)

    result = generate(requests[0])
    if isinstance(result, Failed):
        return error(result.message, EXIT_ERROR)
    if isinstance(result, Cancelled):
        return error("cancelled", EXIT_INTERRUPTED)
    try:
        atomic_write_bytes(args.output, encode_with_parameters(result, image_format))
    except OSError as exc:
        return error(f"cannot write {args.output}: {exc.strerror or exc}", EXIT_ERROR)
    if not args.no_gallery:
        record_in_gallery(result)
    total = result.timings.get("total", 0.0)
    print(f"wrote {args.output} ({result.image.width}x{result.image.height}, amount {args.amount:g}, "
          f"inversion {result.timings.get('invert', 0.0):.1f} s, {total:.1f} s in all)")
    return 0


def _source(path: Path, given: str | None) -> tuple[str, str]:
    """(the picture copied into STUDIO_HOME/inputs, its description); CliError in one line."""
    from studio.core.metadata import MetadataError
    from studio.engine import imageops
    from studio.engine.jobs import UserError

    try:
        picture = imageops.load_image(path)
    except UserError as exc:
        raise CliError(str(exc)) from None
    text = given
    if text is None:
        from studio.gallery.export import parameters_from_file

        try:
            text = str(parameters_from_file(path).get("prompt") or "")
        except MetadataError:
            text = ""
        if not text.strip():
            raise CliError(f'{path.name} has no prompt stored in it: say what it shows with --from "..."')
    if not text.strip():
        raise CliError('--from is empty: say what the picture shows')
    return str(imageops.save_input(picture, "source")), text


def _base(args: argparse.Namespace, source_file: str) -> GenerationRequest:
    """The shared options as a request on the picture (its own size; no seed: inversion is deterministic)."""
    from PIL import Image

    with Image.open(source_file) as picture:
        width, height = picture.size
    args.prompt, args.seed, args.width, args.height = args.to, 0, width, height
    args.guidance_rescale, args.scheduler = None, "DDIM"
    return base_request(args, init_image=source_file, mode="textdiff", source_prompt=args.to,
                        target_prompt=args.to)
