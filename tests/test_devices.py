"""Device/dtype choice, memory options on a real (tiny) pipeline, and out-of-memory advice."""

from __future__ import annotations

import pytest
import torch

from studio.core.events import Failed
from studio.core.request import GenerationRequest
from studio.core.settings import EngineSettings
from studio.engine import _devices
from studio.engine._devices import choose_dtype, oom_advice, place_pipeline, plan
from studio.engine.backend import DiffusersBackend
from studio.engine.jobs import JobQueue, UserError


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(_devices, "mps_available", lambda: False)


def test_auto_picks_cpu_fp32_without_a_gpu(no_gpu):
    p = plan(EngineSettings())
    assert (p.device.type, p.dtype, p.notes) == ("cpu", torch.float32, ())


def test_auto_prefers_cuda_then_mps_in_half_precision(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert plan(EngineSettings()).device.type == "cuda"
    assert choose_dtype(EngineSettings(), torch.device("cuda"))[0] == torch.float16
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(_devices, "mps_available", lambda: True)
    p = plan(EngineSettings())
    assert (p.device.type, p.dtype) == ("mps", torch.float16)


def test_settings_override_and_missing_devices_are_one_line_errors(no_gpu):
    assert plan(EngineSettings(device="cpu", dtype="bfloat16")).dtype == torch.bfloat16
    for device in ("cuda", "mps"):
        with pytest.raises(UserError, match="set device to auto"):
            plan(EngineSettings(device=device))


def test_unsupported_dtypes_fall_back_with_a_note(no_gpu, monkeypatch):
    p = plan(EngineSettings(dtype="float16"))
    assert p.dtype == torch.float32 and "float16" in p.notes[0]
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: False)
    dtype, notes = choose_dtype(EngineSettings(dtype="bfloat16"), torch.device("cuda"))
    assert dtype == torch.float16 and "bfloat16" in notes[0]


def test_memory_options_reach_the_pipeline(no_gpu, tiny_model_dir):
    from diffusers import DiffusionPipeline
    from diffusers.models.attention_processor import SlicedAttnProcessor

    pipe = DiffusionPipeline.from_pretrained(tiny_model_dir, local_files_only=True)
    settings = EngineSettings(attention_slicing=True, vae_tiling=True, cpu_offload=True)
    notes = place_pipeline(pipe, settings, plan(settings))
    assert pipe.vae.use_tiling
    assert any(isinstance(p, SlicedAttnProcessor) for p in pipe.unet.attn_processors.values())
    assert notes and "CPU offload" in notes[0]
    image = pipe("a", num_inference_steps=1, height=64, width=64, guidance_scale=1.0).images[0]
    assert image.size == (64, 64)


class _LoaderThatRaises:
    """Stands in for the model loader: the job fails the way a GPU out of memory makes it."""

    current = None

    def __init__(self, exc: BaseException) -> None:
        self.exc = exc

    def get(self, model, job):
        raise self.exc

    def unload(self) -> None:
        pass


def _failure_of_a_job_raising(exc: BaseException) -> Failed:
    backend = DiffusersBackend(EngineSettings())
    backend._loader = _LoaderThatRaises(exc)
    queue = JobQueue(backend)
    events = []
    queue.subscribe(events.append)
    try:
        queue.submit(GenerationRequest("x", width=512, height=512))
        assert queue.wait_idle(30)
    finally:
        assert queue.shutdown(30)
    assert isinstance(events[-1], Failed), events
    return events[-1]


@pytest.mark.parametrize(
    "exc",
    [torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2 GiB"),
     RuntimeError("MPS backend out of memory (MPS allocated: 6 GB)")],
)
def test_out_of_memory_in_a_job_fails_with_one_line_of_advice(exc):
    failed = _failure_of_a_job_raising(exc)
    assert failed.message.startswith("out of memory on the GPU at 512x512")
    assert "CPU offload" in failed.message and "\n" not in failed.message
    assert not failed.detail  # an artist's error, not a crash with a traceback


def test_other_runtime_errors_are_not_called_out_of_memory():
    failed = _failure_of_a_job_raising(RuntimeError("shape mismatch"))
    assert "shape mismatch" in failed.message and "out of memory" not in failed.message


def test_advice_names_the_first_setting_that_would_help():
    big = oom_advice(EngineSettings(), 2048, 2048, "cuda")
    assert "VAE tiling" in big and "\n" not in big
    assert "CPU offload" in oom_advice(EngineSettings(vae_tiling=True), 1024, 1024, "cuda")
    assert "attention slicing" in oom_advice(EngineSettings(cpu_offload=True), 512, 512, "cuda")
    everything = EngineSettings(cpu_offload=True, attention_slicing=True, vae_tiling=True)
    assert "smaller" in oom_advice(everything, 512, 512, "cuda")


def test_advice_reads_the_device_from_the_error():
    message = oom_advice(EngineSettings(), 512, 512, "cpu", RuntimeError("CUDA out of memory. Tried 2 GiB"))
    assert message.startswith("out of memory on the GPU") and "CPU offload" in message


@pytest.mark.parametrize(
    "exc",
    [RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
                  "you tried to allocate 17179869184 bytes."),
     MemoryError()],
)
def test_running_out_of_memory_on_the_cpu_gets_the_advice_too(exc):
    failed = _failure_of_a_job_raising(exc)
    assert failed.message.startswith("out of memory") and "\n" not in failed.message
    assert not failed.detail
