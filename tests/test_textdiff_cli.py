"""`studio textdiff`: the stored prompt as the default --from, the gallery child, strips, one-line errors."""

from __future__ import annotations

import numpy as np
import pytest
from PIL import Image

from studio.cli import main
from studio.gallery import Gallery
from studio.gallery.export import parameters_from_file
from studio.gallery.query import Filters


def _noise_png(path):
    rng = np.random.default_rng(1)
    Image.fromarray(rng.integers(0, 256, (64, 64, 3), dtype=np.uint8), "RGB").save(path)
    return path


def test_edit_of_a_generated_picture_reads_its_prompt_and_lands_as_its_child(tiny_model_dir, tmp_path, capsys):
    model = ["--model", str(tiny_model_dir)]
    pic, out = tmp_path / "pic.png", tmp_path / "g.png"
    assert main(["generate", "a red circle", "--seed", "1", "--steps", "2", *model, "-o", str(pic)]) == 0
    assert main(["textdiff", str(pic), "--to", "a green circle", "--amount", "0.8", "--steps", "3",
                 *model, "-o", str(out)]) == 0
    assert "wrote" in capsys.readouterr().out
    request = parameters_from_file(out)["request"]
    assert (request.mode, request.source_prompt, request.target_prompt, request.edit_amount) == (
        "textdiff", "a red circle", "a green circle", 0.8)
    assert str(tmp_path) not in out.read_bytes().decode("latin-1")  # no local paths in what is shared
    with Gallery.open() as gallery:
        records = gallery.list(filters=Filters(stacks=False))  # the edit is in its source's stack
        edit = next(r for r in records if r.request.mode == "textdiff")
        parent = gallery.parent(edit.id)
    assert parent is not None and parent.request.prompt == "a red circle"


def test_frames_write_a_strip_of_the_edit(tiny_model_dir, tmp_path, capsys):
    pic, out = _noise_png(tmp_path / "pic.png"), tmp_path / "edit.webp"
    assert main(["textdiff", str(pic), "--from", "noise", "--to", "a blue square", "--frames", "3",
                 "--steps", "2", "--model", str(tiny_model_dir), "-o", str(out)]) == 0
    with Image.open(out) as strip:
        assert strip.n_frames >= 2 and strip.size == (64, 64)  # identical frames fold into one
    assert "3 frames" in capsys.readouterr().out


@pytest.mark.parametrize("argv, words", [
    (["--to", "a green circle"], "--from"),  # a picture with no prompt stored
    (["--from", "x", "--to", "y", "--amount", "9"], "edit amount"),
    (["--from", "x", "--to", "y", "--frames", "1"], "frames"),
])
def test_bad_input_is_one_line(tmp_path, capsys, argv, words):
    pic = _noise_png(tmp_path / "plain.png")
    code = main(["textdiff", str(pic), *argv, "-o", str(tmp_path / "out.png")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and words in err and len(err.splitlines()) == 1, err


def test_a_missing_picture_is_one_line(tmp_path, capsys):
    code = main(["textdiff", str(tmp_path / "none.png"), "--to", "x", "-o", str(tmp_path / "o.png")])
    err = capsys.readouterr().err.strip()
    assert code == 2 and "none.png" in err and len(err.splitlines()) == 1
