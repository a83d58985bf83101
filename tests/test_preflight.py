"""`studio` where no window can open says why in one line and exits 2, instead of Qt's abort."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from studio.ui import preflight

linux_only = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="X11 checks are Linux's")


def _run_studio(env_changes: dict[str, str | None]) -> subprocess.CompletedProcess:
    env = dict(os.environ)
    for key, value in env_changes.items():
        if value is None:
            env.pop(key, None)
        else:
            env[key] = value
    return subprocess.run([sys.executable, "-m", "studio"], env=env, capture_output=True, text=True,
                          timeout=60, check=False)


@linux_only
def test_no_display_is_one_line_and_exit_2():
    done = _run_studio({"DISPLAY": None, "WAYLAND_DISPLAY": None, "QT_QPA_PLATFORM": None})
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    assert line.startswith("studio: error: no display") and "studio generate" in line


@linux_only
def test_unreachable_display_is_one_line_and_exit_2():
    done = _run_studio({"DISPLAY": ":987", "QT_QPA_PLATFORM": None})
    assert done.returncode == 2, done.stderr
    [line] = done.stderr.strip().splitlines()
    # where the X11 libraries are installed the display is tried; on a bare machine they are named
    assert "cannot connect to the display :987" in line or "sudo apt-get install" in line


@linux_only
def test_missing_libraries_are_named_with_their_packages(monkeypatch):
    monkeypatch.setattr(preflight, "_loads", lambda name: False)  # nothing loads: as a bare system
    monkeypatch.setattr(preflight.subprocess, "run", lambda *a, **k: subprocess.CompletedProcess(
        a, 0, stdout="\tlibxcb-icccm.so.4 => not found\n\tlibc.so.6 => /lib/libc.so.6\n"))
    reason = preflight.problem({"DISPLAY": ":0"})
    assert reason is not None and "\n" not in reason
    assert "libxcb-cursor.so.0, libxcb-icccm.so.4" in reason
    assert "sudo apt-get install libxcb-cursor0 libxcb-icccm4;" in reason


def test_offscreen_and_other_platforms_are_left_to_qt():
    assert preflight.problem({"QT_QPA_PLATFORM": "offscreen"}) is None
