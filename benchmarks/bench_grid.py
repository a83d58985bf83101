"""A 16-cell sweep (issue 23): in-process against a local Ray instance with 1 and 2 actors, and
what killing one actor mid-sweep costs.

    python benchmarks/bench_grid.py [--cells 16] [--rounds 2]

The cells: the bundled model at the app's defaults (native size, 20 steps, its guidance, Euler a),
seeds 1..N, submitted at once, timed from the first submit to the last Finished. Fair: each
executor is warmed first (torch imported, model loaded, one cell run on every actor), none makes
previews, and all use the same cores: in-process one queue with every physical core's thread,
Ray one actor with them all or two actors with half each. The variants run in rotation `--rounds` times (drift in the
machine's load hits them alike) and the medians are printed as seconds per cell and as ratios to
in-process: per-cell overhead (1 actor / in-process) and speed-up (in-process / 2 actors).

The kill: the same sweep on 2 actors, SIGKILLing the first actor to reach the middle of a cell
once a quarter of the cells are done; its cell runs again on a restarted actor (torch import and
model load again). Cost = that sweep's time minus the undisturbed 2-actor median.
"""

from __future__ import annotations

import argparse
import logging
import os
import signal
import statistics
import sys
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT)]
os.environ.setdefault("HF_HUB_OFFLINE", "1")

from studio.core.events import TERMINAL, EngineNotice, Finished, Progress  # noqa: E402
from studio.core.request import GenerationRequest, default_guidance  # noqa: E402
from studio.core.settings import EngineSettings  # noqa: E402
from studio.engine.cores import physical_cores  # noqa: E402
from studio.engine.sources import native_size  # noqa: E402

TIMEOUT_S = 1800


def cells(count: int) -> list[GenerationRequest]:
    size = native_size("")
    return [GenerationRequest("a red circle on the left on a blue background", seed=seed, steps=20,
                              guidance_scale=default_guidance(""), width=size, height=size)
            for seed in range(1, count + 1)]


class Sweep:
    """Runs a list of cells on one executor and times it; counts terminal events per job."""

    def __init__(self, executor) -> None:
        self.executor = executor
        self.terminals: dict[int, list] = {}
        self.notices: list[EngineNotice] = []
        self.hooks: list = []
        self._lock = threading.Lock()
        executor.subscribe(self._on_event)

    def _on_event(self, event) -> None:
        if isinstance(event, TERMINAL):
            with self._lock:
                self.terminals.setdefault(event.job_id, []).append(event)
        elif isinstance(event, EngineNotice):
            self.notices.append(event)
        for hook in list(self.hooks):
            hook(event)

    def run(self, requests: list[GenerationRequest]) -> float:
        start = time.perf_counter()
        ids = [self.executor.submit(r) for r in requests]
        if not self.executor.wait_idle(TIMEOUT_S):
            raise SystemExit("a sweep did not finish in time")
        elapsed = time.perf_counter() - start
        for job in ids:
            ends = self.terminals.get(job, [])
            if len(ends) != 1 or not isinstance(ends[0], Finished):
                raise SystemExit(f"cell {job} ended with {ends} (want exactly one Finished)")
        return elapsed


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--cells", type=int, default=16)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    import ray

    from studio.engine.backend import create_engine
    from studio.engine.ray_executor import NO_PREVIEWS, RayExecutor

    cores = physical_cores()
    requests = cells(args.cells)
    print(f"{args.cells} cells, {requests[0].width}x{requests[0].height}, {requests[0].steps} steps, "
          f"{cores} physical cores; local Ray with {cores} CPUs")
    ray.init(num_cpus=cores, include_dashboard=False, log_to_driver=False, logging_level=logging.WARNING)
    # Same work everywhere: every core's thread in-process (OMP_NUM_THREADS must not shrink it;
    # Ray actors get their share whatever it says), and no previews (grid cells need none).
    settings = EngineSettings(threads=cores, preview_every=NO_PREVIEWS)
    in_process = Sweep(create_engine(settings))
    in_process.run(requests[:1])  # warm: torch, the model, the prompt's first encoding
    times: dict[str, list[float]] = {"in-process": [], "Ray, 1 actor": [], "Ray, 2 actors": []}
    for round_ in range(args.rounds):
        # Two Ray executors cannot share the CPUs at once, so each round makes and warms them anew.
        order = list(times)[round_ % 3:] + list(times)[:round_ % 3]
        for name in order:
            if name == "in-process":
                times[name].append(in_process.run(requests))
                continue
            actors = 1 if "1 actor" in name else 2
            sweep = Sweep(RayExecutor("local", actors=actors, settings=settings))
            sweep.run(requests[:actors])  # one warm cell per actor (they take one job each)
            times[name].append(sweep.run(requests))
            sweep.executor.shutdown(60)
    in_process.executor.shutdown(60)
    per_cell = {name: statistics.median(t) / args.cells for name, t in times.items()}
    base = per_cell["in-process"]
    print(f"per cell (median of {args.rounds} sweeps; ratio to in-process):")
    for name, value in per_cell.items():
        print(f"  {name:14s} {value:7.3f} s/cell  ratio {value / base:.3f}")
    print(f"  per-cell overhead, Ray 1 actor vs in-process: {per_cell['Ray, 1 actor'] - base:+.3f} s "
          f"(ratio {per_cell['Ray, 1 actor'] / base:.3f})")
    print(f"  speed-up, in-process / Ray 2 actors: {base / per_cell['Ray, 2 actors']:.3f}; "
          f"Ray 1 actor / 2 actors: {per_cell['Ray, 1 actor'] / per_cell['Ray, 2 actors']:.3f}")
    kill_cost(requests, settings, statistics.median(times["Ray, 2 actors"]))
    ray.shutdown()


def kill_cost(requests: list[GenerationRequest], settings: EngineSettings, undisturbed: float) -> None:
    from studio.engine.ray_executor import RayExecutor

    executor = RayExecutor("local", actors=2, settings=settings)
    sweep = Sweep(executor)
    sweep.run(requests[:2])
    done: list[int] = []
    killed: list[int] = []
    steps = requests[0].steps

    def kill(job_id: int) -> None:
        pid = executor.running_pids()[job_id]
        os.kill(pid, signal.SIGKILL)
        killed.append(pid)

    def hook(event) -> None:
        if isinstance(event, Finished):
            done.append(event.job_id)
        elif (isinstance(event, Progress) and not killed and len(done) >= len(requests) // 4 + 2
              and event.step == steps // 2):  # +2: the warm-up cells
            killed.append(0)
            threading.Thread(target=kill, args=(event.job_id,)).start()

    sweep.hooks.append(hook)
    elapsed = sweep.run(requests)
    executor.shutdown(60)
    if not killed or not killed[-1]:
        raise SystemExit("the actor was not killed: no cell reached the kill point")
    print(f"SIGKILL of one of 2 actors mid-sweep: {elapsed:.2f} s against {undisturbed:.2f} s "
          f"undisturbed: +{elapsed - undisturbed:.2f} s (ratio {elapsed / undisturbed:.3f}); "
          f"{len(sweep.notices)} notice: {sweep.notices[0].message if sweep.notices else '-'}; "
          "every cell ended exactly once, Finished")


if __name__ == "__main__":
    main()
