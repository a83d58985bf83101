"""The diffusers engine on a tiny random SD1 pipeline: events, parity with plain diffusers, cancel,
model reuse and failures. Every job is 64x64 with a few steps, so each test runs in well under a second
after the session's one model build."""

from __future__ import annotations

import json
import shutil

import numpy as np
import pytest
import torch
from PIL import Image

from studio.core.events import (
    Cancelled,
    Failed,
    Finished,
    Loading,
    Preview,
    Progress,
    Queued,
    Started,
)
from studio.core.request import SCHEDULERS, GenerationRequest, RequestError
from studio.core.settings import EngineSettings
from studio.engine.backend import DiffusersBackend, native_size
from studio.engine.jobs import JobQueue, UserError


@pytest.fixture
def engine():
    queue = JobQueue(DiffusersBackend(EngineSettings()))
    yield queue
    assert queue.shutdown(timeout=60)


def run(queue: JobQueue, request: GenerationRequest, on_event=None) -> list:
    """Submit one job, wait for it, and return its events in order."""
    events: list = []

    def listen(event):
        events.append(event)
        if on_event is not None:
            on_event(queue, event)

    unsubscribe = queue.subscribe(listen)
    try:
        job_id = queue.submit(request)
        assert queue.wait_idle(timeout=120)
    finally:
        unsubscribe()
    return [e for e in events if e.job_id == job_id]


def request_for(model_dir, **changes) -> GenerationRequest:
    base = GenerationRequest("a red circle on blue", seed=42, steps=3, width=64, height=64, model=str(model_dir))
    return base.replace(**changes)


def finished(events) -> Finished:
    last = events[-1]
    assert isinstance(last, Finished), getattr(last, "message", last)
    return last


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"), dtype=np.int16)


def plain_pipeline_image(model_dir, request: GenerationRequest, guidance_rescale: float = 0.0) -> Image.Image:
    """What a plain diffusers call gives, with the same scheduler and settings."""
    from diffusers import DiffusionPipeline

    from studio.engine._schedulers import build_scheduler

    pipe = DiffusionPipeline.from_pretrained(model_dir, local_files_only=True, safety_checker=None)
    pipe.set_progress_bar_config(disable=True)
    pipe.scheduler = build_scheduler(request.scheduler, pipe.scheduler.config)
    return pipe(
        request.prompt,
        negative_prompt=request.negative_prompt or None,
        num_inference_steps=request.steps,
        guidance_scale=request.guidance_scale,
        guidance_rescale=guidance_rescale,
        width=request.width,
        height=request.height,
        generator=torch.Generator("cpu").manual_seed(request.seed),
    ).images[0]


def test_event_order_one_preview_per_step(engine, tiny_model_dir):
    events = run(engine, request_for(tiny_model_dir, steps=4))
    kinds = [type(e) for e in events]
    assert kinds[0] is Queued
    loading = [e for e in events if isinstance(e, Loading)]
    assert loading and loading[-1].fraction == 1.0
    fractions = [e.fraction for e in loading]
    assert fractions == sorted(fractions)
    first_after_loading = kinds.index(Started)
    assert all(k is Loading for k in kinds[1:first_after_loading])
    assert kinds[first_after_loading + 1 : -1] == [Progress, Preview] * 4
    progress = [e for e in events if isinstance(e, Progress)]
    assert [p.step for p in progress] == [1, 2, 3, 4]
    assert all(p.total == 4 for p in progress)
    assert progress[-1].eta == 0
    previews = [e for e in events if isinstance(e, Preview)]
    assert [p.step for p in previews] == [1, 2, 3, 4]
    # latent resolution (64 / 8) upscaled x2
    assert previews[0].image.size == (16, 16)
    done = finished(events)
    assert done.image.size == (64, 64)
    assert {"load", "sample", "decode", "total"} <= set(done.timings)
    assert done.info["model"] == "tiny"
    assert done.info["arch"] == "sd1"
    assert done.info["device"] == "cpu" and done.info["dtype"] == "float32"
    assert done.info["scheduler"] == "Euler a"
    assert len(done.info["model_hash"]) == 16


def test_same_request_same_pixels_and_seed_changes_them(engine, tiny_model_dir):
    request = request_for(tiny_model_dir)
    first = pixels(finished(run(engine, request)).image)
    second = pixels(finished(run(engine, request)).image)
    other_seed = pixels(finished(run(engine, request.replace(seed=43))).image)
    assert np.array_equal(first, second)
    assert not np.array_equal(first, other_seed)


@pytest.mark.parametrize("scheduler", SCHEDULERS)
def test_matches_plain_diffusers_call(engine, tiny_model_dir, scheduler):
    request = request_for(tiny_model_dir, scheduler=scheduler, negative_prompt="green")
    ours = pixels(finished(run(engine, request)).image)
    theirs = pixels(plain_pipeline_image(tiny_model_dir, request))
    assert np.abs(ours - theirs).max() == 0


def test_matches_plain_call_without_guidance(engine, tiny_model_dir):
    request = request_for(tiny_model_dir, guidance_scale=1.0, scheduler="DDIM")
    ours = pixels(finished(run(engine, request)).image)
    assert np.abs(ours - pixels(plain_pipeline_image(tiny_model_dir, request))).max() == 0


def test_zero_snr_models_get_their_guidance_rescale(engine, tiny_model_dir, tmp_path):
    """A model trained with zero terminal SNR (like the bundled one) gets rescale 0.7 unless the
    request says otherwise; the value applied is in the Finished info (the A1111 text writes it)."""
    zero_snr = tmp_path / "tiny-zsnr"
    shutil.copytree(tiny_model_dir, zero_snr)
    config_file = zero_snr / "scheduler" / "scheduler_config.json"
    config = json.loads(config_file.read_text())
    config.update(rescale_betas_zero_snr=True, timestep_spacing="trailing")
    config_file.write_text(json.dumps(config))
    request = request_for(zero_snr, scheduler="Euler", guidance_scale=6.0)
    auto = finished(run(engine, request))
    assert auto.info["guidance_rescale"] == 0.7
    assert np.array_equal(pixels(auto.image), pixels(plain_pipeline_image(zero_snr, request, 0.7)))
    off = finished(run(engine, request.replace(guidance_rescale=0.0)))
    assert off.info["guidance_rescale"] == 0.0
    assert np.array_equal(pixels(off.image), pixels(plain_pipeline_image(zero_snr, request)))
    assert not np.array_equal(pixels(auto.image), pixels(off.image))
    # An ordinary schedule has none by default.
    assert finished(run(engine, request_for(tiny_model_dir))).info["guidance_rescale"] == 0.0


def test_preview_every_n_steps(tiny_model_dir):
    queue = JobQueue(DiffusersBackend(EngineSettings(preview_every=2)))
    try:
        events = run(queue, request_for(tiny_model_dir, steps=5))
    finally:
        queue.shutdown(timeout=60)
    assert [e.step for e in events if isinstance(e, Preview)] == [2, 4, 5]
    assert len([e for e in events if isinstance(e, Progress)]) == 5
    finished(events)


def test_cancel_takes_effect_within_a_step_and_next_job_runs(engine, tiny_model_dir, monkeypatch):
    from studio.engine import _sampler

    decodes = []
    real_decode = _sampler.decode_latents
    monkeypatch.setattr(_sampler, "decode_latents", lambda *a: decodes.append(1) or real_decode(*a))
    after_cancel: list = []

    def cancel_on_first_preview(queue, event):
        if isinstance(event, Preview) and event.step == 1:
            queue.cancel(event.job_id)
        elif after_cancel or isinstance(event, Preview):
            after_cancel.append(event)

    events = run(engine, request_for(tiny_model_dir, steps=10), cancel_on_first_preview)
    assert isinstance(events[-1], Cancelled)
    assert events[-1].last_preview is not None
    assert not [e for e in after_cancel if isinstance(e, (Progress, Preview))]
    assert decodes == []  # a cancelled job skips the VAE decode
    # The next job is unaffected by the interrupted one.
    request = request_for(tiny_model_dir)
    assert np.array_equal(
        pixels(finished(run(engine, request)).image), pixels(plain_pipeline_image(tiny_model_dir, request))
    )
    assert decodes == [1]


def test_model_loads_once_and_is_reused(engine, tiny_model_dir):
    first = run(engine, request_for(tiny_model_dir))
    pipe = engine._backend.loaded.pipe
    second = run(engine, request_for(tiny_model_dir, scheduler="DDIM", prompt="another"))
    assert any(isinstance(e, Loading) for e in first)
    assert not any(isinstance(e, Loading) for e in second)
    assert engine._backend.loaded.pipe is pipe
    assert finished(second).timings["load"] < finished(first).timings["load"]


def test_missing_model_fails_in_one_line_and_keeps_the_loaded_one(engine, tiny_model_dir, tmp_path):
    finished(run(engine, request_for(tiny_model_dir)))
    loaded = engine._backend.loaded
    missing = tmp_path / "no-such-model"
    events = run(engine, request_for(tiny_model_dir, model=str(missing)))
    assert isinstance(events[-1], Failed)
    assert events[-1].message == f"model not found: {missing}"
    assert "\n" not in events[-1].message
    assert engine._backend.loaded is loaded
    not_a_model = tmp_path / "empty"
    not_a_model.mkdir()
    events = run(engine, request_for(tiny_model_dir, model=str(not_a_model)))
    assert isinstance(events[-1], Failed) and "no model_index.json" in events[-1].message
    # The queue keeps working, on the same model.
    assert not any(isinstance(e, Loading) for e in run(engine, request_for(tiny_model_dir)))


def test_bad_request_is_refused_at_submit(engine, tiny_model_dir):
    with pytest.raises(RequestError, match="multiple of 8"):
        engine.submit(request_for(tiny_model_dir, width=65))
    with pytest.raises(RequestError, match="unknown scheduler"):
        engine.submit(request_for(tiny_model_dir, scheduler="Heun"))


def test_default_model_is_the_tiny_one_built_into_the_cache(engine, studio_home, tmp_path, monkeypatch):
    from studio.engine import sources

    monkeypatch.setattr(sources, "bundled_model_present", lambda: False)  # not trained yet
    events = run(engine, GenerationRequest("hello", steps=2, width=64, height=64))
    assert finished(events).image.size == (64, 64)
    assert (studio_home / "cache" / "tiny-model" / "model_index.json").is_file()
    assert any("tiny" in e.message for e in events if isinstance(e, Loading))


def test_model_preview_map_file_is_used(engine, tiny_model_dir, tmp_path):
    model = tmp_path / "with-map"
    shutil.copytree(tiny_model_dir, model)
    # A map that shows only channel 0, in red.
    (model / "preview_map.json").write_text(
        json.dumps({"weights": [[1, 0, 0], [0, 0, 0], [0, 0, 0], [0, 0, 0]], "bias": [0, -1, -1]})
    )
    events = run(engine, request_for(model))
    assert finished(events).info["preview_map"] == "file"
    preview = pixels([e for e in events if isinstance(e, Preview)][-1].image)
    assert (preview[..., 1] == 0).all() and (preview[..., 2] == 0).all()


def test_out_of_memory_names_the_setting_that_helps(engine, tiny_model_dir, monkeypatch):
    from studio.engine import _sampler

    def out_of_memory(*args, **kwargs):
        raise RuntimeError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(_sampler, "run_txt2img", out_of_memory)
    events = run(engine, request_for(tiny_model_dir))
    assert isinstance(events[-1], Failed)
    assert events[-1].message.startswith("out of memory")
    assert "CPU offload" in events[-1].message


def test_a_mode_without_a_runner_is_refused_in_one_line(engine, tiny_model_dir, monkeypatch):
    from studio.engine import modes

    monkeypatch.delitem(modes.RUNNERS, "blend")
    events = run(engine, request_for(tiny_model_dir, mode="blend"))
    assert isinstance(events[-1], Failed)
    assert events[-1].message == "blend mode is not supported by this engine"


@pytest.mark.parametrize("mode", ["img2img", "inpaint", "outpaint"])
def test_the_runner_is_chosen_by_the_requests_mode(engine, tiny_model_dir, tmp_path, monkeypatch, mode):
    from studio.engine import modes

    calls = []

    def fake_run(model, job, settings):
        calls.append((model.name, job.request.mode))
        return Image.new("RGB", (64, 64), "red"), {"sample": 0.0, "decode": 0.0}

    for name in modes.RUNNERS:  # a fake under every mode: only the request's may be called
        monkeypatch.setitem(modes.RUNNERS, name, lambda *a, name=name: calls.append(name))
    monkeypatch.setitem(modes.RUNNERS, mode, fake_run)
    source = tmp_path / "source.png"
    Image.new("RGB", (64, 64)).save(source)
    mask = str(source) if mode != "img2img" else None
    request = request_for(tiny_model_dir, init_image=str(source), mask_image=mask, mode=mode)
    events = run(engine, request)
    assert finished(events).image.getpixel((0, 0)) == (255, 0, 0)
    assert calls == [("tiny", mode)]


def test_native_size_from_configs(tiny_model_dir, tmp_path):
    assert native_size(str(tiny_model_dir)) == 64
    xl = tmp_path / "xl"
    for sub, config in (("unet", {"sample_size": 128}), ("vae", {"block_out_channels": [128, 256, 512, 512]})):
        (xl / sub).mkdir(parents=True)
        (xl / sub / "config.json").write_text(json.dumps(config))
    (xl / "model_index.json").write_text("{}")
    assert native_size(str(xl)) == 1024
    with pytest.raises(UserError, match="model not found"):
        native_size(str(tmp_path / "missing"))


@pytest.fixture(scope="module")
def tiny_xl_dir(tmp_path_factory):
    from studio.engine.tiny import ensure_tiny_model

    return ensure_tiny_model(tmp_path_factory.mktemp("models") / "tiny-xl", arch="sdxl")


@pytest.mark.parametrize("scheduler", ["Euler a", "DPM++ 2M Karras"])
def test_sdxl_matches_plain_diffusers_call(engine, tiny_xl_dir, scheduler):
    request = request_for(tiny_xl_dir, scheduler=scheduler, negative_prompt="green")
    events = run(engine, request)
    done = finished(events)
    assert done.info["arch"] == "sdxl" and done.info["preview_map"] == "sdxl"
    assert len([e for e in events if isinstance(e, Preview)]) == request.steps
    theirs = pixels(plain_pipeline_image(tiny_xl_dir, request))
    assert np.abs(pixels(done.image) - theirs).max() == 0
    assert native_size(str(tiny_xl_dir)) == 64
