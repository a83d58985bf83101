"""Single-file checkpoints through the real engine: they run, and a bad model never unloads a good one."""

from __future__ import annotations

import json

import pytest
from checkpoint_support import save_single_file, tiny_sd1

from studio.core.events import Failed, Finished, Loading
from studio.core.request import GenerationRequest
from studio.core.settings import EngineSettings
from studio.engine import _checkpoints
from studio.engine.backend import DiffusersBackend, native_size
from studio.engine.jobs import JobQueue


@pytest.fixture
def engine():
    backend = DiffusersBackend(EngineSettings())
    queue = JobQueue(backend)
    yield queue, backend
    assert queue.shutdown(timeout=60)


def run(queue, model) -> list:
    events: list = []
    unsubscribe = queue.subscribe(events.append)
    job_id = queue.submit(GenerationRequest("a red circle", steps=2, width=64, height=64, model=str(model)))
    assert queue.wait_idle(timeout=120)
    unsubscribe()
    return [e for e in events if e.job_id == job_id]


def test_single_file_runs_and_bad_models_keep_the_previous_one(engine, tmp_path, tiny_model_dir, monkeypatch):
    queue, backend = engine
    # The tiny checkpoint's configs are the tiny folder's, not the real SD1 ones shipped in resources.
    monkeypatch.setattr(_checkpoints, "variant_config_dir", lambda info: tiny_model_dir)
    single = save_single_file(tiny_sd1(), tmp_path / "tiny-sd1.safetensors")
    events = run(queue, single)
    assert isinstance(events[-1], Finished), events[-1]
    assert events[-1].image.size == (64, 64) and events[-1].info["arch"] == "sd1"
    assert backend.loaded.key == str(single)

    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(single.read_bytes()[:5000])
    pickle = tmp_path / "model.ckpt"
    pickle.write_bytes(b"not even a pickle")
    flux = tmp_path / "flux"
    flux.mkdir()
    (flux / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}))
    for bad, words in ((cut, "incomplete"), (pickle, "can run code"), (flux, "FluxPipeline"),
                       (tmp_path / "nowhere.safetensors", "not found")):
        events = run(queue, bad)
        assert isinstance(events[-1], Failed) and words in events[-1].message, events[-1]
        assert "\n" not in events[-1].message
        assert backend.loaded.key == str(single)  # the good model is still loaded

    again = run(queue, single)
    assert isinstance(again[-1], Finished)
    assert not any(isinstance(e, Loading) for e in again)  # reused, not reloaded


def test_native_size_of_single_files(tmp_path, monkeypatch):
    single = save_single_file(tiny_sd1(), tmp_path / "some-sd1.safetensors")
    assert native_size(str(single)) == 512


def test_inpainting_model_refuses_text_to_image_in_one_line(engine, tmp_path, monkeypatch):
    from checkpoint_support import tiny_sd1_inpaint

    queue, backend = engine
    folder = tmp_path / "inpaint-folder"
    tiny_sd1_inpaint().save_pretrained(folder)
    events = run(queue, folder)
    assert isinstance(events[-1], Failed) and "inpainting model" in events[-1].message


def test_config_given_to_a_file_is_used_named_and_reloads_when_changed(engine, tmp_path, tiny_model_dir):
    from studio.engine.models import set_model_config

    queue, backend = engine
    single = save_single_file(tiny_sd1(), tmp_path / "tiny-sd1.safetensors")
    set_model_config(single, tiny_model_dir)  # the tiny checkpoint fits its own folder's configs only
    events = run(queue, single)
    assert isinstance(events[-1], Finished), events[-1]
    assert events[-1].info["model_config"] == tiny_model_dir.name  # a name, never a path
    set_model_config(single, None)  # same model, other config: loaded again, and the shipped
    events = run(queue, single)  # SD 1 configs do not fit the tiny weights
    assert isinstance(events[-1], Failed) and "give its config with --config" in events[-1].message
    set_model_config(single, tiny_model_dir)
    again = run(queue, single)
    assert isinstance(again[-1], Finished) and not any(isinstance(e, Loading) for e in again)

