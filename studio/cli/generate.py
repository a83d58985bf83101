"""`studio generate PROMPT -o OUT.png`: one image from the command line, through the same engine.

Bad input ends in one line, `studio: error: ...`, and a non-zero exit; the output is checked
before any model loads, so a typo in the path never costs a generation.
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from studio.cli._blend_args import add_blend_arguments, blend_fields
from studio.cli._edit_args import add_edit_arguments, edit_fields
from studio.cli._executor_args import add_executor_arguments
from studio.cli._output import (
    EXIT_BAD_INPUT,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    CliError,
    error,
    existing_folder,
    warning,
)
from studio.cli._threads_arg import add_threads_argument, apply_threads
from studio.core.atomic import atomic_write_bytes
from studio.core.events import Cancelled, Event, Failed, Finished, JobWarning, Loading, Progress
from studio.core.request import (
    BUNDLED_GUIDANCE,
    DEFAULT_GUIDANCE,
    SCHEDULERS,
    GenerationRequest,
    RequestError,
    default_guidance,
    random_seed,
)
from studio.core.settings import load_settings

if TYPE_CHECKING:
    from studio.gallery import Gallery, Record


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "generate",
        help="make one image from a prompt",
        description="Make one image from a prompt and write it to a file.",
    )
    parser.add_argument("prompt", help="what to draw")
    parser.add_argument("-o", "--output", required=True, type=Path,
                        help="image file to write (.png, .jpg, .webp); with --count N: OUT-1.png ... OUT-N.png")
    add_request_arguments(parser)
    parser.add_argument("--count", type=int, default=None, metavar="N",
                        help="a batch: N pictures, seeds counting up from --seed, written as OUT-1 ... OUT-N")
    add_executor_arguments(parser)


def add_request_arguments(parser: argparse.ArgumentParser, scheduler: str = "Euler a") -> None:
    """The options of every command that makes pictures (generate, grid): read by build_request."""
    parser.add_argument("--negative", default="", help="what to keep out of the image")
    parser.add_argument("--seed", type=int, default=None, help="noise seed (default: random, printed)")
    parser.add_argument("--steps", type=int, default=20, help="denoising steps (default: 20)")
    parser.add_argument("--guidance", type=float, default=None,
                        help=f"prompt guidance scale (default: {BUNDLED_GUIDANCE:g} on the bundled model, "
                             f"{DEFAULT_GUIDANCE:g} on others)")
    parser.add_argument("--guidance-rescale", type=float, default=None, metavar="PHI",
                        help="0-1: tames the burnt colours of strong guidance (default: the model's own; on "
                        "zero-terminal-SNR models such as the bundled one 0 at guidance 2 rising to 0.7 at 5)")
    parser.add_argument("--width", type=int, default=None, help="pixels, multiple of 8 (default: the model's native size)")
    parser.add_argument("--height", type=int, default=None, help="pixels, multiple of 8 (default: the model's native size)")
    parser.add_argument(
        "--scheduler", default=scheduler, metavar="NAME", help=f"sampler: {', '.join(SCHEDULERS)} (default: {scheduler})"
    )
    parser.add_argument("--model", default="", metavar="PATH",
                        help="a diffusers model folder or .safetensors file (default: the bundled model)")
    parser.add_argument("--config", default=None, metavar="PATH",
                        help="the original .yaml config (e.g. v1-inference.yaml) or a diffusers config folder "
                        "of a single-file --model; remembered for that file")
    parser.add_argument("--lora", action="append", default=[], metavar="PATH[:WEIGHT]",
                        help="a LoRA file and its weight (default 1); repeat for more")
    parser.add_argument("--no-gallery", action="store_true", help="do not record the images in the gallery")
    add_threads_argument(parser)
    add_edit_arguments(parser)  # issue 4: --init-image, --strength, --mask, --outpaint...
    add_blend_arguments(parser)  # issue 5: --blend, --mix, --mix-mode, --seed-b, --seed-mix


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    try:
        image_format = check_output(args.output)
        request = build_request(args)
    except (CliError, RequestError) as exc:
        return error(str(exc), EXIT_BAD_INPUT)
    if args.seed is None:
        print(f"seed: {request.seed}")
    if args.count is not None or args.ray:  # a batch, or one picture on Ray
        from studio.cli._sweep import run_batch

        return run_batch(args, request, image_format)

    result = generate(request)
    if isinstance(result, Failed):
        return error(result.message, EXIT_ERROR)
    if isinstance(result, Cancelled):
        return error("cancelled", EXIT_INTERRUPTED)

    # ---- issue 6: the parameters are embedded as in a gallery export (PNG text, EXIF UserComment) ----
    data = encode_with_parameters(result, image_format)
    try:
        atomic_write_bytes(args.output, data)
    except OSError as exc:
        return error(f"cannot write {args.output}: {exc.strerror or exc}", EXIT_ERROR)
    # ---- issue 6: record the image in the gallery, unless --no-gallery ----
    if not args.no_gallery:
        record_in_gallery(result)
    total = result.timings.get("total", 0.0)
    print(f"wrote {args.output} ({result.image.width}x{result.image.height}, seed {request.seed}, {total:.1f} s)")
    return 0


def check_output(path: Path) -> str:
    """The PIL format for `path`; CliError if it cannot be written there."""
    from PIL import Image

    image_format = Image.registered_extensions().get(path.suffix.lower())
    if image_format is None or image_format not in Image.SAVE:
        raise CliError(f"cannot tell the image format from {path.name!r}; end it in .png, .jpg or .webp")
    if path.is_dir():
        raise CliError(f"{path} is a folder; give a file name such as {path / 'image.png'}")
    folder = existing_folder(path)
    try:  # a real probe: permission bits say nothing on read-only mounts or for root
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise CliError(f"cannot write into {folder}: {exc.strerror or exc}") from None
    return image_format


def base_request(args: argparse.Namespace, **fields: object) -> GenerationRequest:
    """The request from the options every generating command shares, plus `fields`, validated.
    The size defaults to the model's native one, read from its configs without loading it."""
    from studio.engine.backend import native_size
    from studio.engine.jobs import UserError

    if getattr(args, "config", None) is not None:
        give_config(args.model, args.config)
    width, height = args.width, args.height
    if width is None or height is None:
        try:
            size = native_size(args.model)
        except UserError as exc:
            raise CliError(str(exc)) from None
        width = size if width is None else width
        height = size if height is None else height
    return GenerationRequest(
        prompt=args.prompt,
        negative_prompt=args.negative,
        seed=random_seed() if args.seed is None else args.seed,
        steps=args.steps,
        guidance_scale=default_guidance(args.model or "") if args.guidance is None else args.guidance,
        guidance_rescale=args.guidance_rescale,
        width=width,
        height=height,
        scheduler=args.scheduler,
        model=str(Path(args.model).expanduser()) if args.model else "",
        loras=tuple(lora_argument(text) for text in getattr(args, "lora", None) or ()),
        **fields,
    ).validate()


def give_config(model: str, config: str) -> None:
    """--config: check the single-file model with it and remember it; CliError (one line) if not."""
    from studio.engine.jobs import UserError
    from studio.engine.models import set_model_config

    if not model:
        raise CliError("--config is for a single-file model: give the file with --model too")
    try:
        set_model_config(model, config, load_settings())
    except UserError as exc:
        raise CliError(f"--config: {exc}") from None


def lora_argument(text: str) -> tuple[str, float]:
    """`PATH[:WEIGHT]` -> (path, weight); CliError (one line) for a file that is not there."""
    path, sep, weight = text.rpartition(":")
    try:
        value = float(weight) if sep and path else None
    except ValueError:
        value = None
    if value is None:  # no weight given, or a path with a colon in it
        path, value = text, 1.0
    found = Path(path).expanduser()
    if not found.is_file():
        raise CliError(f"--lora {text}: no LoRA file at {found}; give the path of a .safetensors file")
    return str(found), value


def build_request(args: argparse.Namespace) -> GenerationRequest:
    return base_request(args, **edit_fields(args), **blend_fields(args))


def generate(request: GenerationRequest) -> Finished | Failed | Cancelled:
    """Run one job on a fresh engine, drawing progress on one stderr line; Ctrl-C cancels it."""
    from studio.engine.backend import create_engine

    engine = create_engine(load_settings())
    done = threading.Event()
    outcome: list[Finished | Failed | Cancelled] = []
    line = ProgressLine()

    def listen(event: Event) -> None:
        if isinstance(event, Loading):
            line.show(event.message + ("" if event.fraction == 1.0 else "..."))
        elif isinstance(event, Progress):
            line.show(f"step {event.step}/{event.total}  ETA {event.eta:.0f} s")
        elif isinstance(event, JobWarning):
            line.end()
            warning(event.message)
        elif isinstance(event, (Finished, Failed, Cancelled)):
            outcome.append(event)
            done.set()

    engine.subscribe(listen)
    job_id = engine.submit(request)
    try:
        while not done.wait(0.2):
            pass
    except KeyboardInterrupt:
        line.show("cancelling...")
        engine.cancel(job_id)
        done.wait()
    finally:
        line.end()
        engine.shutdown()
    return outcome[0]


class ProgressLine:
    """One stderr line rewritten in place."""

    def __init__(self) -> None:
        self.width = 0

    def show(self, text: str) -> None:
        sys.stderr.write("\r" + text.ljust(self.width))
        sys.stderr.flush()
        self.width = max(self.width, len(text))

    def end(self) -> None:
        if self.width:
            sys.stderr.write("\n")
            sys.stderr.flush()
            self.width = 0


def encode(image, image_format: str) -> bytes:  # noqa: ANN001 - a PIL image
    buffer = io.BytesIO()
    image.save(buffer, format=image_format)
    return buffer.getvalue()


def encode_with_parameters(result: Finished, image_format: str) -> bytes:
    """PNG, JPEG and WebP carry the generation parameters exactly as a gallery export does."""
    from studio.gallery.export import ExportError, encode_image

    kinds = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
    if image_format not in kinds:
        return encode(result.image, image_format)
    try:
        return encode_image(result.image, result.request, result.info, kinds[image_format])
    except ExportError as exc:  # e.g. a prompt too long for a JPEG's EXIF: keep the image anyway
        warning(exc)
        return encode(result.image, image_format)


def record_in_gallery(result: Finished) -> None:
    """Add the image to the gallery; a gallery problem is a warning, the file is already written."""
    from studio.gallery import Gallery, GalleryError

    try:
        with Gallery.open() as gallery:
            if gallery.notice:
                warning(gallery.notice)
            add_result(gallery, result)
    except GalleryError as exc:
        warning(f"not recorded in the gallery: {exc}")


def add_result(gallery: Gallery, result: Finished) -> Record:
    """Record a finished picture; an edit's parent is the gallery picture its source came from, if
    any (as in the window). GalleryError when it cannot be recorded."""
    source = gallery.find_source(result.request.init_image) if result.request.init_image else None
    return gallery.add(result, parent_id=source.id if source else None)
