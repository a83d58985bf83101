"""The Grid panel in the window, on the fake engine: Ctrl+G opens it, the Prompt panel's request is
its base, a 2x2 grid lands in the gallery as one grid record parent of its four cells, a cancelled
grid keeps its finished cells, and a clicked cell opens on the canvas as a gallery pick does."""

from __future__ import annotations

import pytest
from PySide6.QtCore import Qt

from studio.core.settings import EngineSettings, save_settings
from studio.engine.fake import fake_engine
from studio.gallery import Filters
from studio.gallery.grids import grid_cells
from studio.ui.main_window import MainWindow

pytestmark = pytest.mark.usefixtures("qapp")


def open_window(qtbot, step_delay: float = 0.002) -> MainWindow:
    save_settings(EngineSettings(grids_on="local"))  # whatever STUDIO_RAY_ADDRESS says here
    window = MainWindow(engine_factory=lambda: fake_engine(step_delay=step_delay))
    qtbot.addWidget(window)
    with qtbot.waitActive(window):
        window.show()
        window.activateWindow()
    qtbot.waitUntil(lambda: window.prompt_panel.queries.pending() == 0, timeout=10_000)
    prompt = window.prompt_panel
    prompt.prompt_edit.setPlainText("a red circle on a blue background")
    prompt.random_seed_check.setChecked(False)
    prompt.seed_edit.setText("1")
    prompt.steps_spin.setValue(3)
    prompt.set_size(64, 64)
    return window


def test_ctrl_g_opens_the_grid_panel_with_the_prompts_request(qtbot):
    window = open_window(qtbot)
    try:
        window.grid_dock.hide()
        qtbot.keyClick(window, Qt.Key.Key_G, Qt.KeyboardModifier.ControlModifier)
        qtbot.waitUntil(window.grid_dock.isVisible, timeout=3000)
        grid = window.grid_panel
        grid.set_axis("X", "prompt", "red,green")
        sweep = grid.check()
        assert sweep.base == window.prompt_panel.current_request()
        assert grid.count_label.text().startswith("2 cells (2 × 1)")
        window.prompt_panel.prompt_edit.setPlainText("a blue square")  # no "red" to replace now
        qtbot.waitUntil(lambda: "the prompt has no 'red'" in grid.error_text(), timeout=3000)
        assert not grid.run_button.isEnabled()
    finally:
        window.close()


def test_a_2x2_grid_is_saved_as_one_record_with_its_four_cells_and_a_cell_opens(qtbot):
    window = open_window(qtbot)
    gallery = window.gallery_panel
    try:
        grid = window.grid_panel
        window.grid_dock.show()
        window.grid_dock.raise_()
        grid.set_axis("X", "prompt", "red,green")
        grid.set_axis("Y", "seed", "1,2")
        sweep = grid.check()
        with qtbot.waitSignal(grid.runEnded, timeout=30_000):
            assert grid.run()
        assert grid.status.text().startswith("Saved 1 grid to the gallery with 4 cells"), grid.status.text()
        store = gallery.gallery
        assert store.count(Filters(stacks=False)) == 5 and store.count() == 1  # one stack
        newest = store.list(limit=1)[0]
        cells = grid_cells(store, newest)
        assert sorted(cells) == [(0, 0), (0, 1), (1, 0), (1, 1)]
        for (x, y), record in cells.items():
            assert record.request == sweep.cell_request(x, y)
            assert record.parent_id == newest.id
        assert gallery.model.row_of(newest.id) == 0  # the grid shows first in the gallery

        # a cell clicked opens on the canvas as the gallery's Open does: its entry, its pixels
        view = grid.view
        qtbot.waitUntil(lambda: view.isVisible() and view.viewport().width() > 0, timeout=3000)
        with qtbot.waitSignal(window.canvas.imageChanged, timeout=3000):
            qtbot.mouseClick(view.viewport(), Qt.MouseButton.LeftButton, pos=view.cell_centre((1, 1, 0)))
        picture = window.file_actions.picture()
        assert picture.record_id == cells[(1, 1)].id
        assert picture.request.prompt == "a green circle on a blue background" and picture.request.seed == 2
        opened = window.canvas.current_image()
        assert opened.pixelColor(5, 5) == opened.pixelColor(40, 40)  # the fake's flat cell colour
    finally:
        window.close()


def test_a_cancelled_grid_keeps_and_saves_the_cells_made(qtbot):
    window = open_window(qtbot, step_delay=0.03)
    gallery = window.gallery_panel
    try:
        grid = window.grid_panel
        grid.set_axis("X", "seed", "1-6")
        grid.run()
        qtbot.waitUntil(lambda: len(grid.view.filled()) >= 2, timeout=30_000)
        with qtbot.waitSignal(grid.runEnded, timeout=30_000):
            grid.cancel()
        made = len(grid.view.filled())
        assert 2 <= made < 6
        store = gallery.gallery
        newest = store.list(limit=1)[0]
        assert len(store.children(newest.id)) == made
        assert store.count(Filters(stacks=False)) == made + 1
        assert grid.run_button.isEnabled()
    finally:
        window.close()
