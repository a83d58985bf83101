"""Grids in the gallery: a sweep's grid image is one record whose children (lineage) are its cells,
and the head of their stack (one tile in the gallery).

The cells are recorded as they finish, each an ordinary picture with its own full request (so a
cancelled sweep never loses a finished cell, and each cell is exported and reused on its own);
the grid is recorded at the end and its cells then get it as their parent. The grid's info holds
the sweep as JSON with no local path (the base request as every Studio file writes it, models by
name) and the `studio grid ...` command that makes it again; it is embedded in the grid's gallery
file and in its exports under `studio-sweep`. The grid's file also lists its cells' file hashes,
so that the lineage survives a database rebuilt from the files (studio.gallery.heal).
"""

from __future__ import annotations

import json
import shlex
from collections.abc import Iterable, Mapping
from typing import TYPE_CHECKING, Any

from studio.core.metadata import SWEEP_KEY, model_hash, model_name
from studio.core.request import GenerationRequest, RequestError
from studio.core.shareable import name_only, shareable_dict
from studio.core.sweep import Sweep
from studio.gallery.db import GalleryError
from studio.gallery.heal import CHILDREN_KEY
from studio.gallery.query import Record

if TYPE_CHECKING:
    from PIL.Image import Image

    from studio.gallery.store import Gallery

CellIds = Mapping[tuple[int, int], int] | Iterable[int]


def grid_request(sweep: Sweep, z: int = 0) -> GenerationRequest:
    """The request a grid record carries: the sweep's base with this grid's Z value applied."""
    request = sweep.z.apply(sweep.base, z) if sweep.z is not None else sweep.base
    try:
        return request.validate()
    except RequestError:  # e.g. a size axis on Z: the base itself is always valid
        return sweep.base


def shareable_sweep(sweep: Sweep, model: str = "", digest: str = "") -> dict[str, Any]:
    """Sweep.to_dict() without local paths: the base request as files carry it, models by name."""
    data = sweep.to_dict()
    data["base"] = shareable_dict(sweep.base, model or sweep.base.model, digest)
    for key in ("x", "y", "z"):
        if key in data and data[key]["name"] == "model":
            data[key]["values"] = [name_only(v) if v != "default" else v for v in data[key]["values"]]
    return data


def grid_command(sweep: Sweep, output: str = "grid.png") -> str:
    """The `studio grid` command line that makes this sweep again (models by name, no folder)."""
    base = sweep.base
    words = ["studio", "grid", base.prompt]
    if base.negative_prompt:
        words += ["--negative", base.negative_prompt]
    words += ["--seed", str(base.seed), "--steps", str(base.steps), "--guidance", f"{base.guidance_scale:g}"]
    if base.guidance_rescale is not None:
        words += ["--guidance-rescale", f"{base.guidance_rescale:g}"]
    words += ["--width", str(base.width), "--height", str(base.height), "--scheduler", base.scheduler]
    if base.model:
        words += ["--model", name_only(base.model)]
    return " ".join(shlex.quote(w) for w in words) + f" {_axes(sweep)} -o {shlex.quote(output)}"


def _axes(sweep: Sweep) -> str:
    """sweep.arguments() with model folders named only by their last part."""
    parts = []
    for flag, key in (("--x", "x"), ("--y", "y"), ("--z", "z")):
        axis = getattr(sweep, key)
        if axis is None:
            continue
        text = axis.text()
        if axis.name == "model":
            text = "model=" + ",".join(name_only(axis.value_text(i)) for i in range(len(axis)))
        parts.append(f"{flag} {shlex.quote(text)}")
    return " ".join(parts)


def sweep_text(sweep: Sweep, z: int = 0, model: str = "", digest: str = "",
               cells: Mapping[tuple[int, int], str] | None = None) -> str:
    """The `studio-sweep` JSON of grid `z`: the sweep, which grid, the command, where each cell is."""
    data: dict[str, Any] = {"sweep": shareable_sweep(sweep, model, digest), "z": z,
                            "command": grid_command(sweep)}
    if cells:
        data["cells"] = {f"{x},{y}": digest for (x, y), digest in sorted(cells.items())}
    return json.dumps(data, sort_keys=True, ensure_ascii=False)


def sweep_from_text(text: str) -> tuple[Sweep, int]:
    """The sweep and Z index a `studio-sweep` text describes; RequestError (one line) if damaged."""
    try:
        data = json.loads(text)
        z = int(data.get("z", 0))
        sweep = Sweep.from_dict(data["sweep"])
    except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
        raise RequestError("this grid's sweep description is damaged") from None
    return sweep, z


def grid_info(sweep: Sweep, z: int = 0, engine: Mapping[str, Any] | None = None,
              cells: Mapping[tuple[int, int], str] | None = None) -> dict[str, Any]:
    """The info of grid `z` (what its files embed): the model as a cell's engine info names it,
    the sweep, and with `cells` ((x, y) -> the cell's gallery file hash) where its cells are."""
    engine = engine or {}
    request = grid_request(sweep, z)
    info: dict[str, Any] = {k: engine[k] for k in ("model_name", "model_hash") if k in engine}
    info[SWEEP_KEY] = sweep_text(sweep, z, model_name(request, info), model_hash(info), cells)
    info["grid"] = {"columns": sweep.shape[0], "rows": sweep.shape[1], "z": z}
    if cells:
        info[CHILDREN_KEY] = sorted(cells.values())
    return info


def record_grid(gallery: Gallery, sweep: Sweep, z: int, image: Image, cell_record_ids: CellIds,
                info: Mapping[str, Any] | None = None) -> Record:
    """Record grid `z` (its image) and make it the parent of the cells already recorded.

    `cell_record_ids` maps a cell's (x, y) to its gallery id (or lists the ids); cells that failed
    or were cancelled are simply absent. `info`: a cell's engine info (model name and hash),
    by default the first cell's."""
    if isinstance(cell_record_ids, Mapping):
        placed = {(int(x), int(y)): int(i) for (x, y), i in cell_record_ids.items()}
        ids = list(placed.values())
    else:
        placed, ids = {}, [int(i) for i in cell_record_ids]
    cells = {i: gallery.get(i) for i in ids}
    engine = info if info is not None else (next(iter(cells.values())).info if cells else {})
    text_cells = {xy: cells[i].sha256 for xy, i in placed.items()}
    grid = grid_info(sweep, z, engine, text_cells)
    grid[CHILDREN_KEY] = sorted(c.sha256 for c in cells.values())
    record = gallery.add(grid_request(sweep, z), image, {}, grid)
    if ids:
        gallery.set_parent(ids, record.id)
        gallery.make_stack(record.id, ids)  # the grid lists as one tile holding its cells
    return record


def _recorded_sweep(record: Record) -> dict[str, Any]:
    """The `studio-sweep` JSON a grid record carries, or {} for any other record (or a damaged one)."""
    text = record.info.get(SWEEP_KEY)
    try:
        data = json.loads(text) if isinstance(text, str) else {}
    except ValueError:
        return {}
    return data if isinstance(data, dict) else {}


def grid_shape(record: Record) -> tuple[int, int] | None:
    """(columns, rows) of a grid record; None for any other record."""
    grid = record.info.get("grid")
    return (grid.get("columns"), grid.get("rows")) if isinstance(grid, dict) else None


def grid_command_of(record: Record) -> str | None:
    """The `studio grid ...` line that makes a grid record again, if it carries one."""
    command = _recorded_sweep(record).get("command")
    return str(command) if command else None


def grid_cells(gallery: Gallery, grid: Record | int) -> dict[tuple[int, int], Record]:
    """The cells of a grid record by their (x, y), e.g. for a click on its image; GalleryError
    when the record is not a grid."""
    record = grid if isinstance(grid, Record) else gallery.get(grid)
    places = _recorded_sweep(record).get("cells")
    if not isinstance(places, dict):
        raise GalleryError(f"gallery entry {record.id} is not a grid")
    by_sha = {child.sha256: child for child in gallery.children(record.id)}
    out = {}
    for key, digest in places.items():
        x, _, y = str(key).partition(",")
        if digest in by_sha and x.isdigit() and y.isdigit():
            out[(int(x), int(y))] = by_sha[digest]
    return out
