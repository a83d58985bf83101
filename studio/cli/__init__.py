"""The `studio` command: no arguments opens the window; subcommands script the same engine.
`studio IMAGE...` opens the window with the first image on the canvas (a desktop's "Open with").

Each subcommand lives in its own module with `add_parser(subparsers)` and `run(args) -> int`,
imported only when used so that `studio --help` and the window start fast. How the command
speaks (one-line errors, exit codes, a closed pipe, quiet libraries) is studio/cli/_output.py.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from studio import __version__
from studio.cli._output import (
    EXIT_INTERRUPTED,
    Parser,
    end_on_closed_pipe,
    error,
    quiet_output,
)

# subcommand -> module holding add_parser() and run()
SUBCOMMANDS = {
    "generate": "studio.cli.generate",
    "strip": "studio.cli.strip",
    "textdiff": "studio.cli.textdiff",
    "grid": "studio.cli.grid",
    "gallery": "studio.cli.gallery",
    "models": "studio.cli.models",
    "inspect": "studio.cli.inspect",
    "doctor": "studio.cli.doctor",
}
# What `studio IMAGE` opens even when the file is missing (the window then says so); any other
# word must be an existing file, so that a mistyped subcommand still gets argparse's error.
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
_VERBOSE = ("-v", "--verbose")


def build_parser() -> argparse.ArgumentParser:
    parser = Parser(
        prog="studio",
        description="Make images with diffusion models on your own machine. "
        "With no command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"studio {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="show every log message, tracebacks included (also: STUDIO_DEBUG=1)")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for module_name in SUBCOMMANDS.values():
        try:
            module = importlib.import_module(module_name)
        except ModuleNotFoundError as exc:
            if exc.name != module_name:
                raise
            continue  # a subcommand not built yet
        module.add_parser(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else argv)
    except BrokenPipeError:  # `studio ... | head` closed stdout
        return end_on_closed_pipe()


def _main(argv: list[str]) -> int:
    if not argv:
        return _window()
    images = _images(argv)
    if images:
        return _window(any(a in _VERBOSE for a in argv), images)
    try:
        args = build_parser().parse_args(argv)
    except SystemExit:  # --help, --version or bad usage: what was printed must reach a pipe now
        sys.stdout.flush()
        raise
    if args.command is None:
        return _window(args.verbose)
    module = importlib.import_module(SUBCOMMANDS[args.command])
    with quiet_output(args.verbose):
        try:
            code = int(module.run(args) or 0)
            sys.stdout.flush()  # here, so that a closed pipe is met while it can be handled
            return code
        except KeyboardInterrupt:
            return error("interrupted", EXIT_INTERRUPTED)


def _images(argv: list[str]) -> list[str]:
    """The image paths of `studio [-v] IMAGE...`; [] when the first word is a subcommand, an
    option or neither an existing file nor an image's name."""
    words = [a for a in argv if a not in _VERBOSE]
    if not words or words[0] in SUBCOMMANDS or words[0].startswith("-"):
        return []
    first = Path(words[0])
    if first.is_file() or first.suffix.lower() in IMAGE_SUFFIXES:
        return words
    return []


def _window(verbose: bool = False, images: list[str] | None = None) -> int:
    from studio.ui.app import run_app

    with quiet_output(verbose):
        return run_app(images=images)
