"""`studio doctor`: one line per fact, exit 2 only when something would stop the app, and it
changes nothing (a damaged gallery is reported, not healed)."""

from __future__ import annotations

import dataclasses
import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from studio.cli import main
from studio.ui import preflight

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 checks are Linux's")


def _lines(text: str, status: str) -> list[str]:
    return [line.strip()[len(status):].strip() for line in text.splitlines()
            if line.startswith("  ") and line.strip().startswith(status + " ")]


def _make_gallery(home: Path) -> Path:
    from studio.gallery.store import Gallery

    Gallery.open(home).close()
    return home / "gallery" / "gallery.db"


def test_passes_here_with_one_line_per_fact(studio_home, capsys):
    _make_gallery(studio_home)
    assert main(["doctor"]) == 0
    out = capsys.readouterr().out
    assert not _lines(out, "problem")
    ok = _lines(out, "ok")
    assert any(line.startswith("Studio ") and "Python " in line for line in ok)
    assert any(line.startswith("torch ") and "build" in line for line in ok)
    assert any(line.startswith("CPU: ") and "thread" in line for line in ok)
    assert any(line.startswith(f"STUDIO_HOME {studio_home} (STUDIO_HOME)") for line in ok)
    assert any("(bundled)" in line and "loads in" in line for line in ok)  # really loaded
    assert any("gallery database" in line and "integrity ok, 0 entries" in line for line in ok)
    # the tests run Qt offscreen: said, but no reason to stop
    assert any("QT_QPA_PLATFORM=offscreen" in line for line in _lines(out, "warning"))
    assert out.strip().splitlines()[-1].startswith("0 problems")


@linux_only
def test_missing_display_libraries_are_a_problem_naming_the_packages(monkeypatch, capsys):
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.delenv("QT_QPA_PLATFORM")
    monkeypatch.setattr(preflight, "_xcb_plugin", lambda: Path("libqxcb.so"))
    monkeypatch.setattr(preflight, "missing_libraries", lambda plugin: ["libxcb-cursor.so.0", "libxcb-icccm.so.4"])
    assert main(["doctor"]) == 2
    problems = _lines(capsys.readouterr().out, "problem")
    assert problems[0].startswith("the window needs system libraries that are missing "
                                  "(libxcb-cursor.so.0, libxcb-icccm.so.4)")
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4" in problems[0]
    assert problems[1] == "on Fedora: sudo dnf install 'libxcb-cursor.so.0()(64bit)' 'libxcb-icccm.so.4()(64bit)'"
    assert len(problems) == 2  # the rest of the report is still there, and fine


def test_unwritable_studio_home_is_a_problem(tmp_path, monkeypatch, capsys):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    home = blocker / "studio"  # cannot be created, even by root (CI)
    monkeypatch.setenv("STUDIO_HOME", str(home))
    assert main(["doctor", "--json"]) == 2
    report = json.loads(capsys.readouterr().out)
    problems = [f for f in report["findings"] if f["status"] == "problem"]
    assert [(f["group"], f["text"]) for f in problems] == [
        ("Data", f"STUDIO_HOME {home} (STUDIO_HOME) cannot be written (it cannot be created): "
                 "fix its permissions or set STUDIO_HOME to a folder you own")]
    assert report["problems"] == 1


def test_damaged_gallery_is_reported_and_left_as_it_is(studio_home, capsys):
    db = _make_gallery(studio_home)
    data = bytearray(db.read_bytes())
    data[100:] = b"\xa5" * (len(data) - 100)  # the header survives, the pages do not
    db.write_bytes(bytes(data))
    before = {p.name: p.read_bytes() for p in db.parent.iterdir() if p.is_file()}
    assert main(["doctor"]) == 0  # Studio heals it from the image files: a warning, not a stop
    warnings = _lines(capsys.readouterr().out, "warning")
    assert any(f"gallery database {db} is damaged" in line and "studio gallery check" in line for line in warnings)
    after = {p.name: p.read_bytes() for p in db.parent.iterdir() if p.is_file()}
    assert after == before  # same files, same bytes: no WAL, no copy set aside, no rebuild


def test_broken_torch_is_a_problem_line_without_a_traceback(tmp_path):
    fake = tmp_path / "fake" / "torch"
    fake.mkdir(parents=True)
    (fake / "__init__.py").write_text(
        'raise OSError("libtorch_cpu.so: cannot open shared object file: No such file or directory")\n')
    env = {**os.environ, "PYTHONPATH": str(fake.parent), "QT_QPA_PLATFORM": "offscreen"}
    done = subprocess.run([sys.executable, "-m", "studio", "doctor"], env=env, capture_output=True, text=True,
                          timeout=120, check=False, cwd=Path(__file__).resolve().parents[1])
    assert done.returncode == 2, done.stdout + done.stderr
    assert "Traceback" not in done.stdout + done.stderr
    problems = _lines(done.stdout, "problem")
    assert problems[0].startswith("torch cannot be imported (OSError: libtorch_cpu.so: cannot open shared object")
    assert len(problems) == 1  # the models are still listed, not loaded
    assert any("(not loaded: torch is unusable)" in line for line in _lines(done.stdout, "ok"))


@linux_only
def test_no_display_is_a_problem(monkeypatch, capsys):
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    monkeypatch.delenv("QT_QPA_PLATFORM")
    assert main(["doctor"]) == 2
    assert _lines(capsys.readouterr().out, "problem")[0].startswith("no display to open the window on")


def test_gpu_lines_and_a_cuda_build_without_a_gpu(monkeypatch, capsys):
    from studio.engine import diagnose

    facts = diagnose.TorchFacts(version="2.13.0+cu124", build="CUDA 12.4", device="cuda", dtype="float16",
                                threads=4, cores=8, gpus=(diagnose.Gpu("NVIDIA H200", 140 * 1024**3, 130 * 1024**3),))
    monkeypatch.setattr(diagnose, "torch_facts", lambda settings: facts)
    monkeypatch.setattr(diagnose, "load_check", lambda source, settings: 0.5)
    assert main(["doctor"]) == 0
    ok = _lines(capsys.readouterr().out, "ok")
    assert "torch 2.13.0+cu124, CUDA 12.4 build" in ok
    assert "jobs run on the CUDA in float16" in ok
    assert "GPU: NVIDIA H200, 140.0 GB memory, 130.0 GB free" in ok

    monkeypatch.setattr(diagnose, "torch_facts", lambda settings: dataclasses.replace(
        facts, device="cpu", dtype="float32", gpus=()))
    assert main(["doctor"]) == 0  # slow, but it runs
    warnings = _lines(capsys.readouterr().out, "warning")
    assert any(line.startswith("a CUDA build of torch but no GPU is visible") for line in warnings)
