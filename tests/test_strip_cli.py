"""`studio strip` and the blend flags of `studio generate`, in-process on the tiny model."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from studio.cli import main


def pixels(path) -> np.ndarray:
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def test_strip_writes_an_animated_webp(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "walk.webp"
    code = main(["strip", "a red circle", "--to-prompt", "a blue square", "--frames", "3", "--steps", "2",
                 "--seed", "4", "--model", str(tiny_model_dir), "-o", str(out)])
    captured = capsys.readouterr()
    assert code == 0, captured.err
    with Image.open(out) as animation:
        assert animation.is_animated and animation.n_frames == 3 and animation.size == (64, 64)
    assert "frame 3/3" in captured.err
    assert "wrote" in captured.out and "3 frames" in captured.out


def test_strip_into_a_folder_ends_on_what_generate_draws(tiny_model_dir, tmp_path, capsys):
    folder = tmp_path / "frames"
    common = ["--steps", "2", "--seed", "4", "--scheduler", "Euler", "--model", str(tiny_model_dir)]
    assert main(["strip", "a red circle", "--to-prompt", "a blue square", "--frames", "3",
                 *common, "-o", str(folder)]) == 0
    names = sorted(p.name for p in folder.iterdir())
    assert names == ["frame-001.png", "frame-002.png", "frame-003.png"]
    # the last frame is prompt B itself, as `generate` draws it plainly or as a blend at mix 1
    plain, blended = tmp_path / "plain.png", tmp_path / "blended.png"
    assert main(["generate", "a blue square", *common, "--no-gallery", "-o", str(plain)]) == 0
    assert main(["generate", "a red circle", "--blend", "a blue square", "--mix", "1",
                 *common, "--no-gallery", "-o", str(blended)]) == 0
    assert np.array_equal(pixels(plain), pixels(folder / "frame-003.png"))
    assert np.array_equal(pixels(blended), pixels(folder / "frame-003.png"))
    assert not np.array_equal(pixels(folder / "frame-002.png"), pixels(folder / "frame-003.png"))
    capsys.readouterr()


def test_generate_blend_flags_map_to_the_request(tmp_path):
    from studio.cli import build_parser
    from studio.cli.generate import build_request

    args = build_parser().parse_args([
        "generate", "a red circle", "--blend", "a blue square", "--mix", "0.25", "--mix-mode", "lerp",
        "--seed", "4", "--seed-b", "5", "--seed-mix", "0.3", "--width", "64", "--height", "64",
        "-o", str(tmp_path / "x.png"),
    ])
    request = build_request(args)
    assert request.blend_prompts == ("a blue square",) and request.blend_weights == (0.25,)
    assert request.blend_mode == "lerp" and (request.seed_b, request.seed_mix) == (5, 0.3)
    assert request.mode == "blend"
    defaults = build_request(build_parser().parse_args(
        ["generate", "a", "--blend", "b", "--seed-b", "7", "--width", "64", "--height", "64", "-o", "x.png"]))
    assert defaults.blend_weights == (0.5,) and defaults.seed_mix == 0.5 and defaults.blend_mode == "slerp"
    plain = build_request(build_parser().parse_args(["generate", "a", "--width", "64", "--height", "64", "-o", "x.png"]))
    assert plain.mode == "txt2img" and plain.seed_b is None


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["generate", "a", "--mix", "0.5"], "--mix needs --blend"),
        (["generate", "a", "--seed-mix", "0.5"], "--seed-mix needs --seed-b"),
        (["generate", "a", "--blend", "b", "--mix", "1.5"], "blend weights must be between 0 and 1"),
        (["strip", "a", "--to-prompt", "b", "--frames", "1"], "between 2 and"),
        (["strip", "a", "--to-prompt", " "], "second prompt"),
        (["strip", "a", "--to-prompt", "b", "--fps", "0"], "--fps must be above 0"),
    ],
)
def test_bad_blend_input_is_one_line(tiny_model_dir, tmp_path, capsys, argv, message):
    suffix = "x.png" if argv[0] == "generate" else "x.gif"
    code = main([*argv, "--model", str(tiny_model_dir), "-o", str(tmp_path / suffix)])
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("studio: error: ") and message in err and "\n" not in err


def test_strip_rejects_an_unknown_format_before_rendering(tiny_model_dir, tmp_path, capsys):
    code = main(["strip", "a", "--to-prompt", "b", "--model", str(tiny_model_dir), "-o", str(tmp_path / "x.bmp")])
    assert code == 2 and "use .webp, .gif, .png or a folder" in capsys.readouterr().err
