"""`studio grid` and `studio generate --count` on the bundled model (64 px, few steps): the issue's
Done-when command, --cells, --z, one-line errors, a cancelled run keeping its finished cells."""

from __future__ import annotations

import json
import sys

import pytest
from PIL import Image

from studio.cli import main
from studio.core.metadata import SWEEP_KEY, request_from_image_info
from studio.core.sweep import Axis
from studio.engine import sweep_run
from studio.engine.grid_image import grid_layout
from studio.gallery import Filters, Gallery
from studio.gallery.export import read_image_parameters
from studio.gallery.grids import grid_cells, sweep_from_text

PROMPT = "a red circle on a blue background"
SMALL = ["--width", "64", "--height", "64", "--steps", "2", "--seed", "3"]


def _ink(image: Image.Image, box: tuple[int, int, int, int]) -> int:
    return sum(1 for value in image.crop(box).convert("L").tobytes() if value < 200)


def test_the_done_when_command_writes_a_labelled_2x2_grid_and_5_records(tmp_path, capsys):
    out, cells = tmp_path / "g.png", tmp_path / "cells"
    assert main(["grid", PROMPT, "--x", "prompt=red,green", "--y", "seed=1,2", "-o", str(out),
                 "--cells", str(cells), *SMALL]) == 0
    assert "4 of 4 finished" in capsys.readouterr().out

    text = read_image_parameters(out)
    sweep, z = sweep_from_text(text[SWEEP_KEY])
    assert (sweep.x, sweep.y, sweep.z, z) == (Axis.parse("prompt=red,green"), Axis.parse("seed=1,2"), None, 0)
    assert (sweep.base.prompt, sweep.base.steps, sweep.base.width) == (PROMPT, 2, 64)
    assert "studio grid" in json.loads(text[SWEEP_KEY])["command"]
    grid = Image.open(out).convert("RGB")
    layout = grid_layout(sweep, 0)
    assert grid.size == (layout.width, layout.height)
    for x in range(2):  # a label above each column and left of each row, pictures in the cells
        left, top, right, bottom = layout.cell_box(x, 0)
        assert _ink(grid, (left, layout.title_height, right, top - layout.gap)) > 20
        assert len(grid.crop((left, top, right, bottom)).getcolors(1 << 16)) > 10
    for y in range(2):
        _, top, _, bottom = layout.cell_box(0, y)
        assert _ink(grid, (0, top, layout.left - layout.gap, bottom)) > 20

    with Gallery.open() as gallery:
        records = gallery.list(filters=Filters(stacks=False))
        assert len(records) == 5
        (grid_record,) = [r for r in records if SWEEP_KEY in r.info]
        placed = grid_cells(gallery, grid_record)
        assert set(placed) == {(0, 0), (1, 0), (0, 1), (1, 1)}
        for (x, y), cell in placed.items():
            assert cell.parent_id == grid_record.id
            assert cell.request == sweep.cell_request(x, y)
            written = cells / f"g-x{x + 1}-y{y + 1}.png"  # --cells: each with its own parameters
            assert request_from_image_info(read_image_parameters(written)) == cell.request
            with Image.open(written) as picture, Image.open(cell.path) as recorded:
                assert picture.convert("RGB").tobytes() == recorded.convert("RGB").tobytes()


@pytest.mark.parametrize(
    ("axes", "words"),
    [
        (["--x", "colour=red,blue"], "unknown axis 'colour'"),
        (["--x", "seed"], "NAME=VALUES"),
        (["--x", "prompt=purple,blue"], "no 'purple' to replace"),
        (["--x", "seed=1,2", "--y", "seed=3,4"], "the seed axis is there twice"),
        (["--x", "guidance=3-9:0"], "at least one value"),
    ],
)
def test_bad_axes_are_one_line_and_exit_2_before_any_model_loads(tmp_path, capsys, axes, words):
    assert main(["grid", PROMPT, *axes, "-o", str(tmp_path / "g.png"), *SMALL]) == 2
    err = capsys.readouterr().err
    assert words in err and err.count("\n") == 1 and "Traceback" not in err
    assert not (tmp_path / "g.png").exists()


def test_ray_missing_is_one_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "studio.engine.ray_executor", None)  # as if not installed
    assert main(["grid", PROMPT, "--x", "seed=1,2", "--ray", "local", "-o", str(tmp_path / "g.png"),
                 *SMALL]) == 1
    err = capsys.readouterr().err
    assert "--ray needs Ray" in err and err.count("\n") == 1


def test_a_z_axis_writes_one_grid_per_value(tmp_path, capsys):
    out = tmp_path / "g.png"
    assert main(["grid", PROMPT, "--x", "seed=1", "--z", "steps=1,2", "-o", str(out), "--no-gallery",
                 "--width", "64", "--height", "64"]) == 0
    for z in (1, 2):
        sweep, index = sweep_from_text(read_image_parameters(tmp_path / f"g-{z}.png")[SWEEP_KEY])
        assert index == z - 1 and sweep.z == Axis.parse("steps=1,2")
    assert not out.exists()
    with Gallery.open() as gallery:
        assert gallery.count() == 0


def test_ctrl_c_cancels_the_remaining_cells_and_keeps_the_finished_ones(tmp_path, capsys, monkeypatch):
    wait = sweep_run.SweepRun.wait

    def interrupted_after_the_first_cell(self, timeout=None):
        if self.state.finished and not getattr(self, "_interrupted", False):
            self._interrupted = True
            raise KeyboardInterrupt
        return wait(self, timeout)

    monkeypatch.setattr(sweep_run.SweepRun, "wait", interrupted_after_the_first_cell)
    out = tmp_path / "g.png"
    assert main(["grid", PROMPT, "--x", "seed=1-4", "-o", str(out), *SMALL]) == 130
    err = capsys.readouterr().err
    assert "cancelled:" in err and "of 4 cells finished and were kept" in err
    sweep, _ = sweep_from_text(read_image_parameters(out)[SWEEP_KEY])  # the partial grid
    with Gallery.open() as gallery:
        (grid,) = [r for r in gallery.list() if SWEEP_KEY in r.info]
        kept = grid_cells(gallery, grid)
        assert 1 <= len(kept) < 4 and gallery.count(Filters(stacks=False)) == len(kept) + 1
    layout = grid_layout(sweep, 0)
    missing = next(x for x in range(4) if (x, 0) not in kept)
    left, top, right, bottom = layout.cell_box(missing, 0)
    with Image.open(out) as image:  # a placeholder where a cancelled cell would be
        assert image.convert("RGB").getpixel((left + 2, (top + bottom) // 2)) == (128, 128, 128)


def test_generate_count_writes_and_records_a_batch_with_seeds_counting_up(tmp_path, capsys):
    out = tmp_path / "b.png"
    assert main(["generate", PROMPT, "--count", "3", "-o", str(out), *SMALL]) == 0
    seeds = [request_from_image_info(read_image_parameters(tmp_path / f"b-{i}.png")).seed for i in (1, 2, 3)]
    assert seeds == [3, 4, 5]
    assert not out.exists()
    with Gallery.open() as gallery:
        assert sorted(r.request.seed for r in gallery.list(filters=Filters(stacks=False))) == [3, 4, 5]
        (batch,) = gallery.list()  # one tile: the batch stacked under its first picture
        assert batch.request.seed == 3 and batch.stack_size == 3
    assert main(["generate", PROMPT, "--count", "0", "-o", str(out), *SMALL]) == 2
    assert "count" in capsys.readouterr().err


def test_ray_local_writes_a_byte_identical_grid(tmp_path, capsys):
    pytest.importorskip("studio.engine.ray_executor", reason="the Ray executor is not in this Studio")
    pytest.importorskip("ray", reason="ray is not installed (pip install -e '.[ray]')")
    command = ["grid", PROMPT, "--x", "prompt=red,green", "--y", "seed=1,2", *SMALL, "--no-gallery"]
    assert main([*command, "-o", str(tmp_path / "here.png")]) == 0
    assert main([*command, "--ray", "local", "--actors", "2", "-o", str(tmp_path / "ray.png")]) == 0
    assert (tmp_path / "here.png").read_bytes() == (tmp_path / "ray.png").read_bytes()


def test_the_progress_line_says_the_sweeps_share_when_cells_run_at_once(capsys):
    import time

    from studio.cli._sweep import _show
    from studio.cli.generate import ProgressLine
    from studio.engine.sweep_run import SweepState

    state = SweepState(total=4)
    state.steps = {(0, 0, 0): 0.5}
    shown = {"step": "step 10/20", "started": (time.perf_counter() - 10.0, 0.0)}
    _show(ProgressLine(), state, shown)
    one = capsys.readouterr().err
    assert "cell 1/4, step 10/20" in one
    state.steps = {(0, 0, 0): 0.5, (1, 0, 0): 0.5}  # two actors, each half way
    _show(ProgressLine(), state, shown)
    both = capsys.readouterr().err
    assert "0/4 cells done, 2 running, 25%" in both and "step" not in both
    assert "ETA 30 s" in both  # a quarter of the sweep in 10 s: 30 s to go


def test_lora_options_give_a_lora_axis_something_to_weigh(tmp_path, capsys):
    from studio.cli.generate import lora_argument

    lora = tmp_path / "style.safetensors"
    lora.write_bytes(b"not read here")
    assert lora_argument(f"{lora}:0.6") == (str(lora), 0.6)
    assert lora_argument(str(lora)) == (str(lora), 1.0)
    # no LoRA to weigh: the axis says so before anything loads; a LoRA that is not there, likewise
    assert main(["grid", PROMPT, "--x", "lora=0,1", "-o", str(tmp_path / "g.png"), *SMALL]) == 2
    assert "needs a LoRA" in capsys.readouterr().err
    assert main(["grid", PROMPT, "--x", "lora=0,1", "--lora", str(tmp_path / "gone.safetensors"),
                 "-o", str(tmp_path / "g.png"), *SMALL]) == 2
    err = capsys.readouterr().err
    assert "no LoRA file at" in err and len(err.strip().splitlines()) == 1


def test_ray_not_installed_is_the_executors_own_line(tmp_path, capsys, monkeypatch):
    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails inside RayExecutor
    assert main(["grid", PROMPT, "--x", "seed=1,2", "--ray", "local", "-o", str(tmp_path / "g.png"),
                 *SMALL]) == 1
    err = capsys.readouterr().err
    assert "Ray is not installed: pip install -e '.[ray]'; or leave out --ray" in err
    assert "cannot start" not in err and err.count("\n") == 1
