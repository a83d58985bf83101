"""LocalProcess: the engine in a spawned worker process. Event order and thread, parity with the
in-thread engine, surviving a killed worker, hard cancel of a hung kernel, and a torch-free parent.

Each spawn costs 0.5-3 s, so the tests share what they can; every wait has a timeout."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from job_support import Recorder

from studio.core.events import Cancelled, EngineNotice, Failed, Finished, Preview, Started
from studio.core.jobspec import JobSpec
from studio.core.request import GenerationRequest, RequestError
from studio.core.settings import EngineSettings
from studio.engine.executor import Executor, InThread
from studio.engine.process import LocalProcess

FAKE = "studio.engine.fake:FakeBackend"
pytestmark = pytest.mark.skipif(sys.platform == "win32", reason="kills the worker with POSIX signals")


def _request(prompt: str = "a fox", steps: int = 4, seed: int = 1) -> GenerationRequest:
    return GenerationRequest(prompt=prompt, steps=steps, seed=seed, width=64, height=64)


@pytest.fixture
def fake_process():
    executor = LocalProcess(FAKE, {"step_delay": 0.02}, hard_cancel_s=0.5)
    yield executor
    assert executor.shutdown(timeout=20)
    assert executor.worker_pid is None


def _assert_job_order(kinds: list[str]) -> None:
    assert kinds[0] == "Queued"
    rest = kinds[1:]
    start = rest.index("Started")
    assert set(rest[:start]) <= {"Loading"}
    body = rest[start + 1 : -1]
    assert body == ["Progress", "Preview"] * (len(body) // 2)
    assert rest[-1] in {"Finished", "Cancelled", "Failed"}


def test_events_in_order_on_one_thread_and_a_waiting_job_cancels_at_once(fake_process):
    assert isinstance(fake_process, Executor) and isinstance(InThread, type)
    seen = Recorder(fake_process)
    first = fake_process.submit(_request(steps=5))
    second = fake_process.submit(_request(seed=2))
    third = fake_process.submit(_request(seed=3))
    assert [j.job_id for j in fake_process.jobs()] == [first, second, third]
    assert fake_process.cancel(third)
    assert not fake_process.cancel(999)
    assert fake_process.wait_idle(30)
    _assert_job_order(seen.kinds(first))
    _assert_job_order(seen.kinds(second))
    assert seen.kinds(first).count("Preview") == 5
    assert seen.kinds(third) == ["Queued", "Cancelled"]
    assert seen.threads == {"studio-engine"}  # the supervisor's, never the test's own
    assert seen.of(second)[0].position == 1
    final = seen.of(first)[-1]
    assert isinstance(final, Finished) and final.image.size == (64, 64)
    assert final.request == _request(steps=5)
    with pytest.raises(RequestError):
        fake_process.submit(_request(steps=0))


def test_a_spec_runs_on_its_own_input_bytes_and_reports_the_artists_paths(fake_process, tmp_path):
    from PIL import Image

    source = tmp_path / "source.png"
    Image.new("RGB", (64, 64), "red").save(source)
    request = _request().replace(init_image=str(source))
    spec = JobSpec.from_request(request)
    source.unlink()  # the worker must not need the artist's file any more
    seen = Recorder(fake_process)
    job = fake_process.submit(spec)
    assert fake_process.wait_idle(30)
    final = seen.of(job)[-1]
    assert isinstance(final, Finished), seen.kinds(job)
    assert final.request.init_image == str(source)
    started = next(e for e in seen.of(job) if isinstance(e, Started))
    assert started.request.init_image == str(source)


def test_a_killed_worker_restarts_and_runs_the_interrupted_job_then_the_queue(fake_process):
    seen = Recorder(fake_process)
    killed: list[int] = []

    def kill_once(event) -> None:
        if isinstance(event, Preview) and not killed:
            killed.append(fake_process.worker_pid)
            os.kill(killed[0], signal.SIGKILL)

    seen.hooks.append(kill_once)
    first = fake_process.submit(_request(steps=6))
    second = fake_process.submit(_request(seed=2))
    assert fake_process.wait_idle(60)
    notices = [e for e in seen.of(first) if isinstance(e, EngineNotice)]
    assert len(notices) == 1 and "signal 9" in notices[0].message and "restarting" in notices[0].message
    assert isinstance(seen.of(first)[-1], Finished)
    assert isinstance(seen.of(second)[-1], Finished)
    assert fake_process.worker_pid not in (None, killed[0])
    # one more job works on the same executor
    third = fake_process.submit(_request(seed=3))
    assert fake_process.wait_idle(30)
    assert isinstance(seen.of(third)[-1], Finished)


def test_a_job_that_kills_the_worker_twice_fails_in_one_line(fake_process):
    seen = Recorder(fake_process)
    bad = fake_process.submit(_request("CRASH the driver"))
    good = fake_process.submit(_request(seed=2))
    assert fake_process.wait_idle(60)
    final = seen.of(bad)[-1]
    assert isinstance(final, Failed) and "twice" in final.message and "\n" not in final.message
    assert sum(isinstance(e, EngineNotice) for e in seen.of(bad)) == 1
    assert isinstance(seen.of(good)[-1], Finished)


def test_a_hung_kernel_is_killed_after_hard_cancel_s_and_the_next_job_runs(fake_process):
    seen = Recorder(fake_process)
    asked: list[float] = []

    def cancel_on_preview(event) -> None:
        if isinstance(event, Preview) and not asked:
            asked.append(time.monotonic())
            threading.Thread(target=fake_process.cancel, args=(event.job_id,)).start()

    seen.hooks.append(cancel_on_preview)
    hung = fake_process.submit(_request("HANG please"))
    after = fake_process.submit(_request(seed=2))
    assert fake_process.wait_idle(30)
    final = seen.of(hung)[-1]
    assert isinstance(final, Cancelled) and final.last_preview is not None
    assert seen.arrival[id(final)] - asked[0] < fake_process.hard_cancel_s + 2.0
    assert isinstance(seen.of(after)[-1], Finished)


def test_the_parent_never_imports_torch_and_the_worker_never_reruns_a_package_main(tmp_path):
    # Like `python -m studio`: a package __main__ with no __name__ guard, which spawn must not
    # run again in the worker (it would start the CLI or the window there).
    probe = tmp_path / "probe"
    probe.mkdir()
    (probe / "__init__.py").write_text("")
    (probe / "__main__.py").write_text(
        "import os, sys\n"
        "print('main ran in', os.getpid(), flush=True)\n"
        "from studio.engine.process import LocalProcess\n"
        "from studio.core.request import GenerationRequest\n"
        "from studio.core.events import Finished\n"
        "ex = LocalProcess('studio.engine.fake:FakeBackend')\n"
        "got = []\n"
        "ex.subscribe(got.append)\n"
        "ex.submit(GenerationRequest(prompt='x', steps=2, width=64, height=64))\n"
        "assert ex.wait_idle(30) and isinstance(got[-1], Finished), got\n"
        "assert ex.shutdown(10)\n"
        "bad = sorted(m for m in ('torch', 'diffusers', 'transformers') if m in sys.modules)\n"
        "assert not bad, bad\n"
        "print('ok', flush=True)\n"
    )
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([str(tmp_path), str(Path(__file__).resolve().parents[1])])}
    result = subprocess.run([sys.executable, "-m", "probe"], capture_output=True, text=True,
                            timeout=120, env=env)
    assert result.returncode == 0, result.stderr[-2000:]
    lines = result.stdout.split()
    assert result.stdout.count("main ran") == 1, result.stdout
    assert lines[-1] == "ok"


def test_in_thread_and_local_process_give_byte_identical_pictures(tiny_model_dir):
    requests = [GenerationRequest("a red circle on blue", seed=7, steps=3, width=64, height=64,
                                  model=str(tiny_model_dir), scheduler=name)
                for name in ("Euler a", "DPM++ 2M")]
    pictures = []
    for executor in (InThread(_real_backend()), LocalProcess(settings=EngineSettings())):
        try:
            got: list = []
            executor.subscribe(got.append)
            ids = [executor.submit(request) for request in requests]
            assert executor.wait_idle(180)
            finals = [[e for e in got if e.job_id == job][-1] for job in ids]
            assert all(isinstance(f, Finished) for f in finals), finals
            pictures.append([(f.image.mode, f.image.size, f.image.tobytes()) for f in finals])
        finally:
            assert executor.shutdown(60)
    in_thread, in_process = pictures
    assert in_thread[0] != in_thread[1]  # the two samplers differ, so equality below means something
    assert in_thread == in_process


def _real_backend():
    from studio.engine.backend import DiffusersBackend

    return DiffusersBackend(EngineSettings())
