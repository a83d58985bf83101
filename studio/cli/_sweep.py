"""Running many pictures from the command line (`studio grid`, `studio generate --count`): a sweep's
cells as ordinary jobs on the chosen executor, one progress line on stderr, each cell written and
recorded as soon as it finishes (a cancelled run keeps every finished cell), Ctrl-C cancels the
cells still to come.
"""

from __future__ import annotations

import argparse
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

from studio.cli._executor_args import make_executor
from studio.cli._output import (
    EXIT_BAD_INPUT,
    EXIT_ERROR,
    EXIT_INTERRUPTED,
    CliError,
    error,
    warning,
)
from studio.cli.generate import ProgressLine, add_result, encode_with_parameters
from studio.core.atomic import atomic_write_bytes
from studio.core.events import Event, Failed, Finished, JobWarning, Loading, Progress
from studio.core.request import GenerationRequest, RequestError
from studio.core.sweep import Cell, Sweep

if TYPE_CHECKING:
    from studio.engine.sweep_run import SweepState
    from studio.gallery import Gallery

Index = tuple[int, int, int]
CANCEL_WAIT_S = 120.0  # a cancel reaches a running job within a denoising step; Ray may take longer


class SweepOutcome:
    """What a run left: the finished cells (with their gallery ids) and whether it was cut short."""

    def __init__(self, total: int) -> None:
        self.total = total
        self.finished: dict[Index, Finished] = {}
        self.record_ids: dict[Index, int] = {}
        self.failed: dict[Index, str] = {}
        self.interrupted = False

    def exit_code(self, what: str = "cells") -> int:
        """0, or the one-line error of a run cut short or with failed cells."""
        done = len(self.finished)
        if self.interrupted:
            return error(f"cancelled: {done} of {self.total} {what} finished and were kept", EXIT_INTERRUPTED)
        if self.failed:
            first = next(iter(self.failed.values()))
            return error(f"{len(self.failed)} of {self.total} {what} failed: {first}", EXIT_ERROR)
        return 0


def run_sweep(sweep: Sweep, args: argparse.Namespace, gallery: Gallery | None,
              write_cell: Callable[[Cell, Finished], None] | None = None) -> SweepOutcome:
    """Run every cell on the executor `args` asks for; each finished cell is handed to `write_cell`
    and recorded in `gallery` (when given) at once. CliError before anything runs."""
    from studio.engine.sweep_run import SweepRun

    outcome = SweepOutcome(sweep.count)
    executor = make_executor(args)
    line = ProgressLine()
    lock = threading.Lock()
    shown: dict = {"step": "", "started": None}  # the pace counts from the first step, not the load

    def on_cell(cell: Cell, event: Event) -> None:
        if isinstance(event, Finished):
            outcome.finished[cell.index] = event
            if write_cell is not None:
                write_cell(cell, event)
            record_id = _record(gallery, event, line)
            if record_id is not None:
                outcome.record_ids[cell.index] = record_id
        elif isinstance(event, Failed):
            outcome.failed[cell.index] = event.message

    def listen(event: Event) -> None:
        with lock:
            if isinstance(event, Loading):
                line.show(event.message + ("" if event.fraction == 1.0 else "..."))
            elif isinstance(event, Progress):
                shown["step"] = f"step {event.step}/{event.total}"
                if shown["started"] is None:
                    shown["started"] = (time.perf_counter() - event.elapsed, run.state.fraction)
                _show(line, run.state, shown)
            elif isinstance(event, JobWarning):
                line.end()
                warning(event.message)

    run = SweepRun(sweep, executor, on_cell=on_cell)
    unsubscribe = executor.subscribe(listen)
    try:
        run.start()
        try:
            while not run.wait(0.2):
                pass
        except KeyboardInterrupt:
            outcome.interrupted = True
            line.show("cancelling the remaining cells...")
            run.cancel()
            if not run.wait(CANCEL_WAIT_S):
                warning("the engine did not stop in time; writing what has finished")
    finally:
        unsubscribe()
        line.end()
        executor.shutdown()
    outcome.interrupted = outcome.interrupted or bool(run.state.cancelled)
    return outcome


def _show(line: ProgressLine, state: SweepState, shown: dict) -> None:
    """'cell 3/8, step 12/20, ETA 40 s' (or '2/8 cells done, 2 running, 31%, ETA 40 s' when
    several run at once): the ETA of the whole sweep from its pace so far."""
    started, at = shown["started"]
    fraction, elapsed = state.fraction, time.perf_counter() - started
    done = fraction - at
    eta = f", ETA {elapsed * (1 - fraction) / done:.0f} s" if done > 0.02 else ""
    running = len(state.steps)
    if running > 1:  # several actors at once: their steps interleave, so say the sweep's share
        line.show(f"{state.done}/{state.total} cells done, {running} running, {fraction:.0%}{eta}")
        return
    cell = min(state.done + 1, state.total)
    line.show(f"cell {cell}/{state.total}, {shown['step']}{eta}")


def _record(gallery: Gallery | None, result: Finished, line: ProgressLine) -> int | None:
    """Record one finished picture; a gallery problem is a warning (its file is written)."""
    if gallery is None:
        return None
    from studio.gallery import GalleryError

    try:
        return add_result(gallery, result).id
    except GalleryError as exc:
        line.end()
        warning(f"not recorded in the gallery: {exc}")
        return None


def open_gallery(args: argparse.Namespace) -> Gallery | None:
    """The gallery to record into, or None with --no-gallery or when it cannot open (a warning)."""
    if args.no_gallery:
        return None
    from studio.gallery import Gallery, GalleryError

    try:
        gallery = Gallery.open()
    except GalleryError as exc:
        warning(f"pictures will not be recorded in the gallery: {exc}")
        return None
    if gallery.notice:
        warning(gallery.notice)
    return gallery


def stack_batch(gallery: Gallery | None, outcome: SweepOutcome) -> None:
    """A batch lists in the gallery as one tile: its pictures stacked under the first recorded."""
    ids = [outcome.record_ids[k] for k in sorted(outcome.record_ids)]
    if gallery is None or len(ids) < 2:
        return
    from studio.gallery import GalleryError

    try:
        gallery.make_stack(ids[0], ids[1:])
    except GalleryError as exc:
        warning(f"the batch is not stacked in the gallery: {exc}")


def numbered(path: Path, number: int | str) -> Path:
    """OUT.png -> OUT-3.png."""
    return path.with_name(f"{path.stem}-{number}{path.suffix}")


def write_picture(path: Path, result: Finished, image_format: str) -> None:
    try:
        atomic_write_bytes(path, encode_with_parameters(result, image_format))
    except OSError as exc:
        warning(f"cannot write {path}: {exc.strerror or exc}")


def run_batch(args: argparse.Namespace, request: GenerationRequest, image_format: str) -> int:
    """`studio generate --count N`: N pictures, seeds counting up, OUT-1 ... OUT-N (N = 1: OUT)."""
    count = 1 if args.count is None else args.count
    try:
        sweep = Sweep.batch(request, count).validate()
    except RequestError as exc:
        return error(str(exc), EXIT_BAD_INPUT)

    def target(cell: Cell) -> Path:
        return args.output if count == 1 else numbered(args.output, cell.x + 1)

    def write(cell: Cell, result: Finished) -> None:
        write_picture(target(cell), result, image_format)

    gallery = open_gallery(args)
    try:
        outcome = run_sweep(sweep, args, gallery, write)
        stack_batch(gallery, outcome)
    except (CliError, RequestError) as exc:
        return error(str(exc), EXIT_ERROR)
    finally:
        if gallery is not None:
            gallery.close()
    if outcome.finished:
        first = args.output if count == 1 else numbered(args.output, "1")
        names = first if count == 1 else f"{first} ... {numbered(args.output, count).name}"
        print(f"wrote {names} ({len(outcome.finished)} of {count}, seeds {request.seed}-{request.seed + count - 1})")
    return outcome.exit_code("pictures")
