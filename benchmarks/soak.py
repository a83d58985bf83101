"""Soak: many generations through the engine's job queue, looking for slow leaks.

Runs --n jobs (default 200) on the bundled model through `create_engine()` (the JobQueue and
DiffusersBackend the window and the CLI use), small and few-step, with on the way:
  * random cancels: mid-run at a random preview step, or right after submitting;
  * model switches: some jobs ask for a tiny SD1 model saved to a temp folder, so the loader
    unloads one model and loads the other (checkpoint jobs always use the bundled model, so the
    figures compare like with like);
  * image imports: a finished image is written with its parameters (as `-o` and export do) and
    read back with studio.gallery.export.request_from_file; the imported request is what the
    next job runs (like dropping a file on the window and pressing Generate).
After job 10, every 25th job and the last, with the queue idle and after gc.collect(), it records
the process's RSS, thread count and open file descriptors, then says whether any grew beyond its
tolerance between job 10 and the last. Exit status 1 if something grew or a job failed.

    python benchmarks/soak.py [--n 200] [--size 128] [--steps 8] [--seed 0]

Everything it writes goes to a temp folder (STUDIO_HOME included).
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import psutil

JOB_TIMEOUT = 300.0  # seconds one job may take before the soak calls it stuck
PROMPTS = (
    "a red circle on a blue background",
    "a green triangle above a yellow square",
    "a small white star on the left, black background",
    "a purple square on the right on an orange background",
)


@dataclass
class Sample:
    job: int
    rss_mb: float
    threads: int
    fds: int
    model: str


@dataclass
class Tally:
    finished: int = 0
    cancelled: int = 0
    failed: list[str] = field(default_factory=list)
    switches: int = 0
    imports: int = 0
    import_mismatches: int = 0
    seconds: list[float] = field(default_factory=list)


class Watcher:
    """Listens on the worker thread; the main thread waits on it with timeouts."""

    def __init__(self) -> None:
        self._lock = threading.Condition()
        self.outcome: dict[int, object] = {}
        self.steps: dict[int, int] = {}

    def __call__(self, event) -> None:  # noqa: ANN001 - any studio.core.events.Event
        from studio.core.events import Cancelled, Failed, Finished, Preview

        with self._lock:
            if isinstance(event, Preview):
                self.steps[event.job_id] = event.step
            elif isinstance(event, (Finished, Cancelled, Failed)):
                self.outcome[event.job_id] = event
            else:
                return
            self._lock.notify_all()

    def wait_step(self, job: int, step: int, timeout: float) -> bool:
        with self._lock:
            return self._lock.wait_for(
                lambda: self.steps.get(job, 0) >= step or job in self.outcome, timeout)

    def wait_done(self, job: int, timeout: float) -> object:
        with self._lock:
            if not self._lock.wait_for(lambda: job in self.outcome, timeout):
                raise SystemExit(f"soak: job {job} gave no terminal event within {timeout:.0f} s")
            self.steps.pop(job, None)
            return self.outcome.pop(job)


def measure(job: int, model: str) -> Sample:
    gc.collect()
    proc = psutil.Process()
    return Sample(job, proc.memory_info().rss / 2**20, proc.num_threads(), proc.num_fds(), model)


def run(args: argparse.Namespace, folder: Path) -> int:
    from studio.core.events import Cancelled, Failed, Finished
    from studio.core.request import SCHEDULERS, GenerationRequest
    from studio.core.settings import EngineSettings
    from studio.engine.backend import create_engine
    from studio.engine.tiny import ensure_tiny_model
    from studio.gallery.export import request_from_file, save_with_parameters

    rng = random.Random(args.seed)
    tiny = str(ensure_tiny_model(folder / "tiny-model"))
    checkpoints = sorted({10, args.n, *range(25, args.n + 1, 25)} & set(range(1, args.n + 1)))
    engine = create_engine(EngineSettings())
    watcher = Watcher()
    engine.subscribe(watcher)
    tally, samples = Tally(), []
    imported: GenerationRequest | None = None
    last_model, start = "", time.perf_counter()
    try:
        for n in range(1, args.n + 1):
            model = "" if n in checkpoints or rng.random() >= args.switch_rate else tiny
            if imported is not None:
                request, imported = imported.replace(seed=rng.randrange(2**31), model=model), None
            else:
                request = GenerationRequest(
                    rng.choice(PROMPTS), seed=rng.randrange(2**31), steps=args.steps,
                    width=args.size, height=args.size, guidance_scale=rng.choice((1.0, 4.0)),
                    scheduler=rng.choice([s for s in SCHEDULERS if s != "LCM"]), model=model,
                )
            tally.switches += model != last_model
            last_model = model
            roll = rng.random()
            began = time.perf_counter()
            job = engine.submit(request)
            if roll < args.cancel_rate / 3:  # the artist changes their mind at once
                engine.cancel(job)
            elif roll < args.cancel_rate:  # ...or while watching the previews
                watcher.wait_step(job, rng.randint(1, args.steps), JOB_TIMEOUT)
                engine.cancel(job)
            outcome = watcher.wait_done(job, JOB_TIMEOUT)
            tally.seconds.append(time.perf_counter() - began)
            if isinstance(outcome, Finished):
                tally.finished += 1
                if rng.random() < args.import_rate:
                    path = folder / "imports" / f"job-{n}.png"
                    path.parent.mkdir(exist_ok=True)
                    save_with_parameters(outcome.image, outcome.request, outcome.info, path)
                    imported = request_from_file(path)
                    tally.imports += 1
                    tally.import_mismatches += imported != outcome.request
                    path.unlink()
            elif isinstance(outcome, Cancelled):
                tally.cancelled += 1
            elif isinstance(outcome, Failed):
                tally.failed.append(f"job {n}: {outcome.message}")
            if not engine.wait_idle(JOB_TIMEOUT):
                raise SystemExit(f"soak: the queue did not go idle after job {n}")
            if n in checkpoints:
                samples.append(measure(n, "bundled" if not model else "tiny"))
                s = samples[-1]
                print(f"job {n:4d}: RSS {s.rss_mb:7.1f} MiB  threads {s.threads:3d}  fds {s.fds:4d}  "
                      f"({time.perf_counter() - start:6.1f} s)", flush=True)
    finally:
        ended = engine.shutdown(60)
    return report(args, tally, samples, ended, time.perf_counter() - start)


def report(args: argparse.Namespace, tally: Tally, samples: list[Sample], ended: bool, seconds: float) -> int:
    import statistics

    print(f"\n{args.n} jobs in {seconds:.0f} s ({args.size}x{args.size}, {args.steps} steps): "
          f"{tally.finished} finished, {tally.cancelled} cancelled, {len(tally.failed)} failed; "
          f"{tally.switches} model switches, {tally.imports} imports "
          f"({tally.import_mismatches} read back a different request); "
          f"median job {statistics.median(tally.seconds):.2f} s")
    for line in tally.failed[:5]:
        print("  failed:", line)
    first, last = samples[0], samples[-1]
    limits = {"rss_mb": args.rss_tolerance_mb, "threads": args.thread_tolerance, "fds": args.fd_tolerance}
    grew = []
    for name, limit in limits.items():
        before, after = getattr(first, name), getattr(last, name)
        verdict = "GREW beyond" if after - before > limit else "within"
        print(f"  {name:7s} job {first.job}: {before:8.1f}  job {last.job}: {after:8.1f}  "
              f"change {after - before:+8.1f}  ({verdict} tolerance {limit:g})")
        if after - before > limit:
            grew.append(name)
    print(f"  worker thread joined on shutdown: {ended}")
    ok = not grew and not tally.failed and ended and tally.import_mismatches == 0
    print("soak: OK" if ok else "soak: PROBLEM (" + ", ".join(grew + ["failures"] * bool(tally.failed)) + ")")
    return 0 if ok else 1


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--n", type=int, default=200, help="jobs to run (default 200)")
    parser.add_argument("--size", type=int, default=128, help="pixels (default 128, the bundled model's own)")
    parser.add_argument("--steps", type=int, default=8)
    parser.add_argument("--seed", type=int, default=0, help="seeds the random cancels, switches, imports")
    parser.add_argument("--cancel-rate", type=float, default=0.15)
    parser.add_argument("--switch-rate", type=float, default=0.1, help="share of jobs on the tiny model")
    parser.add_argument("--import-rate", type=float, default=0.1, help="share of finished images re-imported")
    parser.add_argument("--rss-tolerance-mb", type=float, default=64.0)
    parser.add_argument("--thread-tolerance", type=int, default=2)
    parser.add_argument("--fd-tolerance", type=int, default=4)
    args = parser.parse_args()
    if args.n < 10:
        parser.error("--n must be at least 10 (the first figures are taken after job 10)")
    with tempfile.TemporaryDirectory(prefix="studio-soak-") as tmp:
        os.environ["STUDIO_HOME"] = str(Path(tmp) / "home")
        os.environ.setdefault("HF_HUB_OFFLINE", "1")
        sys.exit(run(args, Path(tmp)))


if __name__ == "__main__":
    main()
