"""`studio inspect FILE... [--json]`: what Studio reads from each file, or its one-line error,
going on to the next file; exit 0 / 1 / 2; a closed pipe ends quietly."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from fuzz_support import seed_files

from studio.cli import main

ROOT = Path(__file__).resolve().parents[1]


def _seed(name: str) -> str:
    return str(next(p for p in seed_files() if p.name == name))


def test_prints_what_each_file_holds(capsys):
    code = main(["inspect", _seed("a1111.png"), _seed("studio.jpg"), _seed("comfyui.png")])
    out, err = capsys.readouterr()
    assert code == 0 and err == ""
    blocks = out.strip().split("\n\n")
    assert len(blocks) == 3
    a1111 = dict(line.strip().split(":", 1) for line in blocks[0].split("\n")[1:] if line.startswith("  ") and ":" in line)
    assert blocks[0].startswith(_seed("a1111.png"))
    assert a1111["tool"].strip() == "AUTOMATIC1111 (v1.10.1)"
    assert a1111["negative"].strip() == 'lowres, "bad hands", text'
    assert (a1111["seed"].strip(), a1111["steps"].strip(), a1111["guidance"].strip()) == ("1234567", "28", "6.5")
    assert (a1111["size"].strip(), a1111["sampler"].strip(), a1111["model"].strip()) == (
        "512x768", "DPM++ 2M Karras", "dream-v2")
    assert "            BREAK soft light" in blocks[0]  # the prompt's second line, indented
    assert "tool:     Studio (studio 0.1.0)" in blocks[1] and "prompt:   夕暮れの灯台" in blocks[1]
    assert "tool:     ComfyUI" in blocks[2] and "model:    sd15" in blocks[2]


def test_bad_files_are_one_line_each_and_the_rest_still_read(tmp_path, capsys):
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"\x89PNG not really")
    missing = tmp_path / "missing.png"
    code = main(["inspect", str(junk), _seed("invokeai.png"), str(missing)])
    out, err = capsys.readouterr()
    assert code == 1
    assert err.splitlines() == [
        f"studio: error: {junk}: not an image Studio can read (unknown file format)",
        f"studio: error: {missing}: there is no file at that path",
    ]
    assert out.startswith(_seed("invokeai.png")) and "an owl on a branch" in out


def test_json_is_a_list_with_one_object_per_file(tmp_path, capsys):
    missing = tmp_path / "missing.png"
    code = main(["inspect", "--json", _seed("studio.webp"), str(missing), _seed("invokeai.png")])
    out, err = capsys.readouterr()
    entries = json.loads(out)
    assert code == 1 and len(entries) == 3 and err.count("\n") == 1
    assert entries[0] == {
        "file": _seed("studio.webp"), "source": "Studio (studio 0.1.0)", "prompt": "夕暮れの灯台, a lighthouse at dusk",
        "negative_prompt": "blurry", "seed": 42, "steps": 12, "guidance_scale": 4.0, "width": 256, "height": 192,
        "sampler": "DPM++ 2M Karras", "model": "studio-shapes", "model_hash": "0123456789",
    }
    assert entries[1] == {"file": str(missing), "error": "there is no file at that path"}
    assert (entries[2]["source"], entries[2]["model"], entries[2]["sampler"]) == ("InvokeAI", "sd15", "DPM++ 2M Karras")


def test_no_files_is_bad_usage(capsys):
    with pytest.raises(SystemExit) as caught:
        main(["inspect"])
    assert caught.value.code == 2
    assert "FILE" in capsys.readouterr().err


def test_undecodable_file_name_is_reported_not_crashed_on(tmp_path, capsys):
    name = str(tmp_path / "\udcff.png")  # how sys.argv carries a non-UTF-8 byte
    assert main(["inspect", "--json", name]) == 1
    out, err = capsys.readouterr()
    assert "\\udcff.png: there is no file" in err
    assert json.loads(out)[0]["file"] == name  # the JSON escape is the character itself


def _studio(*args: str, **kwargs) -> subprocess.Popen:
    env = {**os.environ, "PYTHONPATH": str(ROOT)}
    return subprocess.Popen([sys.executable, "-m", "studio", *args], cwd=ROOT, env=env,
                            stderr=subprocess.PIPE, text=True, **kwargs)


@pytest.mark.parametrize("as_json", [False, True])
def test_closed_pipe_ends_quietly(as_json):
    files = [_seed("a1111.png")] * 200
    proc = _studio("inspect", *(["--json"] if as_json else []), *files, stdout=subprocess.PIPE)
    proc.stdout.close()  # like `| head` exiting before the first line is written
    _, err = proc.communicate(timeout=60)
    assert proc.returncode == 0 and err == ""
