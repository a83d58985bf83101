"""What `studio doctor` asks the engine: is torch usable here, on what, and does a model load.

torch is imported inside the functions (and any failure caught), so that a missing or broken torch
is a finding to report, not a crash of the command that reports it.
"""

from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field
from pathlib import Path

from studio.core.settings import EngineSettings
from studio.engine.cores import physical_cores, wanted_threads
from studio.engine.jobs import UserError


class TorchUnusable(Exception):
    """torch cannot be imported or used here; the message is one line."""


@dataclass(frozen=True)
class Gpu:
    name: str
    total: int  # bytes
    free: int  # bytes; -1 when it cannot be read


@dataclass(frozen=True)
class TorchFacts:
    version: str
    build: str  # "CPU", "CUDA 12.1", "ROCm 6.0"; "+ MPS" when Apple's backend is built in
    device: str  # where jobs run with the current settings: "cpu", "cuda", "mps"
    dtype: str
    threads: int  # intra-op threads a job gets
    cores: int  # physical cores this process may use
    gpus: tuple[Gpu, ...] = ()
    mps: bool = False  # Apple's GPU backend usable
    device_problem: str = ""  # the settings ask for a device this machine lacks (one line)
    notes: tuple[str, ...] = field(default_factory=tuple)


def _torch():  # noqa: ANN202 - the module, or TorchUnusable
    try:
        return importlib.import_module("torch")
    except Exception as exc:  # noqa: BLE001 - ImportError, OSError (a missing .so), RuntimeError...
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
        raise TorchUnusable(f"torch cannot be imported ({type(exc).__name__}: {first})") from None


def torch_facts(settings: EngineSettings) -> TorchFacts:
    """torch's build and the device, threads and GPUs jobs get. TorchUnusable when it is broken."""
    torch = _torch()
    try:
        cuda_build = getattr(torch.version, "cuda", None)
        hip_build = getattr(torch.version, "hip", None)
        mps_built = bool(getattr(torch.backends, "mps", None) and torch.backends.mps.is_built())
        build = f"ROCm {hip_build}" if hip_build else f"CUDA {cuda_build}" if cuda_build else "CPU"
        if mps_built:
            build += " + MPS"
        gpus = tuple(_gpu(torch, i) for i in range(torch.cuda.device_count())) if torch.cuda.is_available() else ()
        from studio.engine._devices import mps_available, plan

        device_problem, device, dtype, notes = "", "cpu", "float32", ()
        try:
            device_plan = plan(settings)
            device, notes = device_plan.device.type, device_plan.notes
            dtype = str(device_plan.dtype).removeprefix("torch.")
        except UserError as exc:
            device_problem = str(exc)
        return TorchFacts(
            version=str(torch.__version__), build=build, device=device, dtype=dtype,
            threads=wanted_threads(settings), cores=physical_cores(), gpus=gpus,
            mps=mps_available(), device_problem=device_problem, notes=tuple(notes),
        )
    except TorchUnusable:
        raise
    except Exception as exc:  # noqa: BLE001 - a half-installed torch fails in many ways
        raise TorchUnusable(f"torch is installed but broken ({type(exc).__name__}: {_first_line(exc)})") from None


def _gpu(torch, index: int) -> Gpu:  # noqa: ANN001
    props = torch.cuda.get_device_properties(index)
    try:
        free, _total = torch.cuda.mem_get_info(index)
    except RuntimeError:
        free = -1
    return Gpu(str(props.name), int(props.total_memory), int(free))


def load_check(source: Path, settings: EngineSettings) -> float:
    """Load `source` as a job would (its device and dtype), then let it go; returns the seconds it
    took. UserError (one line) when it does not load."""
    _torch()
    from studio.engine._devices import free_memory, plan
    from studio.engine._loader import pipeline_from_source

    device_plan = plan(settings)
    started = time.perf_counter()
    try:
        pipe = pipeline_from_source(source, device_plan.device, device_plan.dtype, settings)
    except UserError:
        raise
    except Exception as exc:  # noqa: BLE001 - what a broken file raises deep in diffusers varies
        raise UserError(f"cannot load {source.name} ({type(exc).__name__}: {_first_line(exc)})") from None
    seconds = time.perf_counter() - started
    del pipe
    free_memory()
    return seconds


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
