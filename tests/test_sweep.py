"""Sweeps as data (axes typed as artists write them) and run on an executor as ordinary jobs."""

from __future__ import annotations

import pytest

from studio.core.events import Cancelled, Failed, Finished
from studio.core.request import GenerationRequest, RequestError
from studio.core.sweep import MAX_VALUES, Axis, Sweep
from studio.engine.fake import fake_engine
from studio.engine.sweep_run import SweepRun

BASE = GenerationRequest("a red circle on a blue background", seed=5, width=64, height=64, steps=4)


@pytest.mark.parametrize(
    ("text", "values"),
    [
        ("seed=1-4", (1, 2, 3, 4)),
        ("seed=4-2", (4, 3, 2)),
        ("seed=3,17, 42", (3, 17, 42)),
        ("guidance=3-9:4", (3.0, 5.0, 7.0, 9.0)),
        ("steps=30-10:3", (30, 20, 10)),
        ("strength=0.5", (0.5,)),
        ("sampler=euler a, DDIM", ("Euler a", "DDIM")),
        ("size=512,512x768", ((512, 512), (512, 768))),
        ("prompt=red,green", ("red", "green")),
        ('prompt="red, glossy",blue', ("red, glossy", "blue")),
        ("model=default", ("",)),
    ],
)
def test_axis_values_are_read_as_artists_write_them(text: str, values: tuple) -> None:
    axis = Axis.parse(text)
    assert axis.values == values
    assert Axis.parse(axis.text()) == axis  # the text written into metadata reads back the same


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("colour=red", "unknown axis"),
        ("seed", "NAME=VALUES"),
        ("seed=", "no values"),
        ("seed=one", "not a number"),
        ("seed=1.5", "whole numbers"),
        ("guidance=3.5-9", "how many values"),
        ("sampler=Turbo", "unknown sampler"),
        ("size=big", "not a size"),
        ("prompt=red", "at least one more"),
        (f"seed=1-{MAX_VALUES + 1}", "more than"),
    ],
)
def test_bad_axes_get_one_line_an_artist_can_act_on(text: str, words: str) -> None:
    with pytest.raises(RequestError, match=words) as caught:
        Axis.parse(text)
    assert "\n" not in str(caught.value)


def test_cells_vary_x_fastest_then_y_then_z() -> None:
    sweep = Sweep(BASE, Axis.parse("prompt=red,green"), Axis.parse("seed=1,2"), Axis.parse("steps=2,3"))
    cells = sweep.cells()
    assert sweep.shape == (2, 2, 2) and len(cells) == sweep.count == 8
    first = [(c.request.prompt.split()[1], c.request.seed, c.request.steps) for c in cells[:4]]
    assert first == [("red", 1, 2), ("green", 1, 2), ("red", 2, 2), ("green", 2, 2)]
    assert {c.request.steps for c in cells[4:]} == {3}
    assert cells[5].index == (1, 0, 1)
    # everything the axes do not touch comes from the base request
    assert {(c.request.width, c.request.guidance_scale) for c in cells} == {(64, BASE.guidance_scale)}


def test_prompt_search_and_replace_also_changes_the_negative_prompt() -> None:
    base = BASE.replace(negative_prompt="no red border")
    cell = Sweep(base, Axis.parse("prompt=red,green")).cell_request(1)
    assert (cell.prompt, cell.negative_prompt) == ("a green circle on a blue background", "no green border")


@pytest.mark.parametrize(
    ("axes", "words"),
    [
        (("prompt=yellow,green",), "no 'yellow' to replace"),
        (("seed=1,2", "seed=3"), "there twice"),
        (("size=100",), "cell 100×100: width must be a multiple of 8"),
        (("strength=0.3,0.6",), "needs a source picture"),
        (("lora=0,1",), "needs a LoRA"),
        (("blend=0,1",), "needs a blend prompt"),
    ],
)
def test_a_sweep_that_cannot_run_says_which_cell_and_why(axes: tuple[str, ...], words: str) -> None:
    sweep = Sweep(BASE, *(Axis.parse(a) for a in axes))
    with pytest.raises(RequestError, match=words):
        sweep.validate()


def test_weights_axes_set_every_lora_and_blend_weight() -> None:
    base = BASE.replace(loras=(("a.safetensors", 1.0), ("b.safetensors", 0.5)), blend_prompts=("a square",),
                        blend_weights=(0.5,))
    cell = Sweep(base, Axis.parse("lora=0-1:3"), Axis.parse("blend=0.2,0.8")).cell_request(1, 1)
    assert [w for _, w in cell.loras] == [0.5, 0.5]
    assert cell.blend_weights == (0.8,)


def test_a_batch_is_one_seed_axis_counting_up() -> None:
    cells = Sweep.batch(BASE, 3).cells()
    assert [c.request.seed for c in cells] == [5, 6, 7]
    assert Sweep.batch(BASE.replace(seed=2**64 - 1), 2).cells()[1].request.seed == 0
    with pytest.raises(RequestError):
        Sweep.batch(BASE, 0)


def test_a_sweep_reads_back_from_its_metadata_and_names_its_options() -> None:
    sweep = Sweep(BASE, Axis.parse('prompt="red, glossy",blue'), Axis.parse("guidance=3-9:4"))
    assert Sweep.from_dict(sweep.to_dict()) == sweep
    assert sweep.arguments() == """--x 'prompt="red, glossy",blue' --y 'guidance=3,5,7,9'"""
    with pytest.raises(RequestError, match="damaged"):
        Sweep.from_dict({"x": {"name": "seed", "values": ["1"]}})


def test_a_sweep_runs_every_cell_as_a_job_and_reports_each_once() -> None:
    engine = fake_engine(step_delay=0.0)
    sweep = Sweep(BASE, Axis.parse("prompt=red,green"), Axis.parse("seed=1,2"))
    told: list[tuple[tuple[int, int, int], str]] = []
    run = SweepRun(sweep, engine, on_cell=lambda cell, event: told.append((cell.index, type(event).__name__)))
    try:
        run.start()
        assert run.wait(20)
    finally:
        engine.shutdown()
    assert sorted(told) == sorted(((x, y, 0), "Finished") for x in range(2) for y in range(2))
    finished = run.state.finished
    assert finished[(1, 1, 0)].request.prompt.startswith("a green") and finished[(1, 1, 0)].request.seed == 2
    assert run.state.fraction == 1.0


def test_cancel_stops_the_remaining_cells_and_keeps_the_finished_ones() -> None:
    engine = fake_engine(step_delay=0.05)
    sweep = Sweep(BASE.replace(steps=10), Axis.parse("seed=1-6"))
    run = SweepRun(sweep, engine, on_cell=lambda cell, event: run.cancel() if isinstance(event, Finished) else None)
    try:
        run.start()
        assert run.wait(30)
    finally:
        engine.shutdown()
    assert len(run.state.finished) == 1
    assert len(run.state.cancelled) == 5 and not run.state.failed
    assert run.state.done == 6


def test_a_failed_cell_does_not_stop_the_others() -> None:
    engine = fake_engine(step_delay=0.0)
    sweep = Sweep(BASE.replace(prompt="a red FAIL"), Axis.parse("prompt=FAIL,circle,square"))
    events: list[object] = []
    run = SweepRun(sweep, engine, on_cell=lambda cell, event: events.append(event))
    try:
        run.start()
        assert run.wait(20)
    finally:
        engine.shutdown()
    assert sum(isinstance(e, Failed) for e in events) == 1
    assert sum(isinstance(e, Finished) for e in events) == 2
    assert not any(isinstance(e, Cancelled) for e in events)


def test_a_sweep_with_a_bad_cell_submits_nothing() -> None:
    engine = fake_engine(step_delay=0.0)
    try:
        with pytest.raises(RequestError):
            SweepRun(Sweep(BASE, Axis.parse("size=64,100")), engine)
        assert engine.jobs() == []
    finally:
        engine.shutdown()
