"""What runs jobs, wherever it runs them: the Executor protocol the window and the CLI talk to.

InThread runs them on a thread of this process (studio.engine.jobs.JobQueue); LocalProcess
(studio.engine.process) in a worker process of its own; a cluster executor could follow. Nothing
here assumes one machine: a job may arrive as a JobSpec that carries its input pictures as bytes
and names its model by location and content hash, and results come back as events.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Protocol, runtime_checkable

from studio.core.jobspec import JobSpec
from studio.core.request import GenerationRequest
from studio.engine.jobs import JobInfo, JobQueue, Listener


@runtime_checkable
class Executor(Protocol):
    """Jobs in, events out. Every event of a job reaches listeners from one thread the executor
    owns, in order: Queued, Loading*, Started, (Progress, Preview)*, then one of Finished,
    Cancelled or Failed (JobWarning and EngineNotice may come between)."""

    def submit(self, job: GenerationRequest | JobSpec) -> int:
        """Validate and enqueue; RequestError (one line) at once for a job that cannot run."""
        ...

    def cancel(self, job_id: int) -> bool:
        """Cancel a waiting job, or the running one within a denoising step. False if unknown."""
        ...

    def cancel_all(self) -> None: ...

    def jobs(self) -> list[JobInfo]:
        """The running job (if any) then the waiting ones, in the order they will run."""
        ...

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call `listener` with every event; returns the function that stops it."""
        ...

    def warm_up(self) -> None:
        """Prepare the engine (heavy imports) before the first job; never raises."""
        ...

    def wait_idle(self, timeout: float | None = None) -> bool:
        """Block until nothing runs or waits and every event was delivered; False on timeout."""
        ...

    def shutdown(self, timeout: float = 30.0) -> bool:
        """Cancel everything and stop; True if it stopped within `timeout`."""
        ...


InThread = JobQueue  # today's queue is the in-thread executor; both names keep working

__all__ = ["Executor", "InThread", "Listener"]
