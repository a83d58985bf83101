"""The Grid panel: count, estimate and one-line errors before running; cells filling in on the fake
engine; cancel keeping the finished cells; a clicked cell opening on the canvas; the grid and its
cells landing in the gallery; Ray chosen where it cannot run."""

from __future__ import annotations

import dataclasses

import pytest
from PIL import Image
from PySide6.QtCore import Qt

from studio.core.events import Finished
from studio.core.request import GenerationRequest
from studio.core.settings import EngineSettings
from studio.engine.fake import fake_engine
from studio.ui.bridge import EngineBridge
from studio.ui.grid_panel import GridPanel

pytestmark = pytest.mark.usefixtures("qapp")

BASE = GenerationRequest(prompt="a red circle on a blue background", seed=1, steps=4, width=64, height=64)
HERE = EngineSettings(grids_on="local")  # whatever STUDIO_RAY_ADDRESS says where the tests run


def make_panel(qtbot, step_delay: float = 0.002, base: GenerationRequest = BASE,
               settings: EngineSettings = HERE):
    bridge = EngineBridge(lambda: fake_engine(step_delay=step_delay))
    panel = GridPanel(lambda: base, settings=lambda: settings)
    qtbot.addWidget(panel)
    panel.attach(bridge)
    return panel, bridge


def test_count_and_a_rough_estimate_before_anything_was_measured(qtbot):
    panel, _ = make_panel(qtbot)
    panel.set_axis("X", "prompt", "red,green")
    panel.set_axis("Y", "seed", "1-3")
    assert panel.check() is not None
    text = panel.count_label.text()
    assert text.startswith("6 cells (2 × 3)"), text
    assert "rough guess" in text
    assert panel.run_button.isEnabled() and not panel.error_text()


def test_the_estimate_uses_the_last_measured_picture_at_that_size_and_steps(qtbot):
    panel, _ = make_panel(qtbot)
    panel.set_axis("X", "seed", "1-4")
    image = Image.new("RGB", (64, 64))
    panel.timings.note(Finished(1, BASE.replace(seed=9), image, {"load": 5.0, "sample": 2.5, "total": 7.5}))
    panel.check()
    text = panel.count_label.text()
    assert "about 10 s" in text and "measured: 2.5 s a picture at 64×64, 4 steps" in text, text
    # another size was never measured: the figure is scaled from this one, and says so
    panel.set_axis("X", "size", "64,128")
    panel.check()
    text = panel.count_label.text()
    assert "about 12 s" in text and "rough guess, scaled" in text, text  # 2.5 + 4 x 2.5


def test_z_makes_several_grids(qtbot):
    panel, _ = make_panel(qtbot)
    panel.set_axis("X", "seed", "1,2")
    panel.set_axis("Z", "steps", "2,3,4")
    panel.check()
    assert panel.count_label.text().startswith("6 cells (2 × 1 in 3 grids)")


@pytest.mark.parametrize(("axis", "values", "words"), [
    ("seed", "a,b", "'a' is not a number for the seed axis"),
    ("seed", "", "type the X values: noise seeds"),
    ("sampler", "Euler,Nope", "unknown sampler 'Nope'"),
    ("prompt", "purple,green", "the prompt has no 'purple' to replace"),
    ("strength", "0.2,0.5", "a strength axis needs a source picture"),
])
def test_bad_values_say_one_line_and_disable_run(qtbot, axis, values, words):
    panel, _ = make_panel(qtbot)
    panel.set_axis("X", axis, values)
    assert panel.check() is None
    assert words in panel.error_text() and "\n" not in panel.error_text()
    assert not panel.run_button.isEnabled()
    assert panel.count_label.text() == ""
    panel.set_axis("X", "seed", "1,2")  # fixed: the message goes, Run comes back
    panel.check()
    assert not panel.error_text() and panel.run_button.isEnabled()


def test_the_same_axis_twice_and_an_empty_prompt_are_refused(qtbot):
    panel, _ = make_panel(qtbot)
    panel.set_axis("X", "seed", "1,2")
    panel.set_axis("Y", "seed", "3,4")
    panel.check()
    assert "the seed axis is there twice" in panel.error_text()
    empty, _ = make_panel(qtbot, base=BASE.replace(prompt=""))
    empty.set_axis("X", "seed", "1,2")
    empty.check()
    assert "type a prompt first" in empty.error_text()


def test_typing_rechecks_after_a_pause(qtbot):
    panel, _ = make_panel(qtbot)
    panel.set_axis("X", "seed", "1,2,x")
    qtbot.waitUntil(lambda: "'x' is not a number" in panel.error_text(), timeout=3000)
    panel.set_axis("X", "seed", "1-5")
    qtbot.waitUntil(lambda: panel.count_label.text().startswith("5 cells"), timeout=3000)


def test_a_run_fills_every_cell_with_labels_as_saved(qtbot):
    panel, bridge = make_panel(qtbot)
    panel.set_axis("X", "prompt", "red,green")
    panel.set_axis("Y", "seed", "1,2")
    sweep = panel.check()
    filled_counts, set_cell = [], panel.view.set_cell

    def set_and_count(index, image):
        set_cell(index, image)
        filled_counts.append(len(panel.view.filled()))

    panel.view.set_cell = set_and_count
    with qtbot.waitSignal(panel.runEnded, timeout=20_000):
        assert panel.run()
        assert not panel.run_button.isEnabled() and panel.cancel_button.isEnabled()
    assert panel.view.filled() == {(x, y, 0) for x in range(2) for y in range(2)}
    assert filled_counts == [1, 2, 3, 4]  # one by one, as each finished
    assert panel.view.labels() == [sweep.title(0), "red", "green", "seed 1", "seed 2"]
    assert panel.run_button.isEnabled() and not panel.cancel_button.isEnabled()
    assert panel.progress.value() == 1000
    assert "gallery is unavailable" in panel.status.text()  # no gallery given: said, not hidden
    assert "measured:" in panel.count_label.text()  # the next estimate goes by this run's pictures
    bridge.shutdown(5)


def test_enter_in_a_values_field_runs_the_grid(qtbot):
    panel, bridge = make_panel(qtbot)
    panel.set_axis("X", "seed", "1,2")
    panel.check()
    panel.value_edits[0].setFocus()
    with qtbot.waitSignal(panel.runEnded, timeout=20_000):
        qtbot.keyClick(panel.value_edits[0], Qt.Key.Key_Return)
    assert panel.view.filled() == {(0, 0, 0), (1, 0, 0)}
    bridge.shutdown(5)


def test_cancel_stops_the_rest_and_keeps_the_finished_cells(qtbot):
    panel, bridge = make_panel(qtbot, step_delay=0.03)
    panel.set_axis("X", "seed", "1-6")
    panel.run()
    qtbot.waitUntil(lambda: len(panel.view.filled()) >= 1, timeout=20_000)
    with qtbot.waitSignal(panel.runEnded, timeout=20_000):
        panel.cancel()
        assert not panel.cancel_button.isEnabled()
    filled = panel.view.filled()
    assert 1 <= len(filled) < 6
    for x in range(6):
        if (x, 0, 0) not in filled:
            assert panel.view.note((x, 0, 0)) == "cancelled"
    assert not bridge.jobs()  # nothing of the grid left waiting
    bridge.shutdown(5)


def test_a_cell_that_fails_is_marked_and_the_rest_still_run(qtbot):
    panel, bridge = make_panel(qtbot, base=BASE.replace(prompt="a FAIL circle"))
    panel.set_axis("X", "prompt", "FAIL,fine")
    with qtbot.waitSignal(panel.runEnded, timeout=20_000):
        panel.run()
    assert panel.view.filled() == {(1, 0, 0)}
    assert panel.view.note((0, 0, 0)) == "failed"
    assert "A cell failed: the fake model refuses" in panel.status.text()
    bridge.shutdown(5)


def test_ray_chosen_where_ray_cannot_run_says_one_line(qtbot, monkeypatch):
    def no_ray(settings):
        raise RuntimeError("Ray is not installed here (ray); install it with pip install -e \".[ray]\"")

    monkeypatch.setattr("studio.ui.grid_panel.make_ray_executor", no_ray)
    panel, bridge = make_panel(qtbot, settings=EngineSettings(grids_on="ray", ray_address="local"))
    panel.set_axis("X", "seed", "1,2")
    panel.check()
    assert "Ray cluster" in panel.count_label.text()
    with qtbot.waitSignal(panel.runEnded, timeout=10_000):
        panel.run()
    assert panel.status.text().startswith("Ray is not installed here")
    assert "\n" not in panel.status.text()
    assert panel.run_button.isEnabled() and not bridge.engine_started  # nothing ran locally


def test_without_ray_the_real_factory_says_how_to_get_it(monkeypatch):
    import builtins

    from studio.ui.grid_runs import make_ray_executor

    real_import = builtins.__import__

    def refuse(name, *args, **kwargs):
        if name in ("ray", "studio.engine.ray_executor") or name.startswith("ray."):
            raise ImportError(f"No module named {name!r}", name="ray")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", refuse)
    with pytest.raises(RuntimeError, match=r"Ray is not installed here; install it with pip install -e \"\.\[ray\]\""):
        make_ray_executor(dataclasses.replace(EngineSettings(), grids_on="ray"))


def test_ray_not_installed_says_so_not_that_the_cluster_is_unreachable(monkeypatch):
    import sys

    from studio.ui.grid_runs import make_ray_executor

    monkeypatch.setitem(sys.modules, "ray", None)  # `import ray` fails inside RayExecutor
    with pytest.raises(RuntimeError) as caught:
        make_ray_executor(EngineSettings(grids_on="ray"))
    assert str(caught.value) == ("Ray is not installed: pip install -e '.[ray]'; "
                                 "or choose this computer in Image ▸ Engine Settings")


def test_an_unreachable_cluster_is_one_line_naming_its_address(monkeypatch):
    import sys
    import types

    from studio.ui.grid_runs import make_ray_executor

    class RayExecutor:  # stands in for studio.engine.ray_executor's, which ray.init would fail in
        def __init__(self, address, actors=None, settings=None, previews=False):
            raise ConnectionError(f"Failed to connect to GCS at {address}.\nIs the head running?")

    monkeypatch.setitem(sys.modules, "studio.engine.ray_executor", types.SimpleNamespace(RayExecutor=RayExecutor))
    with pytest.raises(RuntimeError) as caught:
        make_ray_executor(EngineSettings(grids_on="ray", ray_address="10.0.0.5:6379"))
    assert str(caught.value) == ("Could not reach the Ray cluster at 10.0.0.5:6379: "
                                 "Failed to connect to GCS at 10.0.0.5:6379.")


def test_a_ray_executor_runs_the_grid_and_the_panel_records_its_cells(qtbot, monkeypatch):
    """Ray's executor stands in here as any other Executor (an in-thread queue): the cells arrive
    from it, not from the bridge, so the panel records them itself."""
    made = []

    def fake_ray(settings):
        made.append(settings.resolved_ray_address())
        return fake_engine(step_delay=0.002)

    monkeypatch.setattr("studio.ui.grid_panel.make_ray_executor", fake_ray)
    panel, bridge = make_panel(qtbot, settings=EngineSettings(grids_on="ray", ray_address="10.0.0.5:6379"))
    recorded = []

    class Gallery:  # what the panel asks of the gallery panel: record a cell, then save the grid
        def record(self, event):
            recorded.append(event)

        def after_recorded(self, work):
            pass  # the grid is saved in the window tests

    panel._gallery = Gallery()
    panel.set_axis("X", "seed", "1,2")
    panel.run()
    qtbot.waitUntil(lambda: len(recorded) == 2 and len(panel.view.filled()) == 2, timeout=20_000)
    assert made == ["10.0.0.5:6379"]
    assert sorted(e.request.seed for e in recorded) == [1, 2]
    assert panel.view.filled() == {(0, 0, 0), (1, 0, 0)}
    assert not bridge.engine_started  # the window's own worker never ran a cell
    panel.close_down()


def test_clicking_a_cell_without_a_gallery_shows_its_picture(qtbot):
    panel, bridge = make_panel(qtbot)
    panel.resize(600, 600)
    panel.show()
    panel.set_axis("X", "prompt", "red,green")
    with qtbot.waitSignal(panel.runEnded, timeout=20_000):
        panel.run()
    with qtbot.waitSignal(panel.openImage, timeout=3000) as opened:
        qtbot.mouseClick(panel.view.viewport(), Qt.MouseButton.LeftButton,
                         pos=panel.view.cell_centre((1, 0, 0)))
    image = opened.args[0]
    assert (image.width(), image.height()) == (64, 64)
    bridge.shutdown(5)
