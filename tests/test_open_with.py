"""`studio IMAGE...` (a desktop entry's `Exec=studio %f`): the window opens with the first image on
the canvas and its parameters restored; a file it cannot read is said in the status line; every
other command line means what it meant before."""

from __future__ import annotations

import pytest
from PIL import Image

import studio.ui.app as app_module
from studio.cli import main
from studio.core.request import GenerationRequest
from studio.engine.fake import fake_engine
from studio.gallery.export import save_with_parameters
from studio.ui.app import open_on_start
from studio.ui.main_window import MainWindow


@pytest.fixture
def opened(monkeypatch):
    """What `studio ARGS` would open the window with (the window itself is not started)."""
    calls: list[list[str] | None] = []
    monkeypatch.setattr(app_module, "run_app", lambda argv=None, images=None: calls.append(images) or 0)
    return calls


def test_image_paths_open_the_window_with_them(opened, tmp_path):
    picture = tmp_path / "picture.png"
    Image.new("RGB", (64, 64), "red").save(picture)
    no_suffix = tmp_path / "scan"  # an existing file is taken whatever its name
    no_suffix.write_bytes(picture.read_bytes())
    assert main([str(picture)]) == 0
    assert main(["-v", str(picture), "later.JPG"]) == 0
    assert main([str(no_suffix)]) == 0
    assert main(["gone.webp"]) == 0  # missing: the window opens and says so
    assert main([]) == 0
    assert opened == [[str(picture)], [str(picture), "later.JPG"], [str(no_suffix)], ["gone.webp"], None]


def test_a_mistyped_command_still_gets_argparse_error(opened, capsys):
    with pytest.raises(SystemExit) as ended:
        main(["genrate", "a red circle"])
    assert ended.value.code == 2
    assert "invalid choice: 'genrate'" in capsys.readouterr().err
    assert opened == []


@pytest.fixture
def window(qtbot, qapp):
    win = MainWindow(engine_factory=lambda: fake_engine(step_delay=0.002))
    qtbot.addWidget(win)
    win.show()
    yield win
    win.file_actions.wait_written()
    win.close()


def test_first_image_goes_on_the_canvas_with_its_parameters(qtbot, window, tmp_path):
    request = GenerationRequest("a green square on the right", seed=11, steps=7, width=96, height=64)
    made = save_with_parameters(Image.new("RGB", (96, 64), "green"), request, {}, tmp_path / "made.png")
    other = tmp_path / "other.png"
    Image.new("RGB", (40, 40), "blue").save(other)
    window.prompt_panel.prompt_edit.setPlainText("something else")
    open_on_start(window, [str(made), str(other)])
    qtbot.waitUntil(lambda: window.prompt_panel.prompt_edit.toPlainText() == request.prompt, timeout=10_000)
    assert window.mask_editor.source().width() == 96
    assert window.prompt_panel.steps_spin.value() == 7
    assert window.file_actions.picture().request.seed == 11


def test_a_missing_image_is_said_in_one_line_and_the_window_stays(qtbot, window, tmp_path):
    missing = tmp_path / "gone.png"
    open_on_start(window, [str(missing)])
    qtbot.waitUntil(lambda: f"cannot find the image file {missing}" in window.statusBar().currentMessage(),
                    timeout=10_000)
    assert "\n" not in window.statusBar().currentMessage()
    assert window.isVisible() and window.file_actions.picture() is None
