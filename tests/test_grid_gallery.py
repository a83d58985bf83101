"""A grid in the gallery: one record whose children are its cells, with the sweep in its metadata
(no local paths), each cell still a picture on its own, and the lineage surviving a rebuild."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PIL import Image

from studio.core.metadata import SWEEP_KEY, request_from_image_info
from studio.core.request import GenerationRequest
from studio.core.sweep import Axis, Sweep
from studio.engine.grid_image import compose_grid
from studio.gallery import Filters, Gallery, GalleryError
from studio.gallery.export import export_record, read_image_parameters
from studio.gallery.grids import grid_cells, grid_command, record_grid, sweep_from_text

COLOURS = [(200, 30, 30), (30, 200, 30), (30, 30, 200), (200, 200, 30)]


def _sweep(model: str = "") -> Sweep:
    base = GenerationRequest(prompt="a red circle on a blue background", negative_prompt="blurry",
                             seed=1, steps=3, width=64, height=64, model=model).validate()
    return Sweep(base, Axis.parse("prompt=red,green"), Axis.parse("seed=1,2")).validate()


def _record_sweep(gallery: Gallery, sweep: Sweep, skip: tuple[tuple[int, int], ...] = ()):
    """As a run does: each cell recorded when it finishes, the grid at the end."""
    ids, images = {}, {}
    info = {"model_name": "studio-shapes", "model_hash": "ab" * 32}
    for cell in sweep.cells():
        if (cell.x, cell.y) in skip:  # cancelled
            continue
        image = Image.new("RGB", (64, 64), COLOURS[cell.y * 2 + cell.x])
        ids[(cell.x, cell.y)] = gallery.add(cell.request, image, {"total": 0.1}, info).id
        images[(cell.x, cell.y)] = image
    grid = compose_grid(sweep, 0, images)
    return record_grid(gallery, sweep, 0, grid, ids), ids


def test_a_2x2_grid_is_five_records_the_grid_the_parent_of_its_cells(studio_home):
    sweep = _sweep()
    with Gallery.open(studio_home) as gallery:
        grid, ids = _record_sweep(gallery, sweep)
        assert gallery.count(Filters(stacks=False)) == 5
        (tile,) = gallery.list()  # one tile: the grid heads its cells' stack
        assert tile.id == grid.id and tile.stack_size == 5
        assert {r.id for r in gallery.stack_members(ids[(1, 1)])} == {grid.id, *ids.values()}
        children = gallery.children(grid.id)
        assert sorted(c.id for c in children) == sorted(ids.values())
        for (x, y), record_id in ids.items():
            cell = gallery.get(record_id)
            assert cell.parent_id == grid.id
            assert cell.request == sweep.cell_request(x, y)  # its own full request
        assert grid.parent_id is None
        assert {xy: r.id for xy, r in grid_cells(gallery, grid).items()} == ids
        with pytest.raises(GalleryError):
            grid_cells(gallery, ids[(0, 0)])


def test_the_grid_file_and_its_exports_say_how_to_make_the_sweep_again(studio_home, tmp_path):
    sweep = _sweep()
    with Gallery.open(studio_home) as gallery:
        grid, _ = _record_sweep(gallery, sweep)
        files = [grid.path] + [export_record(gallery, grid, tmp_path / fmt, fmt) for fmt in ("png", "jpg", "webp")]
        for path in files:
            text = read_image_parameters(path)
            again, z = sweep_from_text(text[SWEEP_KEY])
            assert again == sweep and z == 0, path
            command = json.loads(text[SWEEP_KEY])["command"]
            assert command.startswith("studio grid 'a red circle on a blue background'")
            assert "--x prompt=red,green --y seed=1,2" in command and "--negative blurry" in command
        # a cell exported on its own is an ordinary picture with its own request
        cell = gallery.children(grid.id)[0]
        path = export_record(gallery, cell, tmp_path / "cell", "png")
        text = read_image_parameters(path)
        assert SWEEP_KEY not in text
        assert request_from_image_info(text) == cell.request


def test_no_local_path_reaches_the_grid_file(studio_home, tmp_path):
    secret = tmp_path / "Private Models of Alice" / "mymodel"
    sweep = _sweep(model=str(secret))
    with Gallery.open(studio_home) as gallery:
        grid, _ = _record_sweep(gallery, sweep)
        exported = export_record(gallery, grid, tmp_path / "out", "png")
        for path in (grid.path, exported):
            data = path.read_bytes().decode("latin-1")
            assert "Private Models of Alice" not in data
            assert str(tmp_path) not in data
            assert "mymodel" in json.loads(read_image_parameters(path)[SWEEP_KEY])["command"]


def test_a_cancelled_grid_keeps_its_finished_cells(studio_home):
    sweep = _sweep()
    with Gallery.open(studio_home) as gallery:
        grid, ids = _record_sweep(gallery, sweep, skip=((1, 1),))
        assert gallery.count(Filters(stacks=False)) == 4
        assert len(gallery.children(grid.id)) == 3
        assert set(grid_cells(gallery, grid)) == {(0, 0), (1, 0), (0, 1)}


def test_lineage_survives_a_database_rebuilt_from_the_files(studio_home):
    sweep = _sweep()
    with Gallery.open(studio_home) as gallery:
        grid, ids = _record_sweep(gallery, sweep)
        grid_name = grid.path.name
    (studio_home / "gallery" / "gallery.db").write_bytes(b"")  # destroyed: only the files remain
    for extra in (studio_home / "gallery").glob("gallery.db-*"):
        extra.unlink()
    with Gallery.open(studio_home) as gallery:
        records = gallery.list(0, 100, Filters(stacks=False))
        assert len(records) == 5
        (grid,) = [r for r in records if r.path.name == grid_name]
        children = gallery.children(grid.id)
        assert len(children) == 4
        assert {c.request.seed for c in children} == {1, 2}
        assert len(grid_cells(gallery, grid)) == 4
        assert [r.id for r in gallery.list()] == [grid.id]  # still one stack (marks journal)


def test_the_command_names_models_without_their_folder():
    sweep = Sweep(_sweep().base, Axis.parse(f"model={Path('/home/alice/models/a')},default"))
    command = grid_command(sweep)
    assert "/home/alice" not in command
    assert "--x model=a,default" in command


def test_the_gallery_details_of_a_grid_say_it_is_one_and_how_to_make_it_again(studio_home):
    from studio.ui.gallery_panel import describe  # Qt-free function in a Qt module

    sweep = _sweep()
    with Gallery.open(studio_home) as gallery:
        grid, ids = _record_sweep(gallery, sweep)
        text = describe(gallery.get(grid.id))
        cell_text = describe(gallery.get(ids[(0, 0)]))
    assert "Grid: 2 × 2 cells" in text
    assert "studio grid 'a red circle on a blue background'" in text and "--x prompt=red,green" in text
    assert "Grid:" not in cell_text


def test_studio_gallery_list_shows_a_grid_as_one_with_its_cell_count(studio_home):
    from studio.cli.gallery import _row, record_dict

    sweep = _sweep()
    with Gallery.open(studio_home) as gallery:
        grid, ids = _record_sweep(gallery, sweep)
        grid_row, cell_row = _row(gallery.get(grid.id)), _row(gallery.get(ids[(1, 1)]))
        as_json = record_dict(gallery.get(grid.id))
    assert " grid    2x2 cells" in grid_row
    assert " txt2img 64x64 " in cell_row
    assert as_json["grid"]["columns"] == 2
