"""A wheel carries resources/ (the bundled model, checkpoint configs, icon, font) as data files, and an
installed Studio finds them there when there is no checkout around the package."""

from __future__ import annotations

import subprocess
import sys
import zipfile
from pathlib import Path

from studio.core import paths

ROOT = Path(__file__).resolve().parents[1]


def test_wheel_carries_the_bundled_model_and_configs(tmp_path):
    subprocess.run([sys.executable, "-m", "pip", "wheel", str(ROOT), "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path)], check=True, timeout=300)
    (wheel,) = tmp_path.glob("studio-*.whl")
    names = set(zipfile.ZipFile(wheel).namelist())
    data = next(n.split("/share/")[0] for n in names if "/share/studio/" in n) + "/share/studio/"
    model = ROOT / "resources" / "models" / "studio-shapes"
    for path in [*model.rglob("*"), *(ROOT / "resources" / "configs").rglob("*"), ROOT / "resources/icons/studio.png",
                 *(ROOT / "resources" / "fonts").iterdir()]:
        if path.is_file() and path.suffix != ".py":
            assert data + str(path.relative_to(ROOT)) in names, path
    assert not any("screenshots" in n for n in names)  # README pictures stay in the repo


def test_installed_resources_are_found_without_a_checkout(tmp_path, monkeypatch):
    installed = tmp_path / "prefix" / "share" / "studio" / "resources"
    (installed / "configs").mkdir(parents=True)
    monkeypatch.setattr(paths, "__file__", str(tmp_path / "site-packages" / "studio" / "core" / "paths.py"))
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "prefix"))
    assert paths.repo_resources() == installed
    assert paths.bundled_model_path() == installed / "models" / "studio-shapes"
    monkeypatch.setattr(sys, "prefix", str(tmp_path / "elsewhere"))
    monkeypatch.setattr(paths.site, "USER_BASE", str(tmp_path / "prefix"))  # a pip --user install
    assert paths.repo_resources() == installed


def test_a_checkout_uses_its_own_resources():
    assert paths.repo_resources() == ROOT / "resources"
