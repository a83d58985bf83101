"""An edit's source picture is written to its input file off the GUI thread, as soon as it is on
the canvas, so Inpaint and Variation do not encode a big PNG while the window waits."""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from PIL.ImageQt import ImageQt
from PySide6.QtGui import QImage
from test_ui_mask import _noise_image, open_window
from test_ui_mask_results import editing

from studio.engine.fake import fake_engine
from studio.ui import mask_editor as mask_editor_module

pytestmark = pytest.mark.usefixtures("qapp")


def test_the_source_file_is_written_off_the_gui_thread_and_reused(qtbot, tmp_path, monkeypatch):
    writers: list[str] = []
    real = mask_editor_module.imageops.save_input

    def recording(image, kind):  # noqa: ANN001, ANN202
        writers.append(f"{kind}@{threading.current_thread().name}")
        return real(image, kind)

    monkeypatch.setattr(mask_editor_module.imageops, "save_input", recording)
    window, editor = editing(qtbot, tmp_path, size=(96, 64))
    qtbot.waitUntil(lambda: editor.queries.pending() == 0 and bool(writers), timeout=10_000)
    assert writers and all(w.startswith("source@") and w != "source@MainThread" for w in writers)

    request = editor.variation_request()
    again = editor.variation_request()
    assert request.init_image == again.init_image
    assert [w for w in writers if w == "source@MainThread"] == []  # nothing encoded on the GUI thread
    expected = np.asarray(Image.open(tmp_path / "source.png").convert("RGB"))
    assert np.array_equal(np.asarray(Image.open(Path(request.init_image)).convert("RGB")), expected)
    window.close()


def test_an_edit_asked_before_the_file_is_ready_still_gets_the_picture(qtbot, tmp_path, monkeypatch):
    hold = threading.Event()
    real = mask_editor_module.imageops.save_input

    def slow(image, kind):  # noqa: ANN001, ANN202
        if threading.current_thread() is not threading.main_thread():
            assert hold.wait(10)
        return real(image, kind)

    monkeypatch.setattr(mask_editor_module.imageops, "save_input", slow)
    window = open_window(qtbot, lambda: fake_engine(step_delay=0.001))
    window.prompt_panel.prompt_edit.setPlainText("a green triangle")
    editor = window.mask_editor
    editor.set_source(QImage(ImageQt(_noise_image(64, 48))))  # as a paste does: no file read
    request = editor.variation_request()  # the background write is held back: written here instead
    assert Path(request.init_image).is_file()
    hold.set()
    qtbot.waitUntil(lambda: editor.queries.pending() == 0, timeout=10_000)
    assert editor.variation_request().init_image == request.init_image  # same pixels, same file
    window.close()
