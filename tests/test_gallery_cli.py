"""`studio gallery list|search|show|export`, in text and JSON."""

from __future__ import annotations

import json

from PIL import Image

from studio.cli import main
from studio.core.metadata import request_from_image_info
from studio.core.request import GenerationRequest
from studio.gallery import Gallery
from studio.gallery.export import read_image_parameters


def _fill():
    with Gallery.open() as gallery:
        fox = gallery.add(GenerationRequest("a red fox", seed=1), Image.new("RGB", (64, 64)), {},
                          {"model_name": "tiny"})
        owl = gallery.add(GenerationRequest("an owl", seed=2, negative_prompt="blurry"),
                          Image.new("RGB", (64, 64)), {}, {"model_name": "tiny"})
        gallery.set_favourite(owl.id)
    return fox, owl


def test_list_and_search(capsys):
    fox, owl = _fill()
    assert main(["gallery", "list", "--json"]) == 0
    listed = json.loads(capsys.readouterr().out)
    assert [r["id"] for r in listed] == [owl.id, fox.id]
    assert listed[0]["request"]["negative_prompt"] == "blurry"
    assert main(["gallery", "search", "fox"]) == 0
    out = capsys.readouterr()
    assert "a red fox" in out.out and "an owl" not in out.out and "1 of 1" in out.err
    assert main(["gallery", "list", "--favourites", "--json"]) == 0
    assert [r["id"] for r in json.loads(capsys.readouterr().out)] == [owl.id]


def test_show(capsys):
    fox, _ = _fill()
    assert main(["gallery", "show", str(fox.id)]) == 0
    out = capsys.readouterr().out
    assert "Steps: 20, Sampler: Euler a" in out and "Seed: 1" in out
    assert main(["gallery", "show", str(fox.id), "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["sha256"] == fox.sha256


def test_export_writes_files_with_parameters(capsys, tmp_path):
    fox, owl = _fill()
    dest = tmp_path / "exports"
    assert main(["gallery", "export", str(fox.id), str(owl.id), "--to", str(dest),
                 "--format", "jpg", "--pattern", "{id}_{prompt}", "--json"]) == 0
    paths = json.loads(capsys.readouterr().out)
    assert [p.rsplit("/", 1)[1] for p in paths] == [f"{fox.id}_a red fox.jpg", f"{owl.id}_an owl.jpg"]
    assert request_from_image_info(read_image_parameters(paths[1])).negative_prompt == "blurry"


def test_errors_are_one_line(capsys, tmp_path):
    _fill()
    assert main(["gallery", "show", "999"]) == 1
    err = capsys.readouterr().err
    assert err.strip() == "studio: error: there is no gallery entry 999"
    blocker = tmp_path / "file"
    blocker.write_text("x")
    assert main(["gallery", "export", "1", "--to", str(blocker)]) == 2  # bad usage
    assert "it is a file" in capsys.readouterr().err
