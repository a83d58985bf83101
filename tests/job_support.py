"""Running one request on an engine queue in a test and collecting what it said."""

from __future__ import annotations

from studio.core.request import GenerationRequest
from studio.engine.jobs import JobQueue


def job_events(queue: JobQueue, request: GenerationRequest, timeout: float = 300) -> list:
    """Submit `request`, wait until the queue is idle, and return the events of that job."""
    events: list = []
    unsubscribe = queue.subscribe(events.append)
    try:
        job = queue.submit(request)
        assert queue.wait_idle(timeout=timeout), f"the job did not end within {timeout} s"
    finally:
        unsubscribe()
    return [e for e in events if e.job_id == job]
