"""`studio strip PROMPT_A --to-prompt PROMPT_B -o OUT.webp`: frames walking from one prompt to another.

Each frame is a blend request on the same engine as `studio generate`; the strip is written as an
animated WebP/GIF, one side-by-side PNG, or numbered PNGs when -o is a folder (each with its own
parameters and its place on the walk, "A→B 40%", embedded).
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from studio.cli._output import (
    EXIT_BAD_INPUT,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    CliError,
    error,
    existing_folder,
    folder_to_fill,
    warning,
)
from studio.cli._threads_arg import add_threads_argument, apply_threads
from studio.cli.generate import ProgressLine, base_request
from studio.core.events import Cancelled, Event, Finished, JobWarning, Loading, Progress
from studio.core.request import (
    BLEND_MODES,
    BUNDLED_GUIDANCE,
    DEFAULT_GUIDANCE,
    SCHEDULERS,
    GenerationRequest,
    RequestError,
)
from studio.core.settings import load_settings

FORMATS = (".webp", ".gif", ".png")


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "strip",
        help="render frames walking from one prompt to another",
        description="Render N frames that walk from PROMPT_A to PROMPT_B (same seed, mixed text "
        "embeddings) and write them as an animation, a side-by-side PNG, or numbered PNGs.",
    )
    parser.add_argument("prompt", metavar="PROMPT_A", help="where the strip starts")
    parser.add_argument("--to-prompt", required=True, metavar="PROMPT_B", help="where the strip ends")
    parser.add_argument(
        "-o", "--output", required=True, type=Path,
        help="OUT.webp or OUT.gif (animated), OUT.png (frames side by side), or a folder (numbered PNGs)",
    )
    parser.add_argument("--frames", type=int, default=8, help="number of frames, ends included (default: 8)")
    parser.add_argument("--seed", type=int, default=None, help="noise seed (default: random, printed)")
    parser.add_argument("--seed-b", type=int, default=None, metavar="N", help="also walk the noise to this seed")
    parser.add_argument("--negative", default="", help="what to keep out of every frame")
    parser.add_argument("--steps", type=int, default=20, help="denoising steps (default: 20)")
    add_threads_argument(parser)
    parser.add_argument("--guidance", type=float, default=None,
                        help=f"prompt guidance scale (default: {BUNDLED_GUIDANCE:g} on the bundled model, "
                             f"{DEFAULT_GUIDANCE:g} on others)")
    parser.add_argument("--guidance-rescale", type=float, default=None, metavar="PHI",
                        help="0-1: tames the burnt colours of strong guidance (default: the model's own; on "
                        "zero-terminal-SNR models such as the bundled one 0 at guidance 2 rising to 0.7 at 5)")
    parser.add_argument("--width", type=int, default=None, help="pixels (default: the model's native size)")
    parser.add_argument("--height", type=int, default=None, help="pixels (default: the model's native size)")
    parser.add_argument(
        "--scheduler", default="Euler", metavar="NAME",
        help=f"sampler: {', '.join(SCHEDULERS)} (default: Euler; deterministic samplers give smoother strips)",
    )
    parser.add_argument("--mix-mode", choices=BLEND_MODES, default="slerp", help="how prompts mix (default: slerp)")
    parser.add_argument("--model", default="", metavar="PATH", help="a diffusers model folder (default: the bundled model)")
    parser.add_argument("--fps", type=float, default=8.0, help="frames per second of an animation (default: 8)")


def run(args: argparse.Namespace) -> int:
    from studio.engine.strip import strip_requests

    apply_threads(args)
    try:
        if not args.fps > 0:
            raise CliError(f"--fps must be above 0 (got {args.fps:g})")
        check_target(args.output)
        base = build_base_request(args)
        requests = strip_requests(base, args.to_prompt, args.frames, args.seed_b)
    except (CliError, RequestError) as exc:
        return error(str(exc), EXIT_BAD_INPUT)
    if args.seed is None:
        print(f"seed: {base.seed}")
    return render_and_write(requests, args.output, args.fps)


def check_target(path: Path) -> None:
    """CliError unless `path` is an animation/PNG file name or a folder we can write into (made
    when only its last level is missing)."""
    is_folder = path.is_dir() or not path.suffix
    if not is_folder and path.suffix.lower() not in FORMATS:
        raise CliError(f"cannot write a strip as {path.suffix!r}; use .webp, .gif, .png or a folder")
    folder = folder_to_fill(path, "-o") if is_folder else existing_folder(path)
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        raise CliError(f"cannot write into {folder}: {exc.strerror or exc}") from None


def build_base_request(args: argparse.Namespace) -> GenerationRequest:
    return base_request(args, blend_mode=args.mix_mode)


def render_and_write(requests: list[GenerationRequest], output: Path, fps: float) -> int:
    from studio.engine.backend import create_engine
    from studio.engine.jobs import UserError
    from studio.engine.strip import export_strip, render_strip_events

    engine = create_engine(load_settings())
    line = ProgressLine()
    frames = len(requests)
    start = time.perf_counter()

    def show(frame: int, event: Event) -> None:
        if isinstance(event, Loading):
            line.show(event.message + ("" if event.fraction == 1.0 else "..."))
        elif isinstance(event, Progress):
            line.show(f"frame {frame + 1}/{frames}  step {event.step}/{event.total}")
        elif isinstance(event, JobWarning):
            line.end()
            warning(event.message)
        elif isinstance(event, (Finished, Cancelled)) and frame == frames - 1:
            line.end()

    try:
        finished = render_strip_events(engine, requests, show)
        images = [event.image for event in finished]
        paths = export_strip(images, output, fps, [event.request for event in finished],
                             [event.info for event in finished])
    except UserError as exc:
        line.end()
        return error(str(exc), EXIT_ERROR)
    except KeyboardInterrupt:  # render_strip has cancelled what was left
        line.end()
        return error("cancelled", EXIT_INTERRUPTED)
    finally:
        engine.shutdown()
    where = output if len(paths) == 1 else f"{output}/ ({len(paths)} PNGs)"
    width, height = images[0].size
    print(f"wrote {where} ({frames} frames, {width}x{height}, seed {requests[0].seed}, "
          f"{time.perf_counter() - start:.1f} s)")
    return 0
