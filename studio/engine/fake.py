"""A fake backend that paints synthetic previews quickly: for UI tests and demos with no model."""

from __future__ import annotations

import os
import signal
import time

from PIL import Image

from studio.core.events import Finished, Loading, Preview, Progress, Started
from studio.engine.jobs import JobContext, JobQueue, UserError


class FakeBackend:
    """Emits the same events as the real backend, in the same order, from a colour ramp.

    The image depends only on the request (seed, prompt, size), so tests can check determinism.
    `fail_on` makes prompts containing that text fail, to exercise error paths; `hang_on` makes
    them hang after the first step, deaf to cancel (a stuck kernel); `crash_on` kills the process
    running them (a driver crash), for the worker-process tests.
    """

    def __init__(self, step_delay: float = 0.01, load_delay: float = 0.0, fail_on: str = "FAIL",
                 hang_on: str = "HANG", crash_on: str = "CRASH",
                 settings: object = None) -> None:  # settings: taken like the real backend's, unused
        self.step_delay = step_delay
        self.load_delay = load_delay
        self.fail_on = fail_on
        self.hang_on = hang_on
        self.crash_on = crash_on
        self.loaded = False
        self.runs = 0
        self.warmed_on: str | None = None  # name of the thread warm_up ran on

    def warm_up(self) -> None:
        import threading

        self.warmed_on = threading.current_thread().name

    def run(self, job: JobContext) -> Finished:
        req = job.request
        if not self.loaded:
            job.emit(Loading(job.job_id, "loading fake model", 0.0))
            time.sleep(self.load_delay)
            self.loaded = True
            job.emit(Loading(job.job_id, "fake model ready", 1.0))
        if self.fail_on and self.fail_on in req.prompt:
            raise UserError(f"the fake model refuses prompts containing {self.fail_on!r}")
        job.emit(Started(job.job_id, req, req.steps))
        start = time.perf_counter()
        base = (req.seed * 2654435761 + sum(map(ord, req.prompt))) & 0xFFFFFF
        color = ((base >> 16) & 255, (base >> 8) & 255, base & 255)
        image = None
        for step in range(1, req.steps + 1):
            job.check_cancelled()
            time.sleep(self.step_delay)
            t = step / req.steps
            shade = tuple(int(128 * (1 - t) + c * t) for c in color)
            image = Image.new("RGB", (max(8, req.width // 8), max(8, req.height // 8)), shade)
            job.last_preview = image
            elapsed = time.perf_counter() - start
            job.emit(Progress(job.job_id, step, req.steps, elapsed, elapsed / step * (req.steps - step)))
            job.emit(Preview(job.job_id, step, image))
            if self.hang_on and self.hang_on in req.prompt:
                time.sleep(3600)  # a kernel that never returns: only killing the process ends it
            if self.crash_on and self.crash_on in req.prompt:
                os.kill(os.getpid(), getattr(signal, "SIGKILL", signal.SIGTERM))
        job.check_cancelled()
        self.runs += 1
        final = Image.new("RGB", (req.width, req.height), color)
        total = time.perf_counter() - start
        return Finished(job.job_id, req, final, {"sample": total, "total": total}, {"model": "fake"})

    def close(self) -> None:
        self.loaded = False


def fake_engine(step_delay: float = 0.01, **kwargs: float) -> JobQueue:
    return JobQueue(FakeBackend(step_delay=step_delay, **kwargs), name="studio-fake-inference")
