"""A STUDIO_HOME that cannot be written (a read-only disk, a path under a file) still lets the
bundled model run with --no-gallery, and the gallery commands say so in one line."""

from __future__ import annotations

import pytest
from PIL import Image

from studio.cli import main


@pytest.fixture
def unwritable_home(tmp_path, monkeypatch):
    # A path below a regular file cannot be created, even by root (as CI runs): like a read-only disk.
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("STUDIO_HOME", str(blocker / "home"))
    return blocker / "home"


def test_generate_no_gallery_runs_on_the_bundled_model(unwritable_home, tmp_path, capsys):
    out = tmp_path / "out.png"
    code = main(["generate", "a red circle", "--steps", "2", "--seed", "1", "--no-gallery", "-o", str(out)])
    err = capsys.readouterr().err
    assert code == 0, err
    assert "Traceback" not in err
    with Image.open(out) as image:
        assert image.size == (128, 128)


@pytest.mark.parametrize("args", [["gallery", "list"], ["gallery", "check"]])
def test_gallery_commands_fail_in_one_line(unwritable_home, capsys, args):
    assert main(args) == 1
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "cannot create the gallery folder" in err
