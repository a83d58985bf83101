"""File menu actions on their own: export the current picture with its parameters (as, again),
copy it, open a file as a source, quality and folder remembered."""

from __future__ import annotations

import pytest
from PIL import Image
from PySide6.QtCore import QSettings
from PySide6.QtGui import QGuiApplication, QImage
from PySide6.QtWidgets import QWidget

from studio.core.request import GenerationRequest
from studio.gallery.export import request_from_file
from studio.ui.file_actions import FileActions, Picture

pytestmark = pytest.mark.usefixtures("qapp")


@pytest.fixture
def actions(qtbot, tmp_path):
    parent = QWidget()
    qtbot.addWidget(parent)
    opened, read = [], []
    settings = QSettings(str(tmp_path / "ui.ini"), QSettings.Format.IniFormat)
    file_actions = FileActions(parent, settings, open_source=lambda p: opened.append(p) or True,
                               read_parameters=read.extend, paste_source=lambda: True)
    file_actions.opened, file_actions.read = opened, read
    yield file_actions
    file_actions.wait_written()


def _picture(prompt="a red circle on the left", seed=7) -> Picture:
    image = QImage(96, 64, QImage.Format.Format_RGB888)
    image.fill(0x3366CC)
    request = GenerationRequest(prompt, seed=seed, steps=12, width=96, height=64)
    return Picture(image, request, {"model_hash": "abc"}, created=1_780_000_000.0)


def test_nothing_to_export_until_there_is_a_picture(actions):
    assert not actions.export_action.isEnabled() and not actions.export_as_action.isEnabled()
    actions.set_picture(_picture())
    assert actions.export_action.isEnabled() and actions.copy_action.isEnabled()


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".webp"])
def test_export_as_writes_the_format_of_the_name_with_the_request(actions, qtbot, tmp_path, suffix):
    picture = _picture()
    actions.set_picture(picture)
    target = tmp_path / "out" / f"my picture{suffix}"
    target.parent.mkdir()
    with qtbot.waitSignal(actions.exported, timeout=10_000) as done:
        actions.export_as(target)
    assert done.args[0] == target
    with Image.open(target) as image:
        assert image.format == {".png": "PNG", ".jpg": "JPEG", ".webp": "WEBP"}[suffix]
        assert image.size == (96, 64)
    restored = request_from_file(target)
    assert (restored.prompt, restored.seed, restored.steps) == ("a red circle on the left", 7, 12)


def test_export_again_goes_beside_the_last_export_under_a_readable_name(actions, qtbot, tmp_path):
    actions.set_picture(_picture())
    first = tmp_path / "first.png"
    with qtbot.waitSignal(actions.exported, timeout=10_000):
        actions.export_as(first)
    actions.set_picture(_picture("a blue star at the top", seed=8))
    with qtbot.waitSignal(actions.exported, timeout=10_000) as done:
        actions.export_again()
    second = done.args[0]
    assert second.parent == tmp_path and second.suffix == ".png"
    assert "blue star" in second.name.replace("_", " ")
    assert request_from_file(second).seed == 8


def test_an_unknown_suffix_is_a_one_line_error(actions, qtbot, tmp_path):
    actions.set_picture(_picture())
    with qtbot.waitSignal(actions.message, timeout=2_000) as said:
        actions.export_as(tmp_path / "x.tiff")
    assert said.args[1] is True and ".tiff" in said.args[0] and "\n" not in said.args[0]
    assert not (tmp_path / "x.tiff").exists()


def test_quality_setting_changes_jpeg_size(actions, qtbot, tmp_path):
    image = QImage(128, 128, QImage.Format.Format_RGB888)
    for x in range(128):
        for y in range(0, 128, 3):
            image.setPixel(x, y, (x * 2) << 16 | (y * 2) << 8)
    actions.set_picture(Picture(image, GenerationRequest("noise", width=128, height=128)))
    sizes = {}
    for quality in (75, 100):
        [action] = [a for a in actions.quality_menu.actions() if a.data() == quality]
        action.trigger()
        with qtbot.waitSignal(actions.exported, timeout=10_000):
            actions.export_as(tmp_path / f"q{quality}.jpg")
        sizes[quality] = (tmp_path / f"q{quality}.jpg").stat().st_size
    assert sizes[100] > sizes[75] * 1.3


def test_copy_puts_the_picture_on_the_clipboard(actions):
    picture = _picture()
    actions.set_picture(picture)
    actions.copy_action.trigger()
    assert QGuiApplication.clipboard().image().size() == picture.image.size()


def test_open_image_opens_as_source_and_reads_its_parameters(actions, tmp_path):
    path = tmp_path / "in.png"
    Image.new("RGB", (64, 64), "red").save(path)
    assert actions.open_image(path)
    assert actions.opened == [path] and actions.read == [path]


def test_a_picture_without_parameters_is_exported_as_it_is(actions, qtbot, tmp_path):
    image = QImage(64, 64, QImage.Format.Format_RGB888)
    image.fill(0xFF0000)
    actions.set_picture(Picture(image, None, name="holiday photo.jpg"))
    with qtbot.waitSignal(actions.exported, timeout=10_000) as done:
        actions.export_as(tmp_path / "plain.png")
    with Image.open(done.args[0]) as written:
        assert written.getpixel((5, 5)) == (255, 0, 0)
        assert "parameters" not in written.info
