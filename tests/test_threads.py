"""The engine gives torch as many CPU threads as asked (STUDIO_THREADS, then settings.json's
`threads`), by default the machine's physical cores, and says how many each job used."""

from __future__ import annotations

import os

import pytest
import torch
from job_support import job_events

from studio.core.events import Finished
from studio.core.request import GenerationRequest
from studio.core.settings import EngineSettings
from studio.engine import _threads
from studio.engine.backend import DiffusersBackend
from studio.engine.jobs import JobQueue


@pytest.fixture(autouse=True)
def keep_torch_threads():
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


def _threads_of_a_job(tiny_model_dir, settings: EngineSettings) -> int:
    queue = JobQueue(DiffusersBackend(settings))
    try:
        events = job_events(queue, GenerationRequest("a cube", steps=1, width=64, height=64,
                                                     model=str(tiny_model_dir)))
    finally:
        assert queue.shutdown(60)
    finished = events[-1]
    assert isinstance(finished, Finished), finished
    return finished.info["threads"]


def test_the_environment_wins(tiny_model_dir, monkeypatch):
    monkeypatch.setenv("STUDIO_THREADS", "1")
    assert _threads_of_a_job(tiny_model_dir, EngineSettings(threads=2)) == 1


def test_the_setting_is_used_when_the_environment_is_silent(tiny_model_dir, monkeypatch):
    monkeypatch.delenv("STUDIO_THREADS", raising=False)
    torch.set_num_threads(2)
    assert _threads_of_a_job(tiny_model_dir, EngineSettings(threads=1)) == 1


def test_default_is_the_physical_cores_this_process_may_use(monkeypatch):
    monkeypatch.delenv("STUDIO_THREADS", raising=False)
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)
    cores = _threads.physical_cores()
    assert 1 <= cores <= len(os.sched_getaffinity(0))
    assert _threads.wanted_threads(EngineSettings()) == cores


def test_a_bad_value_is_ignored(monkeypatch):
    monkeypatch.setenv("STUDIO_THREADS", "lots")
    assert _threads.wanted_threads(EngineSettings(threads=3)) == 3
    assert EngineSettings(threads=-2).validated().threads == 0


def test_omp_num_threads_is_the_default_when_set(monkeypatch):
    monkeypatch.delenv("STUDIO_THREADS", raising=False)
    monkeypatch.setenv("OMP_NUM_THREADS", "1")
    assert _threads.wanted_threads(EngineSettings()) == 1
    assert _threads.wanted_threads(EngineSettings(threads=2)) == 2


def test_cli_threads_flag_reaches_the_engine(tiny_model_dir, tmp_path, monkeypatch, capsys):
    from studio.cli import main

    monkeypatch.setenv("STUDIO_THREADS", "")  # so that what --threads sets is undone after the test
    out = tmp_path / "one.png"
    assert main(["generate", "a cube", "--model", str(tiny_model_dir), "--steps", "1", "--width", "64",
                 "--height", "64", "--threads", "1", "--no-gallery", "-o", str(out)]) == 0
    assert torch.get_num_threads() == 1
    with pytest.raises(SystemExit) as bad:
        main(["generate", "a cube", "--threads", "0", "-o", str(out)])
    assert bad.value.code == 2
    assert "whole number of threads" in capsys.readouterr().err
    assert os.environ.get("STUDIO_THREADS") == "1"  # how --threads reaches the engine


def test_the_window_leaves_its_worker_all_cores_but_one(monkeypatch):
    from studio.engine import cores

    for name in ("STUDIO_THREADS", "OMP_NUM_THREADS", "STUDIO_LEAVE_CORES"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(cores, "physical_cores", lambda: 4)
    assert cores.wanted_threads(EngineSettings()) == 4  # the CLI: every core
    monkeypatch.setenv("STUDIO_LEAVE_CORES", "1")  # what the window's worker is started with
    assert cores.wanted_threads(EngineSettings()) == 3
    assert cores.wanted_threads(EngineSettings(), leave=9) == 1  # never none
    assert cores.wanted_threads(EngineSettings(threads=4)) == 4  # the artist's setting wins
