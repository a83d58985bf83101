"""The gallery grid at scale and its stacks: the first page shows at once and the total is
counted off the GUI thread (a stale count dropped, counts cached per filter); a blend strip's
frames stack under the first; tiles inside an opened stack carry no badge; a stack's caption is
its cover's prompt (offscreen Qt, real galleries)."""

from __future__ import annotations

import importlib.util
from pathlib import Path

import pytest
from PIL import Image

pytest.importorskip("PySide6")

from studio.core.events import Finished  # noqa: E402
from studio.core.request import GenerationRequest  # noqa: E402
from studio.gallery import Filters, Gallery  # noqa: E402
from studio.ui.gallery_grid import TileDelegate  # noqa: E402
from studio.ui.gallery_model import RecordRole  # noqa: E402
from studio.ui.gallery_panel import GalleryPanel  # noqa: E402

_spec = importlib.util.spec_from_file_location(
    "_gallery_fill", Path(__file__).resolve().parent.parent / "benchmarks" / "_gallery_fill.py")
_fill_module = importlib.util.module_from_spec(_spec)
_spec.loader.exec_module(_fill_module)


def _panel(qtbot, gallery) -> GalleryPanel:
    panel = GalleryPanel(gallery)
    qtbot.addWidget(panel)
    panel.resize(900, 900)
    panel.show()
    qtbot.waitExposed(panel)
    return panel


def _counted(qtbot, panel) -> int:
    qtbot.waitUntil(lambda: not panel.model.counting(), timeout=10_000)
    return panel.model.total()


@pytest.fixture
def big(tmp_path):
    home = tmp_path / "big"
    _fill_module.fill(home, 1500)
    with Gallery.open(home, clean_min_age=None) as gallery:
        yield gallery


def test_the_total_arrives_after_the_first_page_and_a_stale_count_is_dropped(qtbot, big):
    panel = _panel(qtbot, big)
    model = panel.model
    assert model.total() >= model.page_size and model.record_at(0) is not None  # shown at once
    assert _counted(qtbot, panel) == big.count() > model.page_size
    assert panel.count_label.text() == f"{big.count()} images"
    panel.view.scrollToBottom()
    last = model.record_at(model.total() - 1)
    assert last.id == big.list(0, 1, Filters(descending=False))[0].id  # the oldest, at the end

    totals: list[int] = []
    model.counted.connect(totals.append)
    stale, wanted = Filters(), Filters(min_rating=3)
    model.forget_counts()
    model.reload(stale)
    model.reload(wanted)  # before the first count could arrive
    assert _counted(qtbot, panel) == big.count(wanted)
    qtbot.wait(50)  # the first count's queued result, if any, would have landed by now
    assert totals and set(totals) == {big.count(wanted)}  # the earlier filter's total never showed
    assert model.total() == big.count(wanted)


def test_a_filter_seen_before_shows_its_total_at_once(qtbot, big):
    panel = _panel(qtbot, big)
    panel.rating_filter.setCurrentIndex(panel.rating_filter.findData(2))
    expected = _counted(qtbot, panel)
    panel.rating_filter.setCurrentIndex(0)
    _counted(qtbot, panel)
    panel.rating_filter.setCurrentIndex(panel.rating_filter.findData(2))
    assert panel.model.total() == expected  # the cached total, before the recount confirms it
    assert _counted(qtbot, panel) == expected


def _add(gallery: Gallery, prompt: str, **kwargs):
    parent_id = kwargs.pop("parent_id", None)
    request = GenerationRequest(prompt, width=64, height=64, steps=2, **kwargs)
    return gallery.add(request, Image.new("RGB", (64, 64), "gray"), {}, {"model_name": "tiny"},
                       parent_id=parent_id)


def _finished(job: int, prompt: str) -> Finished:
    return Finished(job, GenerationRequest(prompt, seed=job, width=64, height=64, steps=2),
                    Image.new("RGB", (64, 64), "white"), {"total": 0.1}, {"model_name": "tiny"})


def test_a_strip_of_jobs_becomes_one_stack_under_its_first_frame(qtbot):
    with Gallery.open() as gallery:
        panel = _panel(qtbot, gallery)
        _add(gallery, "a lone heron")
        panel.stack_jobs([11, 12, 13])
        for job in (12, 11, 13):  # the head need not be stored first
            panel.record_finished(job, _finished(job, f"frame {job}"))
        panel.wait_recorded()
        qtbot.waitUntil(lambda: panel.model.total() == 1, timeout=10_000)
        head = panel.model.index(0).data(RecordRole)
        assert head.prompt == "frame 11" and head.stack_size == 3
        assert sorted(r.prompt for r in gallery.stack_members(head.id)) == ["frame 11", "frame 12", "frame 13"]
        panel.record_finished(14, _finished(14, "an unrelated job"))  # not in the strip: its own tile
        panel.wait_recorded()
        qtbot.waitUntil(lambda: panel.model.total() == 2, timeout=10_000)
        assert gallery.get(panel.model.index(0).data(RecordRole).id).stack_size == 1
        panel.close()


def _badge_drawn(panel, row: int) -> bool:
    """Whether the tile's top-right corner shows the dark stack badge over the grey thumbnail."""
    rect = panel.view.visualRect(panel.view.tiles.cell(row))
    image = panel.view.viewport().grab().toImage()
    colour = image.pixelColor(rect.right() - 31, rect.top() + 15)
    return colour.lightness() < 50  # the badge: about 30-45; a grey tile: 60 or more


def test_no_badge_inside_a_stack_and_a_stack_shows_its_covers_caption(qtbot):
    with Gallery.open() as gallery:
        base = _add(gallery, "a lighthouse")
        _add(gallery, "a lighthouse at night", init_image=str(base.path), parent_id=base.id)
        panel = _panel(qtbot, gallery)
        panel.model.loader.wait()
        assert isinstance(panel.view.itemDelegate(), TileDelegate)
        assert panel.model.total() == 1 and _badge_drawn(panel, 0)
        assert panel.expand_stack(panel.model.index(0).data(RecordRole))
        assert panel.model.total() == 2
        assert not any(_badge_drawn(panel, row) for row in range(2))
        night = next(r for r in range(2) if panel.model.index(r).data(RecordRole).prompt.endswith("night"))
        panel.view.setCurrentIndex(panel.model.index(night))
        panel.set_cover()
        panel.collapse_stack()
        assert panel.model.total() == 1
        assert panel.model.index(0).data() == "a lighthouse at night"  # the cover's, not the head's
        panel.close()
