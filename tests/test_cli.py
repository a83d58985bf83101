"""`studio generate`, in-process through studio.cli.main for speed, plus one real subprocess."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from PIL import Image

from studio.cli import main


def generate(*args: str) -> int:
    return main(["generate", *args])


def test_writes_an_image_of_the_requested_size(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "out" / "cat.png"
    out.parent.mkdir()  # -o never makes folders (tests/test_cli_errors.py)
    code = generate("a cat", "--model", str(tiny_model_dir), "--steps", "2", "--seed", "3",
                    "--width", "128", "--height", "64", "-o", str(out))
    captured = capsys.readouterr()
    assert code == 0, captured.err
    with Image.open(out) as image:
        assert image.format == "PNG" and image.size == (128, 64)
    assert "seed:" not in captured.out  # only a random seed is announced
    assert "step 2/2" in captured.err
    assert not [p for p in out.parent.iterdir() if p.name.startswith(".")]  # no temp files left


def test_default_size_is_the_models_native_size_and_random_seed_is_printed(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "cat.jpg"
    assert generate("a cat", "--model", str(tiny_model_dir), "--steps", "1", "-o", str(out)) == 0
    with Image.open(out) as image:
        assert image.format == "JPEG" and image.size == (64, 64)
    first_line = capsys.readouterr().out.splitlines()[0]
    assert first_line.startswith("seed: ") and int(first_line.split()[1]) >= 0


def test_same_seed_same_file(tiny_model_dir, tmp_path):
    paths = [tmp_path / "a.png", tmp_path / "b.png"]
    for path in paths:
        assert generate("dog", "--model", str(tiny_model_dir), "--steps", "2", "--seed", "9",
                        "--scheduler", "DPM++ 2M", "-o", str(path)) == 0
    with Image.open(paths[0]) as a, Image.open(paths[1]) as b:
        assert a.tobytes() == b.tobytes()


@pytest.mark.parametrize(
    "args,message",
    [
        (["--width", "100"], "studio: error: width must be a multiple of 8 (got 100; try 96)"),
        (["--height", "32"], "studio: error: height must be between 64 and 4096 px (got 32)"),
        (["--steps", "0"], "studio: error: steps must be between 1 and 150 (got 0)"),
        (["--scheduler", "Heun"], "studio: error: unknown scheduler 'Heun'"),
        (["--guidance-rescale", "2"], "studio: error: guidance rescale must be between 0 and 1 (got 2.0)"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tiny_model_dir, tmp_path, capsys, args, message):
    out = tmp_path / "x.png"
    assert generate("x", "--model", str(tiny_model_dir), *args, "-o", str(out)) == 2
    err = capsys.readouterr().err
    assert err.startswith(message)
    assert err.count("\n") == 1
    assert not out.exists()


def test_missing_model(tmp_path, capsys):
    missing = tmp_path / "nope"
    assert generate("x", "--model", str(missing), "-o", str(tmp_path / "x.png")) == 2
    assert capsys.readouterr().err == f"studio: error: model not found: {missing}\n"


@pytest.mark.parametrize("name", ["x.txt", "blocker/x.png", "folder"])
def test_unwritable_output(tiny_model_dir, tmp_path, capsys, name):
    (tmp_path / "blocker").write_text("a file where a folder should be")
    (tmp_path / "folder").mkdir()
    code = generate("x", "--model", str(tiny_model_dir), "--steps", "1", "-o", str(tmp_path / name))
    err = capsys.readouterr().err
    assert code == 2
    assert err.startswith("studio: error: ") and err.count("\n") == 1


def test_python_dash_m_studio_generate(tiny_model_dir, tmp_path):
    out = tmp_path / "sub.png"
    env = {**os.environ, "STUDIO_HOME": str(tmp_path / "home"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run(
        [sys.executable, "-m", "studio", "generate", "a boat", "--model", str(tiny_model_dir),
         "--steps", "2", "--seed", "1", "-o", str(out)],
        capture_output=True, env=env, timeout=300,
    )
    stdout, stderr = proc.stdout.decode(), proc.stderr.decode()  # bytes: keep the \r of the progress line
    assert proc.returncode == 0, stderr
    assert f"wrote {out}" in stdout
    assert "\rstep 2/2" in stderr
    with Image.open(out) as image:
        assert image.size == (64, 64)


def test_guidance_defaults_to_the_bundled_models_own(tiny_model_dir):
    from studio.cli import build_parser
    from studio.cli.generate import build_request
    from studio.core.paths import bundled_model_path
    from studio.core.request import BUNDLED_GUIDANCE

    parser = build_parser()
    bundled = (bundled_model_path() / "model_index.json").is_file()
    on_bundled = build_request(parser.parse_args(["generate", "a red circle", "-o", "x.png"]))
    assert on_bundled.guidance_scale == (BUNDLED_GUIDANCE if bundled else 5.0)
    other = build_request(parser.parse_args(["generate", "x", "--model", str(tiny_model_dir), "-o", "x.png"]))
    assert other.guidance_scale == 5.0
    said = build_request(parser.parse_args(["generate", "x", "--guidance", "7", "-o", "x.png"]))
    assert said.guidance_scale == 7.0
    assert said.guidance_rescale is None  # the model's own, chosen by the engine
    rescaled = build_request(parser.parse_args(["generate", "x", "--guidance-rescale", "0.3", "-o", "x.png"]))
    assert rescaled.guidance_rescale == 0.3
