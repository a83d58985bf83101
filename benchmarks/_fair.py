"""What the engine benchmarks need to count the same work as their references.

* `clear_prompt_cache(backend)`: a plain diffusers call encodes its prompt every time; the engine
  keeps encoded prompts per model. Clearing before a run gives the "cold" figure, the same work as
  the reference; not clearing gives the "warm" one (a repeat of a prompt, or a slider move).
* `WindowDelivery`: what the window adds on top of the engine. An EngineBridge (studio/ui/bridge.py)
  on its own JobQueue, with a QApplication on this thread (offscreen): a job is timed from submit
  to its `finished` signal delivered on the GUI thread, after every preview was delivered there
  as a QImage (converted on the inference thread, queued across), as the canvas receives them.
"""

from __future__ import annotations

import os
import time
from typing import Any

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")
os.environ.setdefault("HF_HUB_OFFLINE", "1")

JOB_TIMEOUT_MS = 600_000


def clear_prompt_cache(backend: Any) -> None:
    """Forget the loaded model's encoded prompts (in place: every holder sees it empty)."""
    loaded = backend.loaded
    if loaded is not None:
        cache = loaded.encoder.cache
        cache.__init__(cache.size)


def qt_app() -> Any:
    from PySide6.QtWidgets import QApplication

    return QApplication.instance() or QApplication([])


class WindowDelivery:
    """Times jobs through the bridge the window uses; call from the thread that made it."""

    def __init__(self, queue: Any) -> None:
        from PySide6.QtCore import QEventLoop

        from studio.ui.bridge import EngineBridge

        self.app = qt_app()
        self.bridge = EngineBridge(lambda: queue)
        self._loop = QEventLoop()
        self._job = -1
        self.previews = 0
        self.outcome = ""
        self.bridge.preview.connect(self._on_preview)
        self.bridge.finished.connect(lambda job, _image, _event: self._end(job, "finished"))
        self.bridge.cancelled.connect(lambda job, _image: self._end(job, "cancelled"))
        self.bridge.failed.connect(lambda job, message, _detail: self._end(job, f"failed: {message}"))

    def _on_preview(self, job: int, _step: int, image: Any) -> None:
        if job == self._job and not image.isNull():
            self.previews += 1

    def _end(self, job: int, outcome: str) -> None:
        if job == self._job:
            self.outcome = outcome
            self._loop.quit()

    def time(self, request: Any) -> float:
        """Seconds from submit to the finished signal on the GUI thread; raises on anything else."""
        from PySide6.QtCore import QTimer

        self.previews, self.outcome = 0, ""
        guard = QTimer()
        guard.setSingleShot(True)
        guard.timeout.connect(self._loop.quit)
        start = time.perf_counter()
        self._job = self.bridge.submit(request)
        guard.start(JOB_TIMEOUT_MS)
        if not self.outcome:  # a signal can only arrive once the loop runs; this is belt and braces
            self._loop.exec()
        elapsed = time.perf_counter() - start
        guard.stop()
        if self.outcome != "finished":
            raise SystemExit(f"window job ended with {self.outcome or 'no outcome (timed out)'}")
        return elapsed

    def shutdown(self) -> None:
        self.bridge.shutdown(60)


def print_ratios(title: str, medians: dict, goal: float, scale: float = 1000.0, unit: str = "ms") -> float:
    """Each variant's wall and CPU medians with their ratios to the plain diffusers call, and the
    headline (engine and window, cold prompt cache); returns engine cold / plain in CPU time."""
    plain = medians["plain diffusers call"]
    digits = 1 if unit == "ms" else 3
    print(f"{title} (ratio: median / the plain call's; CPU: this process, all threads)")
    for name, m in medians.items():
        print(f"  {name:32s} wall {m.wall * scale:8.{digits}f} {unit}  ratio {m.wall / plain.wall:.3f}   "
              f"CPU {m.cpu * scale:8.{digits}f} {unit}  ratio {m.cpu / plain.cpu:.3f}")
    cold, window = medians["engine, cold prompt cache"], medians["window (engine + bridge), cold"]
    print(f"  headline (goal <= {goal}): engine cold / plain {cold.wall / plain.wall:.3f} wall, "
          f"{cold.cpu / plain.cpu:.3f} CPU; window cold / plain {window.wall / plain.wall:.3f} wall, "
          f"{window.cpu / plain.cpu:.3f} CPU")
    return cold.cpu / plain.cpu
