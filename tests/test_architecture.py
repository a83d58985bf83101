"""The layering rules hold: lint contracts pass, and the light layers import nothing heavy."""

from __future__ import annotations

import importlib.util
import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def _run(*cmd: str) -> subprocess.CompletedProcess:
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=300)


def _tool(module: str) -> None:
    # Both tools come with the test extras; a missing one is a broken setup, never a pass.
    assert importlib.util.find_spec(module) is not None, f"{module} is missing: pip install -e '.[test]'"


def test_import_contracts_hold():
    _tool("importlinter")
    code = "import sys\nfrom importlinter.cli import lint_imports\nsys.exit(lint_imports(no_cache=True, no_logo=True))"
    result = _run(sys.executable, "-c", code)
    assert result.returncode == 0, result.stdout + result.stderr
    assert re.search(r"Contracts: [1-9]\d* kept, 0 broken", result.stdout), result.stdout  # it checked some


def test_ruff_clean():
    _tool("ruff")
    result = _run(sys.executable, "-m", "ruff", "check", "studio", "tests", "benchmarks")
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
    modules = _imported_after("import studio.ui.app, studio.ui.main_window, studio.ui.composition")
    assert "torch" not in modules and "diffusers" not in modules and "transformers" not in modules
