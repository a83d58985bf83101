"""How the `studio` command speaks (issue 20): one-line `studio: error: ...` with exit status 2 for
bad usage and 1 for failures, `studio: warning: ...`, no folders made where none was asked for, a
closed pipe that ends quietly, and no library chatter or tracebacks unless asked for."""

from __future__ import annotations

import logging
import os
import subprocess
import sys
import warnings
from pathlib import Path

import pytest
from PIL import Image

from studio.cli import main
from studio.cli._output import quiet_output
from studio.cli.strip import check_target
from studio.core.request import GenerationRequest
from studio.gallery import Gallery

ROOT = Path(__file__).resolve().parents[1]


def _usage_error(capsys, argv: list[str]) -> str:
    with pytest.raises(SystemExit) as caught:
        main(argv)
    assert caught.value.code == 2
    out, err = capsys.readouterr()
    assert out == ""
    return err


@pytest.mark.parametrize(("argv", "words", "command"), [
    (["generate", "a cat"], "the following arguments are required: -o/--output", "studio generate"),
    (["generate", "a cat", "-o", "x.png", "--steps", "many"], "argument --steps: invalid int value: 'many'",
     "studio generate"),
    (["paint"], "argument COMMAND: invalid choice: 'paint'", "studio"),
    (["gallery"], "the following arguments are required: ACTION", "studio gallery"),
    (["gallery", "export", "1"], "the following arguments are required: --to", "studio gallery export"),
    (["strip", "a"], "the following arguments are required: --to-prompt, -o/--output", "studio strip"),
    (["generate", "a cat", "-o", "x.png", "--frobnicate"], "unrecognized arguments: --frobnicate", "studio"),
])
def test_usage_errors_are_one_line_naming_the_help(capsys, argv, words, command):
    err = _usage_error(capsys, argv)
    assert err.count("\n") == 1, err  # not argparse's usage dump
    assert err.startswith(f"studio: error: {words}")
    assert err.rstrip().endswith(f"(see {command} --help)")


def test_help_stays_full(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["generate", "--help"])
    assert caught.value.code == 0
    out = capsys.readouterr().out
    assert out.startswith("usage: studio generate") and "--output" in out and "--init-image" in out


@pytest.mark.parametrize("name", ["missing/x.png", "missing/deeper/x.png"])
def test_output_into_a_missing_folder_is_an_error_naming_it(tmp_path, capsys, name):
    out = tmp_path / name
    assert main(["generate", "a cat", "--steps", "1", "-o", str(out)]) == 2
    err = capsys.readouterr().err
    assert err == f"studio: error: the folder {out.parent} does not exist; create it first or give another -o\n"
    assert not (tmp_path / "missing").exists()  # nothing was made


def test_strip_folders(tmp_path):
    with pytest.raises(Exception, match=f"the folder {tmp_path / 'a'} does not exist"):
        check_target(tmp_path / "a" / "frames")
    assert not (tmp_path / "a").exists()
    check_target(tmp_path / "frames")  # a new folder for the frames, where its parent is
    assert (tmp_path / "frames").is_dir()
    with pytest.raises(Exception, match="does not exist"):
        check_target(tmp_path / "b" / "strip.webp")


def _one_picture() -> int:
    with Gallery.open() as gallery:
        return gallery.add(GenerationRequest("a red fox", seed=1), Image.new("RGB", (64, 64)), {}, {}).id


def test_gallery_export_into_a_missing_parent_is_an_error(tmp_path, capsys):
    picture = _one_picture()
    target = tmp_path / "no" / "such"
    assert main(["gallery", "export", str(picture), "--to", str(target)]) == 2
    assert capsys.readouterr().err == (f"studio: error: the folder {tmp_path / 'no'} does not exist; "
                                       "create it first or give another --to\n")
    assert not (tmp_path / "no").exists()


def test_gallery_failures_use_the_one_prefix(capsys):
    _one_picture()
    assert main(["gallery", "show", "999"]) == 1
    assert capsys.readouterr().err == "studio: error: there is no gallery entry 999\n"


# ---- closed pipes ------------------------------------------------------------------------------
def _env(home: Path) -> dict[str, str]:
    return {**os.environ, "PYTHONPATH": str(ROOT), "STUDIO_HOME": str(home)}


def _into_closed_pipe(home: Path, *args: str) -> subprocess.CompletedProcess:
    """Run `studio ARGS` with stdout a pipe whose reader is gone (as after `| head -1` exits)."""
    read, write = os.pipe()
    os.close(read)
    try:
        return subprocess.run([sys.executable, "-m", "studio", *args], stdout=write, stderr=subprocess.PIPE,
                              env=_env(home), cwd=ROOT, text=True, timeout=120)
    finally:
        os.close(write)


@pytest.mark.parametrize("args", [("gallery", "list"), ("gallery", "list", "--json"), ("gallery", "show", "1"),
                                  ("--help",), ("models", "list")])
def test_a_closed_pipe_ends_quietly(studio_home, args):
    with Gallery.open() as gallery:
        for n in range(30):
            gallery.add(GenerationRequest(f"picture {n}", seed=n), Image.new("RGB", (64, 64)), {}, {})
    proc = _into_closed_pipe(studio_home, *args)
    assert "Traceback" not in proc.stderr and "BrokenPipe" not in proc.stderr, proc.stderr
    assert proc.returncode == 0


def test_gallery_list_into_head_prints_the_first_line(studio_home):
    with Gallery.open() as gallery:
        for n in range(2000):  # more than a pipe holds, so the writer meets the closed end
            gallery.add(GenerationRequest(f"picture {n}", seed=n), Image.new("RGB", (8, 8)), {}, {},
                        created=1_700_000_000 + n)
    proc = subprocess.run(f"'{sys.executable}' -m studio gallery list --limit 2000 | head -1", shell=True,
                          capture_output=True, text=True, env=_env(studio_home), cwd=ROOT, timeout=300)
    assert proc.stdout.count("\n") == 1 and "picture 1999" in proc.stdout
    assert proc.stderr == "", proc.stderr


# ---- what is shown of logging and warnings -----------------------------------------------------
def _fresh_logger(name: str) -> logging.Logger:
    logger = logging.getLogger(name)
    logger.setLevel(logging.NOTSET)
    logger.propagate = True
    return logger


def test_studio_warnings_show_as_one_line_and_library_noise_does_not(capfd, monkeypatch):
    monkeypatch.delenv("STUDIO_DEBUG", raising=False)
    with quiet_output():
        _fresh_logger("studio.engine.test").warning("the model is large:\nit may be slow")
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            _fresh_logger("studio.engine.test").exception("job 1 failed")  # the command says it once
        logging.getLogger("diffusers.models.test").warning("should be kept in float32")
        logging.getLogger("some.library").warning("chatter")
        warnings.warn_explicit("deprecated thing", FutureWarning, "lib.py", 1, module="diffusers.utils")
        warnings.warn_explicit("a studio warning", UserWarning, "x.py", 1, module="studio.engine.x")
    err = capfd.readouterr().err
    assert "studio: warning: the model is large: it may be slow\n" in err
    assert "a studio warning" in err
    for noise in ("boom", "Traceback", "job 1 failed", "float32", "chatter", "deprecated thing"):
        assert noise not in err, err


def test_debug_shows_tracebacks(capfd, monkeypatch):
    monkeypatch.setenv("STUDIO_DEBUG", "1")
    with quiet_output():
        try:
            raise RuntimeError("boom")
        except RuntimeError:
            _fresh_logger("studio.engine.test").exception("job 1 failed")
    err = capfd.readouterr().err
    assert "job 1 failed" in err and "Traceback" in err and "RuntimeError: boom" in err


def test_quiet_output_puts_everything_back(monkeypatch):
    monkeypatch.delenv("DIFFUSERS_VERBOSITY", raising=False)
    root = logging.getLogger()
    handlers, level, filters = list(root.handlers), root.level, list(warnings.filters)
    with quiet_output():
        assert os.environ["DIFFUSERS_VERBOSITY"] == "error"
    assert "DIFFUSERS_VERBOSITY" not in os.environ
    assert (root.handlers, root.level, warnings.filters) == (handlers, level, filters)


_FAILING_JOB = """
import sys
from studio.engine import backend
def boom(self, job):
    raise RuntimeError("the unet exploded")
backend.DiffusersBackend.run = boom
from studio.cli import main
sys.exit(main(sys.argv[1:]))
"""


def test_a_failed_job_is_one_line_without_traceback(tmp_path, tiny_model_dir):
    out = tmp_path / "x.png"
    args = ["generate", "a cat", "--model", str(tiny_model_dir), "--steps", "1", "--seed", "1", "-o", str(out)]
    proc = subprocess.run([sys.executable, "-c", _FAILING_JOB, *args], capture_output=True, text=True,
                          env={**_env(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}, cwd=ROOT, timeout=300)
    lines = [line.split("\r")[-1].strip() for line in proc.stderr.splitlines()]
    lines = [line for line in lines if line and not line.startswith(("step ", "finding", "loading", "preparing"))]
    assert proc.returncode == 1
    assert len(lines) == 1 and lines[0].startswith("studio: error: "), proc.stderr
    assert lines[0].endswith("the unet exploded")
    debug = subprocess.run([sys.executable, "-c", _FAILING_JOB, "--verbose", *args], capture_output=True,
                           text=True, env={**_env(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}, cwd=ROOT,
                           timeout=300)
    assert "Traceback" in debug.stderr and "the unet exploded" in debug.stderr


def test_library_warnings_of_an_edit_are_not_shown(tmp_path, tiny_model_dir):
    """diffusers warns twice that modules "should be kept in float32" when an edit loads: the
    artist can do nothing about it."""
    source = tmp_path / "source.png"
    Image.new("RGB", (64, 64), (200, 40, 40)).save(source)
    proc = subprocess.run(
        [sys.executable, "-m", "studio", "generate", "a cat", "--model", str(tiny_model_dir), "--steps", "2",
         "--seed", "1", "--init-image", str(source), "-o", str(tmp_path / "x.png")],
        capture_output=True, text=True, env={**_env(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}, cwd=ROOT,
        timeout=300)
    assert proc.returncode == 0, proc.stderr
    assert "float32" not in proc.stderr and "warn" not in proc.stderr.lower(), proc.stderr
