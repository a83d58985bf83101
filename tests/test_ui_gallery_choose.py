"""The gallery as the place where an artist chooses: ratings, sorting, stacks, boards, compare
(offscreen Qt, a real gallery)."""

from __future__ import annotations

import pytest
from PIL import Image

pytest.importorskip("PySide6")

from PySide6.QtCore import QPointF, QSettings, Qt  # noqa: E402
from PySide6.QtGui import QDropEvent  # noqa: E402

from studio.core.request import GenerationRequest  # noqa: E402
from studio.gallery import Gallery  # noqa: E402
from studio.ui.boards_panel import dropped_ids  # noqa: E402
from studio.ui.compare_view import differences  # noqa: E402
from studio.ui.gallery_menu import GalleryMenu  # noqa: E402
from studio.ui.gallery_model import RecordRole  # noqa: E402
from studio.ui.gallery_panel import GalleryPanel  # noqa: E402


def _add(gallery: Gallery, prompt: str, size: int = 64, **kwargs):
    parent_id = kwargs.pop("parent_id", None)
    request = GenerationRequest(prompt, width=size, height=size, steps=2, **kwargs)
    return gallery.add(request, Image.new("RGB", (size, size), "gray"), {}, {"model_name": "tiny"},
                       parent_id=parent_id)


@pytest.fixture
def gallery():
    g = Gallery.open()
    yield g
    g.close()


@pytest.fixture
def panel(qtbot, gallery, tmp_path):
    p = GalleryPanel(gallery)
    qtbot.addWidget(p)
    p.resize(900, 900)
    p.show()
    qtbot.waitExposed(p)
    p.menu = GalleryMenu(p, QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat),
                         lambda: (tmp_path, "png", 90))
    yield p
    p.wait_recorded()


def _prompts(panel) -> list[str]:
    return [panel.model.index(r).data(RecordRole).prompt for r in range(panel.model.rowCount())]


def _select(panel, *rows: int) -> None:
    """Click the first, Ctrl+click the others."""
    for n, row in enumerate(rows):
        cell = panel.view.tiles.cell(row)
        rect = panel.view.visualRect(cell)
        qtbot_click(panel.view.viewport(), rect.center(),
                    Qt.KeyboardModifier.ControlModifier if n else Qt.KeyboardModifier.NoModifier)


def qtbot_click(widget, point, modifier) -> None:
    from pytestqt.qtbot import QtBot

    QtBot.mouseClick(widget, Qt.MouseButton.LeftButton, modifier, point)


def test_rating_keys_show_on_the_tile_and_filter_and_sort(panel, qtbot, gallery):
    for name in ("an ant", "a bee", "a cat"):
        _add(gallery, name)
    panel.apply_filters()
    assert _prompts(panel) == ["a cat", "a bee", "an ant"]  # newest first
    _select(panel, 1)  # the bee
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key.Key_4)
    _select(panel, 2)  # the ant
    qtbot.keyClick(panel.view, Qt.Key.Key_2)
    assert gallery.list(0, 10, gallery_filters(rating=4))[0].prompt == "a bee"
    assert "4✦" in panel.model.index(1).data()  # on the tile
    panel.view.setCurrentIndex(panel.model.index(1))
    assert "Rating: " in panel.details.toPlainText() and "(4/5)" in panel.details.toPlainText()
    panel.rating_filter.setCurrentIndex(panel.rating_filter.findData(2))
    assert _prompts(panel) == ["a bee", "an ant"]
    panel.rating_filter.setCurrentIndex(0)
    panel.sort_combo.setCurrentIndex(panel.sort_combo.findText("Best rated"))
    assert _prompts(panel) == ["a bee", "an ant", "a cat"]
    panel.sort_combo.setCurrentIndex(panel.sort_combo.findText("Prompt A–Z"))
    assert _prompts(panel) == ["a bee", "a cat", "an ant"]
    _select(panel, 0)
    qtbot.keyClick(panel.view, Qt.Key.Key_0)  # 0 clears
    assert gallery.get(panel.model.index(0).data(RecordRole).id).rating == 0


def gallery_filters(rating: int):
    from studio.gallery import Filters

    return Filters(min_rating=rating)


def test_an_edit_chain_is_one_tile_that_opens_to_its_members(panel, qtbot, gallery):
    base = _add(gallery, "a lighthouse")
    first = _add(gallery, "a lighthouse at dusk", init_image=str(base.path), parent_id=base.id)
    _add(gallery, "a lighthouse at night", init_image=str(first.path), parent_id=first.id)
    _add(gallery, "a boat")
    panel.apply_filters()
    assert panel.model.total() == 2  # the boat, and the lighthouse stack as one tile
    row = next(r for r in range(2) if panel.model.index(r).data(RecordRole).stack_size == 3)
    assert "stack of 3" in panel.model.index(row).data(Qt.ItemDataRole.ToolTipRole)
    panel.view.setCurrentIndex(panel.model.index(row))
    assert not panel.stack_button.isHidden()
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key.Key_Return)  # Enter opens the stack
    assert panel.in_stack() and panel.model.total() == 3
    assert sorted(_prompts(panel)) == ["a lighthouse", "a lighthouse at dusk", "a lighthouse at night"]
    night = _prompts(panel).index("a lighthouse at night")
    panel.view.setCurrentIndex(panel.model.index(night))
    panel.menu.build_menu()  # the context menu offers Set as Cover inside a stack
    panel.menu.actions["cover"].trigger()
    assert panel.model.index(0).data(RecordRole).prompt == "a lighthouse at night"  # cover first
    qtbot.keyClick(panel.view, Qt.Key.Key_Backspace)
    assert not panel.in_stack() and panel.model.total() == 2
    head = next(panel.model.index(r).data(RecordRole) for r in range(2)
                if panel.model.index(r).data(RecordRole).stack_size == 3)
    assert head.cover_id == gallery.list(0, 1, gallery_filters(0).replace(text="night", stacks=False))[0].id


def test_boards_take_dropped_tiles_filter_the_grid_and_export(panel, qtbot, gallery, tmp_path):
    for name in ("a red kite", "a blue kite", "a green hill"):
        _add(gallery, name)
    panel.apply_filters()
    boards = panel.boards
    assert boards.new_board("kites") == "kites"
    mime = panel.model.mimeData([panel.model.index(1), panel.model.index(2)])  # drag two tiles
    ids = dropped_ids(mime)
    assert len(ids) == 2 and mime.urls()  # ids for boards, files for other apps
    item = boards.list.item(1)
    point = boards.list.visualItemRect(item).center()
    event = QDropEvent(QPointF(point), Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton,
                       Qt.KeyboardModifier.NoModifier)
    boards.list.dropEvent(event)
    assert gallery.boards() == [("kites", 2)]
    assert boards.list.item(1).text() == "kites  (2)"
    boards.list.setCurrentRow(1)  # click the board: the grid shows it
    assert sorted(_prompts(panel)) == ["a blue kite", "a red kite"]  # the two dragged
    panel.menu.export_board("kites", folder=tmp_path / "out")
    qtbot.waitUntil(lambda: len(list((tmp_path / "out").glob("*.png"))) == 2, timeout=10_000)
    boards.rename_board("flying")
    assert gallery.boards() == [("flying", 2)]
    boards.delete_board(confirm=False)
    assert gallery.boards() == [] and panel.model.total() == 3  # back to everything


def test_compare_two_shows_only_what_differs(panel, qtbot, gallery):
    _add(gallery, "a quiet harbour", seed=1)
    _add(gallery, "a quiet harbour", seed=2, size=128)
    panel.apply_filters()
    _select(panel, 0, 1)
    panel.view.setFocus()
    qtbot.keyClick(panel.view, Qt.Key.Key_C)
    dialog = panel.menu._compare
    assert dialog is not None and dialog.isVisible()
    assert sorted(dialog.differing()) == ["height", "seed", "width"]
    dialog.split_button.setChecked(True)
    assert dialog.split.isVisible() and not dialog.side.isVisible()
    dialog.slider.setValue(250)
    assert dialog.split.split == 0.25
    a, b = (panel.model.index(r).data(RecordRole) for r in (0, 1))
    assert differences(a, a) == []
    dialog.close()


def test_the_board_list_fills_in_off_the_gui_thread(qtbot, gallery):
    record = _add(gallery, "a tall tree")
    gallery.add_to_board("later", [record.id])
    panel = GalleryPanel(gallery)
    qtbot.addWidget(panel)
    qtbot.waitUntil(lambda: panel.boards.list.count() == 2, timeout=5000)
    assert panel.boards.list.item(1).text() == "later  (1)"
    panel.boards.list.setCurrentRow(1)
    assert [panel.model.index(r).data(RecordRole).id for r in range(panel.model.rowCount())] == [record.id]
