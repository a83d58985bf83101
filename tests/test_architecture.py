"""The layering rules hold: lint contracts pass, and the light layers import nothing heavy."""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


@pytest.mark.skipif(shutil.which("lint-imports") is None, reason="import-linter not installed")
def test_import_contracts_hold():
    result = _run("lint-imports")
    assert result.returncode == 0, result.stdout + result.stderr


@pytest.mark.skipif(shutil.which("ruff") is None, reason="ruff not installed")
def test_ruff_clean():
    result = _run("ruff", "check", "studio", "tests", "benchmarks")
    assert result.returncode == 0, result.stdout + result.stderr


def _imported_after(statement: str) -> set[str]:
    code = f"{statement}\nimport sys\nprint(' '.join(sorted(sys.modules)))"
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stderr
    return set(result.stdout.split())


def test_core_engine_gallery_load_without_qt_or_torch():
    modules = _imported_after(
        "import studio.core.request, studio.core.events, studio.core.session, studio.engine.jobs, studio.engine.fake, "
        "studio.gallery, studio.cli"
    )
    assert "PySide6" not in modules
    assert "torch" not in modules and "diffusers" not in modules


def test_window_modules_do_not_import_torch():
    ui = ROOT / "studio" / "ui" / "main_window.py"
    if not ui.exists():
        pytest.skip("window not built yet")
    modules = _imported_after("import studio.ui.app, studio.ui.main_window, studio.ui.composition")
    assert "torch" not in modules and "diffusers" not in modules and "transformers" not in modules
