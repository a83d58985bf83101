"""The job queue's ordering guarantees, with the fake backend (no torch, no display)."""

from __future__ import annotations

import threading

import pytest

from studio.core.events import Cancelled, Failed, Finished, Preview, Progress, Queued, Started
from studio.core.request import GenerationRequest, RequestError
from studio.engine.fake import fake_engine


def _collect(queue):
    events = []
    queue.subscribe(events.append)
    return events


def test_events_in_order_with_one_preview_per_step():
    queue = fake_engine(step_delay=0.0)
    events = _collect(queue)
    job = queue.submit(GenerationRequest("a cat", steps=4, width=64, height=64))
    assert queue.wait_idle(5)
    queue.shutdown()
    mine = [e for e in events if e.job_id == job]
    assert isinstance(mine[0], Queued)
    assert isinstance(mine[-1], Finished)
    started = next(i for i, e in enumerate(mine) if isinstance(e, Started))
    assert all(not isinstance(e, (Progress, Preview)) for e in mine[:started])
    assert [e.step for e in mine if isinstance(e, Preview)] == [1, 2, 3, 4]
    assert [e.step for e in mine if isinstance(e, Progress)] == [1, 2, 3, 4]


def test_cancel_running_then_next_job_runs():
    queue = fake_engine(step_delay=0.02)
    events = _collect(queue)
    previewing = threading.Event()
    queue.subscribe(lambda e: previewing.set() if isinstance(e, Preview) else None)
    first = queue.submit(GenerationRequest("long", steps=150, width=64, height=64))
    second = queue.submit(GenerationRequest("short", steps=2, width=64, height=64))
    assert previewing.wait(10), "the first job never showed a preview"
    queue.cancel(first)
    assert queue.wait_idle(5)
    queue.shutdown()
    first_steps = [e.step for e in events if e.job_id == first and isinstance(e, Preview)]
    assert len(first_steps) < 10  # stopped within a step or two of the cancel
    assert isinstance([e for e in events if e.job_id == first][-1], Cancelled)
    assert isinstance([e for e in events if e.job_id == second][-1], Finished)


def test_cancel_waiting_job_never_runs():
    queue = fake_engine(step_delay=0.01)
    events = _collect(queue)
    queue.submit(GenerationRequest("a", steps=5, width=64, height=64))
    waiting = queue.submit(GenerationRequest("b", steps=5, width=64, height=64))
    assert [j.state for j in queue.jobs()][-1] == "queued"
    assert queue.cancel(waiting)
    assert queue.wait_idle(5)
    queue.shutdown()
    mine = [type(e).__name__ for e in events if e.job_id == waiting]
    assert mine == ["Queued", "Cancelled"]


def test_backend_error_becomes_failed_event_and_queue_survives():
    queue = fake_engine(step_delay=0.0)
    events = _collect(queue)
    bad = queue.submit(GenerationRequest("please FAIL", steps=2, width=64, height=64))
    good = queue.submit(GenerationRequest("fine", steps=2, width=64, height=64))
    assert queue.wait_idle(5)
    queue.shutdown()
    failed = [e for e in events if e.job_id == bad][-1]
    assert isinstance(failed, Failed) and "\n" not in failed.message
    assert isinstance([e for e in events if e.job_id == good][-1], Finished)


def test_bad_request_rejected_at_submit():
    queue = fake_engine()
    with pytest.raises(RequestError, match="multiple of 8"):
        queue.submit(GenerationRequest("x", width=100))
    assert queue.shutdown()


def test_shutdown_joins_worker_mid_job():
    queue = fake_engine(step_delay=0.05)
    queue.submit(GenerationRequest("x", steps=150, width=64, height=64))
    assert queue.shutdown(timeout=5)


def test_warm_up_runs_on_the_worker_before_the_next_job_and_never_breaks_it():
    queue = fake_engine(step_delay=0.0)
    order: list[str] = []
    backend = queue._backend
    real_run = backend.run

    def warm_up():
        order.append(f"warm:{threading.current_thread().name}")
        raise RuntimeError("import failed")  # logged; the job below still runs

    backend.warm_up = warm_up
    backend.run = lambda job: (order.append("run"), real_run(job))[1]
    queue.warm_up()
    events = _collect(queue)
    queue.submit(GenerationRequest("x", steps=1, width=64, height=64))
    assert queue.wait_idle(timeout=10)
    queue.shutdown()
    assert order == ["warm:studio-fake-inference", "run"]
    assert isinstance(events[-1], Finished)


def test_real_backend_warm_up_prepares_the_loader_without_loading_a_model():
    from studio.engine.backend import DiffusersBackend

    backend = DiffusersBackend()
    backend.warm_up()
    assert backend._loader is not None and backend.loaded is None
