"""The self-contained bundle (packaging/studio.spec, build-linux.sh): resources found when frozen,
the archive's install.sh/uninstall.sh, what the spec leaves out, and, when dist/studio/ has been
built, the bundle itself run with no Python on PATH."""

from __future__ import annotations

import ast
import configparser
import json
import os
import shlex
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from studio.core import paths

ROOT = Path(__file__).resolve().parents[1]
LINUX = ROOT / "packaging" / "linux"
BUNDLE = ROOT / "dist" / "studio"
needs_bash = pytest.mark.skipif(shutil.which("bash") is None, reason="install.sh is a bash script")


def test_a_frozen_app_finds_resources_in_its_bundle(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "frozen", True, raising=False)
    monkeypatch.setattr(sys, "_MEIPASS", str(tmp_path), raising=False)
    assert paths.repo_resources() == tmp_path / "resources"
    assert paths.bundled_model_path() == tmp_path / "resources" / "models" / "studio-shapes"


def _spec_value(name: str):
    """A literal assigned at the top of packaging/studio.spec (it only runs inside PyInstaller)."""
    tree = ast.parse((ROOT / "packaging" / "studio.spec").read_text())
    for node in tree.body:
        if isinstance(node, ast.Assign) and getattr(node.targets[0], "id", None) == name:
            return ast.literal_eval(node.value)
    raise AssertionError(f"{name} is not in the spec")


def test_the_spec_ships_what_a_wheel_ships():
    setup = ast.parse((ROOT / "setup.py").read_text())
    (wheel,) = [ast.literal_eval(n.value) for n in setup.body
                if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", None) == "SHIPPED"]
    shipped = {("resources/" + top) for top in _spec_value("SHIPPED")}
    for folder in wheel:  # every wheel folder, or each of its non-.py files, is in the bundle
        files = {str(p.relative_to(ROOT)) for p in (ROOT / folder).rglob("*") if p.is_file() and p.suffix != ".py"}
        assert folder in shipped or files <= shipped, folder


def test_the_cli_never_imports_what_the_bundle_leaves_out(tmp_path):
    """A generation through the CLI, as the bundle runs it: none of the spec's excludes is imported
    (one that is would make the bundle fail where the source install works)."""
    probe = tmp_path / "probe.py"
    probe.write_text(
        "import sys, json\n"
        "from studio.cli import main\n"
        "code = main(sys.argv[1:])\n"
        f"json.dump(sorted(sys.modules), open({str(tmp_path / 'mods.json')!r}, 'w'))\n"
        "sys.exit(code)\n")
    env = {**os.environ, "STUDIO_HOME": str(tmp_path / "home"), "OMP_NUM_THREADS": "1", "PYTHONPATH": str(ROOT)}
    subprocess.run([sys.executable, str(probe), "generate", "a red circle", "-o", str(tmp_path / "x.png"),
                    "--width", "64", "--height", "64", "--steps", "2", "--seed", "1"],
                   env=env, check=True, timeout=300, capture_output=True)
    imported = set(json.loads((tmp_path / "mods.json").read_text()))
    assert "torch" in imported and "diffusers" in imported  # the probe did generate
    excluded = [name for name in _spec_value("excludes")
                if name in imported or any(m.startswith(name + ".") for m in imported)]
    assert excluded == []
    kept = set(_spec_value("TRANSFORMERS_MODELS_KEPT"))
    models = {m.split(".")[2] for m in imported if m.startswith("transformers.models.") and m.count(".") >= 2}
    assert models <= kept, models - kept


def _fake_bundle(folder: Path) -> Path:
    folder.mkdir(parents=True)
    for name in ("install.sh", "uninstall.sh", "studio.desktop"):
        shutil.copy2(LINUX / name, folder / name)
    shutil.copy2(ROOT / "resources" / "icons" / "studio.png", folder / "studio.png")
    (folder / "studio").write_text("#!/bin/sh\nexit 0\n")
    (folder / "studio").chmod(0o755)
    return folder


def _tree(home: Path) -> dict[str, bytes | None]:
    return {str(p.relative_to(home)): (p.read_bytes() if p.is_file() else None) for p in home.rglob("*")}


def _run(script: Path, home: Path, tools: Path) -> str:
    env = {"HOME": str(home), "PATH": f"{tools}:/usr/bin:/bin"}
    done = subprocess.run(["bash", str(script)], env=env, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def tools(tmp_path) -> Path:
    """A stand-in update-desktop-database (not installed here) that writes the MIME cache as the real
    one does, so that the scripts' handling of it is exercised."""
    folder = tmp_path / "tools"
    folder.mkdir()
    tool = folder / "update-desktop-database"
    tool.write_text('#!/bin/sh\ncd "$1" || exit 1\n'
                    'printf "[MIME Cache]\\nimage/png=%s\\n" "$(grep -l "^MimeType=.*image/png" *.desktop | '
                    'tr "\\n" ";")" > mimeinfo.cache\n')
    tool.chmod(0o755)
    return folder


@needs_bash
@pytest.mark.parametrize("already_there", [False, True], ids=["fresh home", "home with other apps"])
def test_install_adds_the_menu_entry_and_uninstall_takes_exactly_it_back(tmp_path, tools, already_there):
    bundle = _fake_bundle(tmp_path / "opt" / "Studio 0.1")  # a space in the path: Exec must quote it
    home = tmp_path / "home"
    home.mkdir()
    apps = home / ".local" / "share" / "applications"
    if already_there:
        apps.mkdir(parents=True)
        (apps / "gimp.desktop").write_text("[Desktop Entry]\nName=GIMP\nMimeType=image/png;\n")
        (apps / "mimeinfo.cache").write_text("[MIME Cache]\nimage/png=gimp.desktop;\n")
    before = _tree(home)

    _run(bundle / "install.sh", home, tools)
    _run(bundle / "install.sh", home, tools)  # again: replaces, does not pile up
    entry = configparser.ConfigParser(interpolation=None)
    entry.read(apps / "studio.desktop")
    desktop = entry["Desktop Entry"]
    assert shlex.split(desktop["Exec"]) == [str(bundle / "studio"), "%f"]
    assert desktop["TryExec"] == str(bundle / "studio")
    assert set(desktop["MimeType"].strip(";").split(";")) == {"image/png", "image/jpeg", "image/webp"}
    icon = home / ".local/share/icons/hicolor/256x256/apps" / f"{desktop['Icon']}.png"
    assert icon.read_bytes() == (ROOT / "resources/icons/studio.png").read_bytes()
    assert "studio.desktop" in (apps / "mimeinfo.cache").read_text()

    _run(bundle / "uninstall.sh", home, tools)
    after = _tree(home)
    if already_there:  # the MIME cache is rebuilt without Studio; the rest is as it was
        assert "studio.desktop" not in (apps / "mimeinfo.cache").read_text()
        after.pop(".local/share/applications/mimeinfo.cache")
        before.pop(".local/share/applications/mimeinfo.cache")
    assert after == before


@needs_bash
def test_uninstall_without_install_changes_nothing(tmp_path, tools):
    bundle = _fake_bundle(tmp_path / "studio")
    home = tmp_path / "home"
    home.mkdir()
    assert "not installed" in _run(bundle / "uninstall.sh", home, tools)
    assert _tree(home) == {}


def test_the_entry_point_is_the_studio_command():
    done = subprocess.run([sys.executable, str(ROOT / "packaging" / "studio_entry.py"), "--version"],
                          capture_output=True, text=True, timeout=60, env={**os.environ, "PYTHONPATH": str(ROOT)})
    assert done.returncode == 0 and done.stdout.startswith("studio ")


# --- the built bundle (packaging/build-linux.sh); .ci/run builds one after the suite, then runs these ---
needs_bundle = pytest.mark.skipif(not (BUNDLE / "studio").is_file(),
                                  reason="no built bundle: run packaging/build-linux.sh (.ci/run does, "
                                  "then runs these again)")


def _bundle_env(tmp_path: Path, **extra: str) -> dict[str, str]:
    bin_dir = tmp_path / "bin"  # no Python on PATH, nothing from a venv in the environment
    bin_dir.mkdir(exist_ok=True)
    return {"PATH": str(bin_dir), "HOME": str(tmp_path), "STUDIO_HOME": str(tmp_path / "data"),
            "OMP_NUM_THREADS": "2", **extra}


@needs_bundle
@pytest.mark.slow
def test_the_bundle_generates_and_reads_back_with_no_python(tmp_path):
    env = _bundle_env(tmp_path)
    out = tmp_path / "x.png"
    subprocess.run([str(BUNDLE / "studio"), "generate", "a red circle", "-o", str(out), "--width", "64",
                    "--height", "64", "--steps", "3", "--seed", "5"], env=env, check=True, timeout=300,
                   capture_output=True)
    read = subprocess.run([str(BUNDLE / "studio"), "inspect", "--json", str(out)], env=env, check=True,
                          timeout=120, capture_output=True, text=True)
    (info,) = json.loads(read.stdout)
    assert (info["prompt"], info["seed"], info["width"]) == ("a red circle", 5, 64)


@needs_bundle
@pytest.mark.slow
def test_the_bundles_window_generates_in_its_engine_worker(tmp_path):
    shot = tmp_path / "window.png"
    env = _bundle_env(tmp_path, QT_QPA_PLATFORM="offscreen", STUDIO_SCREENSHOT=str(shot),
                      STUDIO_DEMO_PROMPT="a blue square")
    subprocess.run([str(BUNDLE / "studio")], env=env, check=True, timeout=300, capture_output=True)
    assert shot.stat().st_size > 10_000
    listed = subprocess.run([str(BUNDLE / "studio"), "gallery", "list", "--json"], env=_bundle_env(tmp_path),
                            check=True, timeout=120, capture_output=True, text=True)
    assert [r["request"]["prompt"] for r in json.loads(listed.stdout)] == ["a blue square"]
