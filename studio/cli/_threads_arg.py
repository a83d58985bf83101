"""`--threads N` for the commands that run the engine: torch's CPU threads for this run (the
engine reads STUDIO_THREADS, which wins over settings.json's `threads`)."""

from __future__ import annotations

import argparse
import os


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"give a whole number of threads, 1 or more (got {text!r})")
    return int(text)


def add_threads_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--threads", type=_positive, metavar="N",
                        help="CPU threads for torch (default: the machine's physical cores, or "
                        "settings.json's threads; also STUDIO_THREADS)")


def apply_threads(args: argparse.Namespace) -> None:
    if getattr(args, "threads", None):
        os.environ["STUDIO_THREADS"] = str(args.threads)
