"""`studio grid PROMPT --x AXIS=VALUES [--y ...] [--z ...] -o OUT.png`: an X/Y/Z plot.

Every cell is an ordinary job (studio.engine.sweep_run) on this process's engine or a Ray cluster
(--ray); the grid image has the axis values on its edges (studio.engine.grid_image) and embeds the
sweep and the command that makes it again. In the gallery the grid is one record whose children
are its cells (studio.gallery.grids); each cell is recorded as soon as it finishes.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path
from typing import TYPE_CHECKING

from studio.cli._executor_args import add_executor_arguments
from studio.cli._output import (
    EXIT_BAD_INPUT,
    EXIT_ERROR,
    CliError,
    error,
    folder_to_fill,
    warning,
)
from studio.cli._sweep import SweepOutcome, numbered, open_gallery, run_sweep, write_picture
from studio.cli._threads_arg import apply_threads
from studio.cli.generate import add_request_arguments, build_request, check_output
from studio.core.atomic import atomic_write_bytes
from studio.core.events import Finished
from studio.core.request import RequestError
from studio.core.sweep import AXIS_HELP, Axis, Cell, Sweep

if TYPE_CHECKING:
    from studio.gallery import Gallery

GRID_FORMATS = {"PNG": "png", "JPEG": "jpg", "WEBP": "webp"}
_AXES = "; ".join(f"{name}: {text}" for name, text in AXIS_HELP.items())


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "grid",
        help="an X/Y/Z plot: one prompt over up to three axes of values",
        description="Make a grid of pictures: the prompt with up to three settings varied, values "
        "comma-separated (ranges: seed=1-8, guidance=3-9:4 for four evenly spaced values), one "
        f"picture per combination, labelled on the edges. Axes: {_AXES}.",
    )
    parser.add_argument("prompt", help="what to draw")
    parser.add_argument("--x", required=True, metavar="AXIS=VALUES",
                        help='the columns, e.g. --x "prompt=red,green" (the first value is replaced in the prompt)')
    parser.add_argument("--y", metavar="AXIS=VALUES", help="the rows, e.g. --y seed=1,2")
    parser.add_argument("--z", metavar="AXIS=VALUES",
                        help="one grid per value: written as OUT-1.png, OUT-2.png ... in the order of the values")
    parser.add_argument("-o", "--output", required=True, type=Path,
                        help="the grid image (.png, .jpg, .webp); with --z, OUT-1.png, OUT-2.png ...")
    parser.add_argument("--cells", type=Path, metavar="DIR",
                        help="also write every cell as its own PNG into DIR (made if only it is missing), "
                        "named OUT-x1-y2.png (plus -z1 with --z), with its parameters embedded")
    add_request_arguments(parser)
    add_executor_arguments(parser)


def build_sweep(args: argparse.Namespace) -> Sweep:
    """The sweep the options describe, every cell checked; RequestError/CliError, one line."""
    base = build_request(args)
    axes = [Axis.parse(text) if text is not None else None for text in (args.x, args.y, args.z)]
    return Sweep(base, axes[0], axes[1], axes[2]).validate()  # type: ignore[arg-type]


def run(args: argparse.Namespace) -> int:
    apply_threads(args)
    try:
        image_format = check_output(args.output)
        if image_format not in GRID_FORMATS:
            raise CliError(f"cannot write a grid as {args.output.suffix!r}; end -o in .png, .jpg or .webp")
        cells_dir = folder_to_fill(args.cells, "--cells") if args.cells is not None else None
        sweep = build_sweep(args)
    except (CliError, RequestError) as exc:
        return error(str(exc), EXIT_BAD_INPUT)
    if args.seed is None:
        print(f"seed: {sweep.base.seed}")
    start = time.perf_counter()

    def write_cell(cell: Cell, result: Finished) -> None:
        if cells_dir is not None:
            write_picture(cells_dir / cell_name(args.output, cell, sweep.z is not None), result, "PNG")

    gallery = open_gallery(args)
    try:
        try:
            outcome = run_sweep(sweep, args, gallery, write_cell)
        except (CliError, RequestError) as exc:
            return error(str(exc), EXIT_ERROR)
        written = write_grids(sweep, outcome, args.output, image_format, gallery)
    finally:
        if gallery is not None:
            gallery.close()
    columns, rows, grids = sweep.shape
    if written:
        where = written[0] if len(written) == 1 else f"{written[0]} ... {written[-1].name}"
        print(f"wrote {where} ({grids} × {columns}x{rows} cells, {len(outcome.finished)} of {sweep.count} "
              f"finished, {time.perf_counter() - start:.1f} s)")
    return outcome.exit_code()


def cell_name(output: Path, cell: Cell, with_z: bool) -> str:
    z = f"-z{cell.z + 1}" if with_z else ""
    return f"{output.stem}-x{cell.x + 1}-y{cell.y + 1}{z}.png"


def write_grids(sweep: Sweep, outcome: SweepOutcome, output: Path, image_format: str,
                gallery: Gallery | None) -> list[Path]:
    """Compose each grid from the finished cells (placeholders for the rest), write it with the
    sweep embedded and record it with its cells as children. Nothing when no cell finished."""
    from studio.engine.grid_image import compose_grid
    from studio.gallery.export import ExportError, encode_image
    from studio.gallery.grids import grid_info, grid_request, record_grid

    if not outcome.finished:
        return []
    _, _, grids = sweep.shape
    engine = next(iter(outcome.finished.values())).info
    written = []
    for z in range(grids):
        images = {(x, y): done.image for (x, y, cz), done in outcome.finished.items() if cz == z}
        image = compose_grid(sweep, z, images)
        path = output if grids == 1 else numbered(output, z + 1)
        try:
            data = encode_image(image, grid_request(sweep, z), grid_info(sweep, z, engine),
                                GRID_FORMATS[image_format])
            atomic_write_bytes(path, data)
            written.append(path)
        except (OSError, ExportError) as exc:
            warning(f"cannot write {path}: {getattr(exc, 'strerror', None) or exc}")
        ids = {(x, y): i for (x, y, cz), i in outcome.record_ids.items() if cz == z}
        if gallery is not None and ids:
            from studio.gallery import GalleryError

            try:
                record_grid(gallery, sweep, z, image, ids, engine)
            except GalleryError as exc:
                warning(f"grid not recorded in the gallery: {exc}")
    return written
