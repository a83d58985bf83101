"""A file that cannot be imported is named once in its one-line message."""

from __future__ import annotations

import pytest

pytest.importorskip("PySide6")

from studio.gallery import Gallery  # noqa: E402
from studio.ui.gallery_panel import GalleryPanel  # noqa: E402


def test_a_bad_file_is_named_once(qtbot, tmp_path):
    bad = tmp_path / "not-a-picture.png"
    bad.write_bytes(b"plain text, not a PNG")
    gallery = Gallery.open()
    panel = GalleryPanel(gallery)
    qtbot.addWidget(panel)
    try:
        with qtbot.waitSignal(panel.message, timeout=10_000) as said:
            panel.import_files([bad])
        text = said.args[0]
        assert text.count("not-a-picture.png") == 1 and "\n" not in text
    finally:
        panel.wait_imports()
        gallery.close()
