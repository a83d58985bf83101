"""The `studio` command: no arguments opens the window; subcommands script the same engine.

Each subcommand lives in its own module with `add_parser(subparsers)` and `run(args) -> int`,
imported only when used so that `studio --help` and the window start fast.
"""

from __future__ import annotations

import argparse
import importlib
import sys

from studio import __version__
from studio.cli._output import StudioArgumentParser, end_quietly_on_closed_pipe, quiet_logging

# subcommand -> module holding add_parser() and run()
SUBCOMMANDS = {
    "generate": "studio.cli.generate",
    "strip": "studio.cli.strip",
    "gallery": "studio.cli.gallery",
    "models": "studio.cli.models",
    "inspect": "studio.cli.inspect",
}


def build_parser() -> argparse.ArgumentParser:
    parser = StudioArgumentParser(
        prog="studio",
        description="Make images with diffusion models on your own machine. "
        "With no command, opens the window.",
    )
    parser.add_argument("--version", action="version", version=f"studio {__version__}")
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
    argv = sys.argv[1:] if argv is None else argv
    if not argv:
        from studio.ui.app import run_app

        return run_app()
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        from studio.ui.app import run_app

        return run_app()
    quiet_logging()
    module = importlib.import_module(SUBCOMMANDS[args.command])
    try:
        code = int(module.run(args) or 0)
        sys.stdout.flush()  # a closed pipe shows here, not at exit
        return code
    except BrokenPipeError:
        return end_quietly_on_closed_pipe()
    except KeyboardInterrupt:
        print("studio: interrupted", file=sys.stderr)
        return 130
