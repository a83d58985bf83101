"""The gallery panel shows what a healed gallery holds: files found again are listed, and damage
met while the window is open rebuilds the gallery, reloads the grid and says so in the banner."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

pytest.importorskip("PySide6")

sys.path.insert(0, str(Path(__file__).parent))
from gallery_damage import damaged_data_page, db_file, make_gallery  # noqa: E402

from studio.gallery import Gallery  # noqa: E402
from studio.gallery.db import Database  # noqa: E402
from studio.ui.gallery_panel import GalleryPanel  # noqa: E402


@pytest.fixture
def made(studio_home):
    return make_gallery(studio_home)


def _panel(qtbot, gallery):
    panel = GalleryPanel(gallery)
    qtbot.addWidget(panel)
    panel.stacks_button.setChecked(False)  # every picture its own tile: count them all
    return panel


def test_files_missing_from_the_list_are_added_back_and_shown(qtbot, studio_home, made):
    gallery = Gallery.open(studio_home, clean_min_age=None)
    try:
        victim = gallery.list(0, 1)[0]
        with gallery.transaction() as cur:  # a row lost, its file still there
            cur.execute("DELETE FROM images WHERE id = ?", (victim.id,))
        panel = _panel(qtbot, gallery)
        live = len(made.files) - len(made.deleted)
        assert panel.model.total() == live - 1
        with qtbot.waitSignal(panel.alert, timeout=10_000) as alert:
            panel.clean_in_background(min_age=0)
        assert "1 picture missing from the gallery's list was found" in alert.args[0]
        qtbot.waitUntil(lambda: panel.model.total() == live, timeout=5_000)
    finally:
        panel.wait_recorded()
        gallery.close()


def test_damage_met_while_open_rebuilds_and_reloads(qtbot, studio_home, made):
    gallery = Gallery.open(studio_home, clean_min_age=None)
    try:
        panel = _panel(qtbot, gallery)
        record = panel.model.record_at(0)
        gallery._db.close()
        damaged_data_page(db_file(studio_home))  # a disk fault while the window is open
        gallery._db = Database(db_file(studio_home))
        with qtbot.waitSignal(panel.alert, timeout=10_000) as alert:
            panel.show_record(record.id + 1000)  # any read meets the damage
        assert "rebuilt" in alert.args[0]
        assert panel.model.total() == len(made.files) - len(made.deleted)
    finally:
        panel.wait_recorded()
        gallery.close()


def test_a_database_damaged_before_launch_is_restored_after_the_window_is_up(qtbot, studio_home, made):
    from gallery_damage import random_header

    random_header(db_file(studio_home))
    gallery = Gallery.open(studio_home, clean_min_age=None, heal_later=True)
    try:
        assert "being restored" in gallery.notice and gallery.count() == 0  # nothing read yet
        panel = _panel(qtbot, gallery)
        with qtbot.waitSignal(panel.alert, timeout=20_000) as alert:
            panel.clean_in_background()
        assert "12 pictures restored" in alert.args[0]
        assert panel.model.total() == len(made.files) - len(made.deleted)
    finally:
        panel.wait_recorded()
        gallery.close()
