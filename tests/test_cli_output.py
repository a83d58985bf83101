"""The `studio` command speaks in one-line errors with exit status 2 for bad usage and 1 for
failures, ends quietly when its reader goes away, and never makes folders it was not asked for."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest
from PIL import Image

from studio.cli import main
from studio.core.request import GenerationRequest
from studio.gallery import Gallery


def _studio(*args: str, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "studio", *args], capture_output=True, text=True,
                          timeout=120, check=False, env={**os.environ, **kw.pop("env", {})}, **kw)


@pytest.mark.parametrize("args", [
    ["generate", "a red circle"],  # no -o
    ["generate", "a red circle", "-o", "x.png", "--steps", "many"],
    ["gallery", "show"],
    ["nonsense"],
])
def test_usage_mistakes_are_one_line_and_exit_2(args, capsys):
    with pytest.raises(SystemExit) as ended:
        main(args)
    assert ended.value.code == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and err.startswith("studio: error: ") and "--help" in err


def test_output_into_a_missing_folder_is_an_error_naming_it(tmp_path, capsys):
    target = tmp_path / "no" / "such" / "x.png"
    assert main(["generate", "a red circle", "--steps", "1", "-o", str(target)]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith(f"studio: error: the folder {target.parent} does not exist") and "\n" not in err
    assert not (tmp_path / "no").exists()


def test_gallery_errors_use_the_one_prefix(capsys):
    assert main(["gallery", "show", "12345"]) == 1
    assert capsys.readouterr().err.strip() == "studio: error: there is no gallery entry 12345"


def test_a_closed_pipe_ends_quietly(studio_home):
    with Gallery.open(studio_home) as gallery:
        image = Image.new("RGB", (64, 64), "red")
        for n in range(1500):
            gallery.add(GenerationRequest(f"picture {n} " + "word " * 20, seed=n), image)
    child = subprocess.Popen([sys.executable, "-m", "studio", "gallery", "list", "--limit", "1500"],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                             env={**os.environ, "STUDIO_HOME": str(studio_home)})
    assert child.stdout.readline()  # read one line, then go away as `head -1` does
    child.stdout.close()
    started = time.time()
    err = child.stderr.read().decode()
    child.wait(timeout=60)
    assert time.time() - started < 60
    assert "Traceback" not in err and "BrokenPipe" not in err, err
    assert child.returncode == 0
