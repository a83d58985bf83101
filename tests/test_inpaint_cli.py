"""`studio generate --init-image/--mask/--outpaint`: files out, exact pixels kept, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image, ImageDraw

from studio.cli import main
from studio.engine import imageops


def _generate(model, out, *args: str) -> int:
    return main(["generate", "a green triangle", "--model", str(model), "--steps", "2",
                 "--seed", "5", "--no-gallery", "-o", str(out), *args])


@pytest.fixture
def source(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "source.png"
    Image.fromarray(rng.integers(0, 256, (48, 72, 3), dtype=np.uint8), "RGB").save(path)
    return path


def _pixels(path) -> np.ndarray:
    return np.asarray(Image.open(path).convert("RGB"))


def test_variation_writes_the_source_size(tiny_model_dir, tmp_path, source, capsys):
    out = tmp_path / "variation.png"
    assert _generate(tiny_model_dir, out, "--init-image", str(source), "--strength", "0.5") == 0
    assert Image.open(out).size == (72, 48)
    assert not np.array_equal(_pixels(out), _pixels(source))


def test_inpaint_keeps_pixels_outside_the_mask(tiny_model_dir, tmp_path, source):
    mask = Image.new("L", (72, 48), 0)
    ImageDraw.Draw(mask).rectangle((40, 8, 60, 30), fill=255)
    mask_path = tmp_path / "mask.png"
    mask.save(mask_path)
    out = tmp_path / "inpainted.png"
    code = _generate(tiny_model_dir, out, "--init-image", str(source), "--mask", str(mask_path),
                     "--feather", "6", "--masked-only", "--strength", "1")
    assert code == 0
    soft = np.asarray(imageops.feather_mask(mask, 6))
    result, original = _pixels(out), _pixels(source)
    assert np.array_equal(result[soft == 0], original[soft == 0])
    assert (result[soft == 255] != original[soft == 255]).any()


def test_outpaint_extends_and_keeps_the_old_picture(tiny_model_dir, tmp_path, source, studio_home):
    out = tmp_path / "wider.png"
    assert _generate(tiny_model_dir, out, "--init-image", str(source), "--outpaint", "0,0,24,8") == 0
    result = _pixels(out)
    assert result.shape == (56, 96, 3)
    # Untouched: everything left of the overlap and its feather band, above the new strip.
    keep_right = 72 - imageops.OUTPAINT_OVERLAP - imageops.feather_reach(8)
    keep_bottom = 48 - imageops.OUTPAINT_OVERLAP - imageops.feather_reach(8)
    assert np.array_equal(result[:keep_bottom, :keep_right], _pixels(source)[:keep_bottom, :keep_right])
    assert len(list((studio_home / "inputs").glob("*.png"))) == 2  # extended picture + its mask
    from studio.gallery.export import parameters_from_file

    assert parameters_from_file(out)["request"].mode == "outpaint"


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        (["--mask", "{mask}"], "--mask needs a picture to work on: add --init-image IMG"),
        (["--init-image", "{source}", "--mask", "{empty}"], "the mask is empty: paint the area to regenerate"),
        (["--init-image", "{source}", "--mask", "{wrong}"], "the mask is 30×30 but the image is 72×48"),
        (["--init-image", "{junk}"], "cannot read the image file junk.png"),
        (["--init-image", "{source}", "--outpaint", "1,2,3"], "outpaint needs LEFT,TOP,RIGHT,BOTTOM"),
        (["--init-image", "{source}", "--outpaint", "8", "--mask", "{mask}"], "--outpaint makes its own mask"),
        (["--init-image", "{source}", "--masked-only"], "--masked-only needs a --mask"),
        (["--init-image", "{source}", "--strength", "1.5"], "strength must be between 0 and 1"),
    ],
)
def test_bad_input_is_one_line_and_exit_2(tiny_model_dir, tmp_path, source, capsys, extra, message):
    Image.new("L", (72, 48), 0).save(tmp_path / "empty.png")
    Image.new("L", (72, 48), 255).save(tmp_path / "mask.png")
    Image.new("L", (30, 30), 255).save(tmp_path / "wrong.png")
    (tmp_path / "junk.png").write_text("not a picture")
    names = {"source": source, **{n: tmp_path / f"{n}.png" for n in ("empty", "mask", "wrong", "junk")}}
    args = [a.format(**names) for a in extra]
    code = _generate(tiny_model_dir, tmp_path / "out.png", *args)
    err = capsys.readouterr().err.strip()
    assert code == 2
    assert err.startswith("studio: error: ") and message in err
    assert "\n" not in err
    assert not (tmp_path / "out.png").exists()


def test_all_white_mask_warns_on_stderr(tiny_model_dir, tmp_path, source, capsys):
    Image.new("L", (72, 48), 255).save(tmp_path / "white.png")
    out = tmp_path / "out.png"
    assert _generate(tiny_model_dir, out, "--init-image", str(source), "--mask", str(tmp_path / "white.png")) == 0
    assert "studio: warning: the mask covers the whole image" in capsys.readouterr().err
