"""What the `studio` command says, and how: one place for its messages, exit codes and quiet.

- Errors are one line, `studio: error: ...`; warnings `studio: warning: ...`.
- Exit status: 0 done, 1 a failure, 2 bad usage (argparse's own errors included), 130 Ctrl-C.
- argparse's errors are one line naming the command's --help, not its usage dump.
- A stdout closed early (`| head`) ends the command quietly, exit status 0: the reader has what
  it wanted.
- Libraries' logging and Python warnings are not shown (the artist cannot act on them), Studio's
  own warnings are, as one line each; `--verbose` or STUDIO_DEBUG=1 shows everything, with
  tracebacks.
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import os
import sys
import warnings
from collections.abc import Iterator
from pathlib import Path
from typing import NoReturn

EXIT_OK = 0
EXIT_ERROR = 1
EXIT_BAD_INPUT = 2
EXIT_INTERRUPTED = 130
DEBUG_ENV = "STUDIO_DEBUG"
# The libraries' own switches: read when they first configure their loggers, so set before import.
_LIBRARY_VERBOSITY = ("DIFFUSERS_VERBOSITY", "TRANSFORMERS_VERBOSITY")
_LIBRARY_LOGGERS = ("diffusers", "transformers", "huggingface_hub", "accelerate", "PIL", "torch")


class CliError(Exception):
    """A one-line message for `studio: error: ...` (bad usage: exit status 2)."""


def one_line(text: object) -> str:
    return " ".join(str(text).split())


def error(message: object, code: int = EXIT_ERROR) -> int:
    """Say `studio: error: message` on stderr; returns `code` for the caller to exit with."""
    _say(f"studio: error: {one_line(message)}")
    return code


def warning(message: object) -> None:
    _say(f"studio: warning: {one_line(message)}")


def _say(line: str) -> None:
    try:
        print(line, file=sys.stderr, flush=True)
    except (BrokenPipeError, ValueError):
        pass  # nowhere left to say it


class Parser(argparse.ArgumentParser):
    """argparse with one-line errors: `studio: error: MESSAGE (see studio CMD --help)`, exit 2.
    Subcommand parsers are made of the same class (argparse's default for add_subparsers)."""

    def error(self, message: str) -> NoReturn:
        self.exit(EXIT_BAD_INPUT, f"studio: error: {one_line(message)} (see {self.prog} --help)\n")


def debugging(verbose: bool = False) -> bool:
    return verbose or os.environ.get(DEBUG_ENV, "").strip() not in ("", "0")


@contextlib.contextmanager
def quiet_output(verbose: bool = False) -> Iterator[None]:
    """Show Studio's warnings and hide the libraries' chatter while the command (or the window)
    runs; with `verbose` (or STUDIO_DEBUG=1) every log record goes to stderr, tracebacks included.
    Everything is put back afterwards, so that main() can be called in-process (tests)."""
    root = logging.getLogger()
    saved_levels = {name: logging.getLogger(name).level for name in ("", *_LIBRARY_LOGGERS)}
    saved_env = {name: os.environ.get(name) for name in _LIBRARY_VERBOSITY}
    handler = _StudioHandler(debug=debugging(verbose))
    with warnings.catch_warnings():
        if handler.debug:
            root.setLevel(logging.DEBUG)
        else:
            for name in _LIBRARY_VERBOSITY:
                os.environ.setdefault(name, "error")
            for name in _LIBRARY_LOGGERS:  # those already imported keep this level
                logging.getLogger(name).setLevel(logging.ERROR)
            if root.level == logging.NOTSET or root.level > logging.WARNING:
                root.setLevel(logging.WARNING)
            # No Python warnings from libraries (deprecations, "should be kept in float32"...),
            # but those of Studio's own modules; the filter added last is checked first.
            warnings.filterwarnings("ignore")
            warnings.filterwarnings("default", module=r"studio(\.|$)")
            warnings.showwarning = _show_warning  # put back by catch_warnings
        root.addHandler(handler)
        try:
            yield
        finally:
            root.removeHandler(handler)
            for name, level in saved_levels.items():
                logging.getLogger(name).setLevel(level)
            for name, value in saved_env.items():
                if value is None:
                    os.environ.pop(name, None)
                else:
                    os.environ[name] = value


def _show_warning(message: Warning | str, category: type[Warning], filename: str, lineno: int,
                  file: object = None, line: str | None = None) -> None:
    warning(message)


class _StudioHandler(logging.Handler):
    """Quiet: Studio's own warnings as one line each; errors are left to the command, which says
    them once (a failed job arrives as an event), and other loggers are not shown. Debug: all."""

    def __init__(self, debug: bool) -> None:
        super().__init__(logging.DEBUG if debug else logging.WARNING)
        self.debug = debug
        if debug:
            self.setFormatter(logging.Formatter("studio: %(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        try:
            if self.debug:
                _say(self.format(record))
            elif record.levelno == logging.WARNING and _is_studio(record.name):
                warning(record.getMessage())
        except Exception:  # noqa: BLE001 - logging must never end the command
            self.handleError(record)


def _is_studio(name: str) -> bool:
    return name == "studio" or name.startswith("studio.")


def end_on_closed_pipe() -> int:
    """After `| head` closed stdout: point it at devnull, so that the interpreter's last flush
    raises no BrokenPipeError traceback. Returns the exit status (0: the reader is done)."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (AttributeError, OSError, ValueError):
        pass  # not a real file (tests capture stdout): nothing will flush there
    return EXIT_OK


def existing_folder(path: Path, what: str = "-o") -> Path:
    """The folder `path` goes into; CliError naming it when it does not exist or is a file.
    Studio never creates folders the artist did not ask for (a typo would scatter files)."""
    folder = path.parent if str(path.parent) else Path(".")
    if folder.is_dir():
        return folder
    if folder.exists():
        raise CliError(f"cannot write into {folder}: it is a file, not a folder")
    raise CliError(f"the folder {folder} does not exist; create it first or give another {what}")


def folder_to_fill(path: Path, what: str) -> Path:
    """A folder the command writes files into (`--to DIR`, a strip's frames): made when only its
    last level is missing, so `--to exports` works, and CliError naming a missing parent."""
    if path.is_dir():
        return path
    if path.exists():
        raise CliError(f"cannot write into {path}: it is a file, not a folder")
    existing_folder(path, what)
    try:
        path.mkdir()
    except OSError as exc:
        raise CliError(f"cannot create the folder {path}: {exc.strerror or exc}") from None
    return path
