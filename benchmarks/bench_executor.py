"""The worker-process engine's costs (issue 21): worker start, event transport, per-job overhead.

    python benchmarks/bench_executor.py [--model DIR]   # DIR: a diffusers folder (default: tiny)

Start: spawn to the worker's "ready" frame (backend built, torch not yet imported), with the fake
and the diffusers backend, and the first job's wall time after that (torch import + model load).
Transport: encode + send_bytes + recv_bytes + decode of one Preview over a real OS pipe, 64x64 and
512x512 RGB, mean of many frames, a reader thread on the other end. Per job: the wall time of a
warm 64x64 3-step job, in-thread and in the worker process.
"""

from __future__ import annotations

import argparse
import multiprocessing
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]

from PIL import Image  # noqa: E402

from studio.core.events import Preview  # noqa: E402
from studio.core.request import GenerationRequest  # noqa: E402
from studio.core.settings import EngineSettings  # noqa: E402
from studio.core.wire import decode  # noqa: E402
from studio.engine.worker import send_event  # noqa: E402


def transport_ms(size: int, frames: int) -> float:
    reader, writer = multiprocessing.Pipe(duplex=False)
    image = Image.effect_noise((size, size), 64).convert("RGB")
    done = threading.Event()

    def read() -> None:
        for _ in range(frames):
            frame = reader.recv_bytes()
            blobs = [reader.recv_bytes() for _ in range(frame[1])]
            decode(frame[2:], blobs)
        done.set()

    thread = threading.Thread(target=read)
    thread.start()
    start = time.perf_counter()
    for step in range(frames):
        send_event(writer, Preview(1, step, image))
    assert done.wait(120)
    thread.join()
    return (time.perf_counter() - start) / frames * 1000


def job_s(executor, request: GenerationRequest) -> float:
    start = time.perf_counter()
    executor.submit(request)
    assert executor.wait_idle(600)
    return time.perf_counter() - start


def main() -> None:
    from studio.engine.executor import InThread
    from studio.engine.process import LocalProcess

    parser = argparse.ArgumentParser()
    parser.add_argument("--model", default="")
    args = parser.parse_args()
    for size, frames in ((64, 2000), (512, 200)):
        runs = [transport_ms(size, frames) for _ in range(3)]
        print(f"preview transport {size}x{size} RGB: {min(runs):.3f} ms (best of 3, {frames} frames)")

    fake = LocalProcess("studio.engine.fake:FakeBackend", {"step_delay": 0.0})
    job_s(fake, GenerationRequest(prompt="x", steps=1, width=64, height=64))
    print(f"worker start, fake backend: {fake.last_start_s:.2f} s spawn->ready")
    fake.shutdown(30)

    if args.model:
        model = args.model
    else:
        from studio.engine.tiny import ensure_tiny_model

        model = str(ensure_tiny_model(Path(tempfile.mkdtemp(prefix="studio-bench-")) / "tiny"))
    request = GenerationRequest("a red circle", seed=1, steps=3, width=64, height=64, model=model)
    real = LocalProcess(settings=EngineSettings())
    first = job_s(real, request)
    print(f"worker start, diffusers backend: {real.last_start_s:.2f} s spawn->ready; "
          f"first job {first:.2f} s (torch import + load)")
    warm = statistics.median(job_s(real, request) for _ in range(5))
    real.shutdown(60)
    thread = InThread(__import__("studio.engine.backend", fromlist=["x"]).DiffusersBackend(EngineSettings()))
    job_s(thread, request)
    warm_thread = statistics.median(job_s(thread, request) for _ in range(5))
    thread.shutdown(60)
    print(f"warm 64x64 3-step job: in-thread {warm_thread * 1000:.0f} ms, worker process {warm * 1000:.0f} ms")


if __name__ == "__main__":
    main()
