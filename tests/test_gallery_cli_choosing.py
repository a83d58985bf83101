"""`studio gallery boards|board|rate` and --board / --min-rating / --sort / --stacks on list and export."""

from __future__ import annotations

import json

from PIL import Image

from studio.cli import main
from studio.core.request import GenerationRequest
from studio.gallery import Gallery


def _fill():
    with Gallery.open() as gallery:
        made = [gallery.add(GenerationRequest(p, seed=i), Image.new("RGB", (64, 64)), {},
                            {"model_name": "tiny"}, created=1000 + i)
                for i, p in enumerate(["a red fox", "an owl", "a heron"])]
        edit = gallery.add(GenerationRequest("a red fox, edited", seed=9), Image.new("RGB", (64, 64)), {},
                           {"model_name": "tiny"}, parent_id=made[0].id, created=2000)
    return [r.id for r in made], edit.id


def _listed(capsys, *extra):
    assert main(["gallery", "list", "--json", *extra]) == 0
    return [r["id"] for r in json.loads(capsys.readouterr().out)]


def test_boards_rate_and_list_filters(capsys):
    (fox, owl, heron), edit = _fill()
    assert main(["gallery", "board", "add", "Birds", str(owl), str(heron)]) == 0
    assert "2 added to 'Birds'" in capsys.readouterr().out
    assert main(["gallery", "board", "add", "birds", str(owl)]) == 0
    assert "0 added" in capsys.readouterr().out
    assert main(["gallery", "boards"]) == 0
    assert capsys.readouterr().out.split() == ["2", "Birds"]
    assert main(["gallery", "rate", str(owl), str(fox), "4"]) == 0
    assert "2 rated 4" in capsys.readouterr().out
    assert _listed(capsys, "--board", "Birds") == [heron, owl]
    assert _listed(capsys, "--min-rating", "3") == [owl, fox]
    assert _listed(capsys, "--board", "Birds", "--min-rating", "3") == [owl]
    assert _listed(capsys, "--sort", "prompt") == [heron, fox, edit, owl]
    assert _listed(capsys) == [edit, heron, owl, fox]  # every member by default
    assert _listed(capsys, "--stacks") == [heron, owl, fox]  # the edit is in its source's stack
    assert main(["gallery", "board", "remove", "Birds", str(owl)]) == 0
    assert "1 removed from 'Birds'" in capsys.readouterr().out
    assert _listed(capsys, "--board", "Birds") == [heron]
    assert main(["gallery", "show", str(owl), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["rating"] == 4 and shown["boards"] == []


def test_export_a_board_above_a_rating(capsys, tmp_path):
    (fox, owl, heron), _ = _fill()
    with Gallery.open() as gallery:
        gallery.add_to_board("Birds", [owl, heron])
        gallery.set_rating([heron], 5)
    dest = tmp_path / "out"
    assert main(["gallery", "export", "--board", "Birds", "--to", str(dest), "--pattern", "{id}", "--json"]) == 0
    assert sorted(p.rsplit("/", 1)[1] for p in json.loads(capsys.readouterr().out)) == \
        sorted([f"{owl}.png", f"{heron}.png"])
    dest2 = tmp_path / "best"
    assert main(["gallery", "export", "--board", "Birds", "--min-rating", "5", "--to", str(dest2),
                 "--pattern", "{id}", "--json"]) == 0
    assert [p.rsplit("/", 1)[1] for p in json.loads(capsys.readouterr().out)] == [f"{heron}.png"]


def test_choosing_errors_are_one_line(capsys, tmp_path):
    (fox, _, _), _ = _fill()
    assert main(["gallery", "rate", str(fox), "7"]) == 1
    assert capsys.readouterr().err.strip() == "studio: error: a rating is a whole number from 0 to 5, not 7"
    assert main(["gallery", "rate", "3"]) == 2
    assert "give the entries to rate" in capsys.readouterr().err
    assert main(["gallery", "list", "--board", "Nope"]) == 1
    assert capsys.readouterr().err.strip().startswith("studio: error: there is no board named 'Nope'")
    assert main(["gallery", "board", "remove", "Nope", str(fox)]) == 1
    assert "no board named 'Nope'" in capsys.readouterr().err
    assert main(["gallery", "board", "add", "Birds", "999"]) == 1
    assert "there is no gallery entry 999" in capsys.readouterr().err
    assert main(["gallery", "export", "--to", str(tmp_path / "x")]) == 2
    assert "give entry ids or --board" in capsys.readouterr().err
