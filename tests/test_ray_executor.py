"""RayExecutor on a local Ray instance of 2 CPUs: the same pixels as in-thread and LocalProcess,
cancel reaching a running actor, a SIGKILLed actor's job run again with one terminal event each,
a model no node has failing in one line, and a job that kills its actor twice failing.

Actors import torch once each (seconds on 2 cores), so one 2-actor executor serves most tests;
every wait has a timeout."""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time

import pytest
from job_support import Recorder

from studio.core.events import (
    Cancelled,
    EngineNotice,
    Failed,
    Finished,
    Preview,
    Progress,
    Started,
)
from studio.core.jobspec import JobSpec, ModelRef
from studio.core.request import MAX_STEPS, GenerationRequest
from studio.core.settings import EngineSettings
from studio.engine.executor import Executor
from studio.engine.jobs import UserError

ray = pytest.importorskip("ray", reason="Ray is not installed: pip install -e '.[ray]'")
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="kills actors with POSIX signals")

from studio.engine.ray_executor import INSTALL_HINT, RayExecutor, ray_address  # noqa: E402


def _request(seed: int = 7, steps: int = 3, scheduler: str = "Euler a", prompt: str = "a red circle on blue"):
    return GenerationRequest(prompt, seed=seed, steps=steps, width=64, height=64, scheduler=scheduler)


@pytest.fixture(scope="module")
def ray_local(tmp_path_factory):
    """A local Ray instance of 2 CPUs; its workers keep their hash cache in a throwaway home."""
    saved = os.environ.get("STUDIO_HOME")
    os.environ["STUDIO_HOME"] = str(tmp_path_factory.mktemp("ray-home"))
    try:
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    finally:
        if saved is None:
            os.environ.pop("STUDIO_HOME", None)
        else:
            os.environ["STUDIO_HOME"] = saved
    yield
    ray.shutdown()


@pytest.fixture(scope="module")
def two_actors(ray_local):
    executor = RayExecutor("local", actors=2, settings=EngineSettings())
    yield executor
    assert executor.shutdown(60)


def test_address_and_a_missing_ray_are_said_in_one_line(monkeypatch):
    monkeypatch.setenv("STUDIO_RAY_ADDRESS", "10.0.0.5:6379")
    assert ray_address(None) == ray_address("") == "10.0.0.5:6379"
    assert ray_address(" local ") == "local"
    monkeypatch.delenv("STUDIO_RAY_ADDRESS")
    assert ray_address(None) == ""
    monkeypatch.setitem(sys.modules, "ray", None)  # as if the extra were not installed
    with pytest.raises(UserError) as caught:
        RayExecutor("local")
    assert str(caught.value) == INSTALL_HINT


class _FakeRay:
    """What plan_actors and connect read of Ray: resources, nodes, and whether it is running."""

    def __init__(self, cpus: int, gpus: int = 0, nodes: int = 1) -> None:
        self.cpus, self.gpus, self.nodes_ = cpus, gpus, nodes
        self.init_calls: list = []

    def cluster_resources(self) -> dict:
        return {"CPU": float(self.cpus), **({"GPU": float(self.gpus)} if self.gpus else {})}

    def nodes(self) -> list:
        return [{"Alive": True, "Resources": {"CPU": self.cpus / self.nodes_}}] * self.nodes_

    def is_initialized(self) -> bool:
        return False

    def init(self, **kwargs) -> None:
        self.init_calls.append(kwargs)


def test_actors_are_one_per_gpu_or_a_share_of_the_cpus_that_fits_a_node():
    from studio.engine.ray_cluster import plan_actors

    assert plan_actors(_FakeRay(16, gpus=8), None) == ({"num_gpus": 1, "num_cpus": 1}, 2, 8)
    assert plan_actors(_FakeRay(16, gpus=8), 3)[2] == 3
    assert plan_actors(_FakeRay(2), 2) == ({"num_cpus": 1}, 1, 2)
    assert plan_actors(_FakeRay(2), 1) == ({"num_cpus": 2}, 2, 1)
    assert plan_actors(_FakeRay(32), None) == ({"num_cpus": 8}, 8, 4)  # at most 4 copies of a model
    assert plan_actors(_FakeRay(8, nodes=2), 1) == ({"num_cpus": 4}, 4, 1)  # no node has 8
    assert plan_actors(_FakeRay(2), 4) == ({"num_cpus": 0.5}, 1, 4)


def test_an_address_where_nothing_listens_fails_at_once_in_one_line():
    from studio.engine.ray_cluster import connect

    fake = _FakeRay(2)
    start = time.monotonic()
    with pytest.raises(UserError) as caught:
        connect(fake, "127.0.0.1:1")  # ray.init itself would wait minutes here
    assert time.monotonic() - start < 10
    message = str(caught.value)
    assert "127.0.0.1:1" in message and "ray start --head" in message and "\n" not in message
    assert fake.init_calls == []


def test_a_job_that_kills_its_actor_twice_fails_and_the_next_one_runs(ray_local):
    # First in the file: its actor needs a CPU the 2-actor executor below holds while it lives.
    executor = RayExecutor("local", actors=1, backend="studio.engine.fake:FakeBackend")
    try:
        seen = Recorder(executor)
        bad = executor.submit(_request(prompt="CRASH the driver"))
        good = executor.submit(_request(seed=2))
        assert executor.wait_idle(120)
        (final,) = seen.terminals(bad)
        assert isinstance(final, Failed) and "twice" in final.message and "\n" not in final.message
        assert sum(isinstance(e, EngineNotice) for e in seen.of(bad)) == 1
        assert isinstance(seen.terminals(good)[0], Finished)
        assert seen.threads == {"studio-ray"}
    finally:
        assert executor.shutdown(60)


def test_in_thread_local_process_and_ray_give_byte_identical_pictures(two_actors):
    from studio.engine.backend import create_engine
    from studio.engine.process import LocalProcess

    assert isinstance(two_actors, Executor)
    requests = [_request(7, 3, "Euler a"), _request(8, 3, "DPM++ 2M"), _request(9, 2, "DDIM")]
    executors = {"ray": two_actors, "process": LocalProcess(settings=EngineSettings()),
                 "thread": create_engine(EngineSettings())}
    recorders = {name: Recorder(ex) for name, ex in executors.items()}
    try:  # all at once: the actors, the worker and this process import torch side by side
        ids = {name: [ex.submit(r) for r in requests] for name, ex in executors.items()}
        for executor in executors.values():
            assert executor.wait_idle(300)
    finally:
        for name in ("process", "thread"):
            assert executors[name].shutdown(60)
    pictures = {}
    for name, seen in recorders.items():
        finals = [seen.terminals(job) for job in ids[name]]
        assert all(len(f) == 1 and isinstance(f[0], Finished) for f in finals), (name, finals)
        pictures[name] = [f[0].image.tobytes() for f in finals]
    assert len(set(pictures["thread"])) == 3  # the cells differ, so the equality below means something
    assert pictures["ray"] == pictures["thread"] == pictures["process"]
    ray_events = [e for job in ids["ray"] for e in recorders["ray"].of(job)]
    assert any(isinstance(e, Progress) for e in ray_events)
    assert not any(isinstance(e, Preview) for e in ray_events)  # previews=False: grids need none
    finished = [recorders["ray"].terminals(job)[0] for job in ids["ray"]]
    assert [f.request for f in finished] == requests  # the artist's request, not the node's paths
    assert recorders["ray"].threads == {"studio-ray"}


def test_cancel_reaches_a_running_actor_within_a_step(two_actors):
    seen = Recorder(two_actors)
    asked: list[float] = []

    def cancel_on_progress(event) -> None:
        if isinstance(event, Progress) and not asked:
            asked.append(time.monotonic())
            threading.Thread(target=two_actors.cancel, args=(event.job_id,)).start()

    seen.hooks.append(cancel_on_progress)
    job = two_actors.submit(_request(steps=MAX_STEPS))
    assert two_actors.wait_idle(120)
    (final,) = seen.terminals(job)
    assert isinstance(final, Cancelled)
    steps = [e.step for e in seen.of(job) if isinstance(e, Progress)]
    assert max(steps) < MAX_STEPS
    assert time.monotonic() - asked[0] < two_actors.hard_cancel_s  # the actor stopped, not killed
    assert not any(isinstance(e, EngineNotice) for e in seen.of(job))


def test_a_model_no_node_has_fails_in_one_line(two_actors):
    seen = Recorder(two_actors)
    spec = JobSpec(_request(), model=ModelRef("", "ab" * 32))
    job = two_actors.submit(spec)
    assert two_actors.wait_idle(60)
    (final,) = seen.terminals(job)
    assert isinstance(final, Failed), final
    assert "abababab" in final.message and "not on Ray node" in final.message
    assert "\n" not in final.message
    assert not any(isinstance(e, Started) for e in seen.of(job))


def test_a_sigkilled_actor_loses_nothing_and_each_job_ends_once(two_actors):
    seen = Recorder(two_actors)
    killed: list[int] = []

    def kill(job_id: int) -> None:
        pid = two_actors.running_pids()[job_id]
        killed.append(pid)
        os.kill(pid, signal.SIGKILL)

    def kill_once(event) -> None:
        if isinstance(event, Progress) and not killed and event.step == 2:
            killed.append(0)
            threading.Thread(target=kill, args=(event.job_id,)).start()

    seen.hooks.append(kill_once)
    requests = [_request(seed, steps=6) for seed in (11, 12, 13, 14)]
    ids = [two_actors.submit(r) for r in requests]
    assert two_actors.wait_idle(180)
    assert killed[-1] > 0
    for job in ids:
        assert [type(e) for e in seen.terminals(job)] == [Finished], seen.of(job)
    notices = [e for job in ids for e in seen.of(job) if isinstance(e, EngineNotice)]
    assert len(notices) == 1 and "running this picture again" in notices[0].message
    # the re-run gives the picture an undisturbed run gives
    rerun = notices[0].job_id
    again = two_actors.submit(requests[ids.index(rerun)])
    assert two_actors.wait_idle(120)
    assert seen.terminals(again)[0].image.tobytes() == seen.terminals(rerun)[0].image.tobytes()


LOCAL_FROM_A_THREAD = """
import threading
from studio.core.events import TERMINAL
from studio.core.request import GenerationRequest
from studio.engine.ray_executor import RayExecutor
made = []
maker = threading.Thread(target=lambda: made.append(
    RayExecutor("local", actors=1, backend="studio.engine.fake:FakeBackend")))
maker.start()
maker.join()  # the thread that started Ray is gone, as in the window
ends, done = [], threading.Event()
made[0].subscribe(lambda e: (ends.append(type(e).__name__), done.set()) if isinstance(e, TERMINAL) else None)
made[0].submit(GenerationRequest("a red circle", seed=1, steps=2, width=64, height=64))
print("ENDED", done.wait(60), ends, flush=True)
made[0].shutdown(10)
"""


def test_a_local_instance_started_from_a_passing_thread_keeps_running():
    """The window makes its RayExecutor on a short-lived thread; Ray's processes, tied to the
    thread that starts them, must outlive it (in a fresh interpreter: this module's Ray is up)."""
    import subprocess

    done = subprocess.run([sys.executable, "-c", LOCAL_FROM_A_THREAD], capture_output=True, text=True,
                          timeout=150, env={**os.environ, "RAY_ADDRESS": ""})
    assert "ENDED True ['Finished']" in done.stdout, done.stdout[-500:] + done.stderr[-1500:]
