"""Ray itself, for studio.engine.ray_executor: importing it, joining or starting an instance, and
how many actors of what size a cluster gets. Torch-free, and `ray` is imported only when asked for.
"""

from __future__ import annotations

import logging
import os
import queue
import socket
import sys
import threading
import time
from typing import Any

from studio.engine.cores import physical_cores
from studio.engine.jobs import UserError

ENV = "STUDIO_RAY_ADDRESS"
INSTALL_HINT = "Ray is not installed: pip install -e '.[ray]'"
# The bundle has no pip: Ray needs Studio installed from source.
BUNDLE_HINT = "this Studio bundle has no Ray: install Studio from source with pip install -e '.[ray]'"
MAX_CPU_ACTORS = 4  # each holds a copy of the model in RAM: 4 SDXL copies are ~28 GB already


def ray_address(value: str | None = None) -> str:
    """The Ray address asked for: `value`, else STUDIO_RAY_ADDRESS, else "" (Ray not asked for).
    "local" means a Ray instance started on this machine."""
    return (value or "").strip() or os.environ.get(ENV, "").strip()


def import_ray() -> Any:
    try:
        import ray
    except ImportError:
        raise UserError(BUNDLE_HINT if getattr(sys, "frozen", False) else INSTALL_HINT) from None
    return ray


def connect(ray: Any, address: str) -> bool:
    """Join (or start) the Ray instance; True when this call started it. UserError if unreachable."""
    if ray.is_initialized():
        return False
    quiet = {"logging_level": logging.WARNING, "log_to_driver": False, "include_dashboard": False}
    if address != "local":
        _check_reachable(address)  # ray.init waits minutes for an address where nothing listens
    try:
        if address == "local":
            _start_local(ray, num_cpus=physical_cores(), **quiet)
        else:
            ray.init(address=address, **quiet)
    except Exception as exc:
        where = "start a local Ray instance" if address == "local" else f"reach the Ray cluster at {address}"
        hint = "" if address == "local" else " (is `ray start --head` running there? check STUDIO_RAY_ADDRESS)"
        raise UserError(f"cannot {where}: {one_line(exc)}{hint}") from None
    return True


def _start_local(ray: Any, **options: Any) -> None:
    """ray.init that starts Ray's own processes (GCS, raylet, workers). They are told to die with
    the *thread* that started them (Linux PR_SET_PDEATHSIG is per thread), so started from a
    short-lived thread, as the window does to keep the GUI thread free, they died at once and the
    grid never began. Off the main thread they are started from a thread that lives as long as
    the instance."""
    if threading.current_thread() is threading.main_thread():
        ray.init(**options)
        return
    started: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()

    def keeper() -> None:
        try:
            ray.init(**options)
        except BaseException as exc:  # noqa: BLE001 - handed to the caller's thread
            started.put(exc)
            return
        started.put(None)
        while ray.is_initialized():  # until RayExecutor.shutdown() stops the instance
            time.sleep(1.0)

    threading.Thread(target=keeper, name="studio-ray-keeper", daemon=True).start()
    failure = started.get()
    if failure is not None:
        raise failure


def _check_reachable(address: str, timeout: float = 5.0) -> None:
    """UserError (one line) when nothing answers at a host:port address ("auto" is Ray's own)."""
    host, sep, port = address.removeprefix("ray://").rpartition(":")
    if not sep or not port.isdigit():
        return  # "auto" or a form Ray reads itself
    try:
        socket.create_connection((host.strip("[]"), int(port)), timeout=timeout).close()
    except OSError as exc:
        raise UserError(f"cannot reach the Ray cluster at {address}: {exc.strerror or exc} (is "
                        "`ray start --head` running there? check --ray or STUDIO_RAY_ADDRESS)") from None


def plan_actors(ray: Any, actors: int | None) -> tuple[dict[str, Any], int, int]:
    """Actor options, torch threads per actor, and how many: one per GPU when the cluster has
    GPUs; otherwise `actors` (default: the cluster's CPUs, at most MAX_CPU_ACTORS), each with its
    share of the CPUs, never more than one node has."""
    resources = ray.cluster_resources()
    cpus = max(1, int(resources.get("CPU", 1)))
    gpus = int(resources.get("GPU", 0))
    node_cpus = max([int(n.get("Resources", {}).get("CPU", 0)) for n in ray.nodes() if n.get("Alive")] or [cpus])
    if gpus:
        count = min(actors or gpus, gpus)
        return {"num_gpus": 1, "num_cpus": 1}, max(1, min(node_cpus, cpus // count)), count
    count = actors or min(cpus, MAX_CPU_ACTORS)
    if count > cpus:  # more actors than CPUs: they share them
        return {"num_cpus": cpus / count}, 1, count
    share = max(1, min(node_cpus, cpus // count))
    return {"num_cpus": share}, share, count


def one_line(exc: BaseException) -> str:
    """An exception as one line: its type and its message's first line."""
    lines = str(exc).strip().splitlines()
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
