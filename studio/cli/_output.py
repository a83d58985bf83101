"""How the `studio` command speaks: one line per error (`studio: error: …`, exit status 2 for bad
usage, 1 for failures), `studio: warning: …` for warnings, nothing from libraries the user cannot
act on, and a quiet end when the reader of its output goes away (`studio gallery list | head`).
STUDIO_DEBUG=1 shows every library's log and every traceback instead."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import warnings
from typing import NoReturn

EXIT_FAILED = 1
EXIT_USAGE = 2
# Libraries whose warnings name internals a user cannot change (dtype choices, deprecations).
_QUIET_LOGGERS = ("diffusers", "transformers", "torch", "accelerate", "peft", "huggingface_hub", "PIL")


def error(message: str, code: int = EXIT_FAILED) -> int:
    print(f"studio: error: {message}", file=sys.stderr)
    return code


def warning(message: str) -> None:
    print(f"studio: warning: {message}", file=sys.stderr)


class StudioArgumentParser(argparse.ArgumentParser):
    """argparse, but a usage mistake is one line (the full usage stays behind --help)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_USAGE, f"studio: error: {message} (see '{self.prog} --help')\n")


class _OneLineToStderr(logging.Handler):
    """Studio's own warnings as `studio: warning: …` on the stderr of the moment, without the
    traceback a log record may carry."""

    def emit(self, record: logging.LogRecord) -> None:
        level = "error" if record.levelno >= logging.ERROR else "warning"
        lines = record.getMessage().splitlines() or [""]
        try:
            print(f"studio: {level}: {lines[0]}", file=sys.stderr)
        except (OSError, ValueError):
            pass


def quiet_logging() -> None:
    """Set up logging for a command: Studio's warnings in one line; libraries only when they fail.
    Under STUDIO_DEBUG, everything with tracebacks."""
    if os.environ.get("STUDIO_DEBUG"):
        logging.basicConfig(level=logging.DEBUG)
        return
    studio = logging.getLogger("studio")
    if not any(isinstance(h, _OneLineToStderr) for h in studio.handlers):
        studio.addHandler(_OneLineToStderr())
    studio.setLevel(logging.WARNING)
    for name in _QUIET_LOGGERS:
        logging.getLogger(name).setLevel(logging.ERROR)
    # A job that fails ends in a Failed event, which the command prints as its one line; the
    # queue's own log of it (with the traceback) is for STUDIO_DEBUG.
    logging.getLogger("studio.engine.jobs").setLevel(logging.CRITICAL)
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    os.environ.setdefault("DIFFUSERS_VERBOSITY", "error")
    warnings.filterwarnings("ignore", category=FutureWarning)
    warnings.filterwarnings("ignore", category=DeprecationWarning)
    warnings.filterwarnings("ignore", category=UserWarning, module=r"(torch|diffusers|transformers|peft)")


def end_quietly_on_closed_pipe() -> int:
    """The reader of stdout went away: stop writing there (also at exit) and end without noise."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
    except (OSError, ValueError):
        pass
    return 0
