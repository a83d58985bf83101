"""`--ray ADDRESS` and `--actors N` for the commands that run many pictures (grid, generate --count):
where the jobs run. Without them (and without STUDIO_RAY_ADDRESS) the engine runs in this process."""

from __future__ import annotations

import argparse
import os
from typing import TYPE_CHECKING

from studio.cli._output import CliError

if TYPE_CHECKING:
    from studio.engine.executor import Executor

RAY_ENV = "STUDIO_RAY_ADDRESS"


def _positive(text: str) -> int:
    if not text.isdigit() or int(text) < 1:
        raise argparse.ArgumentTypeError(f"give a whole number of actors, 1 or more (got {text!r})")
    return int(text)


def add_executor_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--ray", default=None, metavar="ADDRESS",
                        help="run the pictures on a Ray cluster at ADDRESS ('local' starts one on this "
                        f"machine; default: ${RAY_ENV}, else this process). Needs pip install -e '.[ray]'")
    parser.add_argument("--actors", type=_positive, default=None, metavar="N",
                        help="Ray actors, each holding a loaded model (default: one per GPU, else a few on CPU)")


def ray_address(args: argparse.Namespace) -> str:
    """The Ray address asked for ('' = run here): --ray, else STUDIO_RAY_ADDRESS."""
    return (getattr(args, "ray", None) or os.environ.get(RAY_ENV, "")).strip()


def make_executor(args: argparse.Namespace) -> Executor:
    """The executor the options ask for; CliError (one line) when Ray is missing or unreachable."""
    from studio.core.settings import load_settings

    settings = load_settings()
    address = ray_address(args)
    if not address:
        if getattr(args, "actors", None):
            raise CliError("--actors needs --ray ADDRESS (or STUDIO_RAY_ADDRESS)")
        from studio.engine.backend import create_engine

        return create_engine(settings)
    try:
        from studio.engine.ray_executor import RayExecutor
    except ImportError as exc:
        missing = getattr(exc, "name", "") or "ray"
        what = "this Studio has no Ray executor" if missing.startswith("studio") else f"{missing} is not installed"
        raise CliError(f"--ray needs Ray, and {what}: pip install -e '.[ray]', or leave out --ray "
                       "to run here") from None
    from studio.engine.jobs import UserError

    try:
        return RayExecutor(address, actors=args.actors, settings=settings)
    except UserError as exc:  # the executor's own line: Ray missing, the cluster unreachable
        raise CliError(f"{exc}; or leave out --ray to run here") from None
    except Exception as exc:  # noqa: BLE001 - whatever Ray raises, the artist gets one line
        text = " ".join(str(exc).split()) or type(exc).__name__
        raise CliError(f"cannot start the Ray executor at {address!r}: {text[:300]}") from None
