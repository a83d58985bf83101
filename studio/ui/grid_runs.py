"""What the Grid panel runs on and how long it will take: the window's worker through the bridge,
or a Ray cluster's executor made off the GUI thread; and the estimate shown before running.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from studio.core.jobspec import JobSpec
from studio.core.request import GenerationRequest
from studio.core.sweep import Sweep
from studio.engine.grid_image import compose_grid
from studio.engine.jobs import UserError
from studio.gallery.grids import record_grid

if TYPE_CHECKING:
    from studio.core.events import Event, Finished
    from studio.core.settings import EngineSettings
    from studio.engine.executor import Executor
    from studio.gallery import Gallery, Record
    from studio.ui.bridge import EngineBridge

# When nothing was measured yet: seconds per step of a 512x512 picture, a middling guess between
# a GPU (~0.05) and a laptop CPU (~2); said to be a rough guess wherever it is shown.
ROUGH_STEP_S = 0.5
ROUGH_PIXELS = 512 * 512

Key = tuple[str, int, int, int]  # model, width, height, steps
Index = tuple[int, int, int]


class BridgeExecutor:
    """The window's own executor as SweepRun sees it: cells go through the bridge (so they are
    kept while waiting and recorded in the gallery like any picture), events come from its engine."""

    def __init__(self, bridge: EngineBridge) -> None:
        self._bridge = bridge

    def submit(self, job: GenerationRequest | JobSpec) -> int:
        return self._bridge.submit_spec(JobSpec.of(job))

    def cancel(self, job_id: int) -> bool:
        return self._bridge.cancel(job_id)

    def subscribe(self, listener: Callable[[Event], None]) -> Callable[[], None]:
        return self._bridge.ensure_engine().subscribe(listener)


def make_ray_executor(settings: EngineSettings) -> Executor:
    """Ray's executor for the grid (slow: it starts or joins a cluster; call it off the GUI thread).
    RuntimeError with one line an artist can act on when ray is missing or the cluster unreachable."""
    address = settings.resolved_ray_address()
    try:
        from studio.engine.ray_executor import RayExecutor

        return RayExecutor(address=address, actors=settings.ray_actors or None, settings=settings,
                           previews=False)
    except ImportError:  # no studio.engine.ray_executor in this Studio
        raise RuntimeError("Ray is not installed here; install it with pip install -e \".[ray]\", "
                           "or choose this computer in Image ▸ Engine Settings") from None
    except UserError as exc:  # the executor's own line: Ray missing, the cluster unreachable
        raise RuntimeError(f"{exc}; or choose this computer in Image ▸ Engine Settings") from None
    except Exception as exc:  # ray raises many kinds (ConnectionError, RuntimeError, its own)
        first = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise RuntimeError(f"Could not reach the Ray cluster at {address}: {first}") from None


class Timings:
    """The last measured seconds per picture (sampling and decoding, not the model load) by model,
    size and steps, from every picture the window finished."""

    def __init__(self) -> None:
        self._seconds: dict[Key, float] = {}

    def note(self, event: Finished) -> None:
        timings = dict(getattr(event, "timings", None) or {})
        seconds = timings.get("sample", 0.0) + timings.get("decode", 0.0)
        if seconds <= 0:
            seconds = timings.get("total", 0.0) - timings.get("load", 0.0)
        request = getattr(event, "request", None)
        if seconds > 0 and request is not None:
            self._seconds[_key(request)] = seconds

    def estimate(self, sweep: Sweep) -> tuple[float, str]:
        """Seconds for every cell, and where the figure comes from (for the panel to say)."""
        total, measured, scaled = 0.0, 0, 0
        for cell in sweep.cells():
            request = cell.request
            key = _key(request)
            if key in self._seconds:
                total += self._seconds[key]
                measured += 1
                continue
            near = self._nearest(key)
            if near is not None:
                total += self._seconds[near] * _work(key) / _work(near)
                scaled += 1
            else:
                total += ROUGH_STEP_S * request.steps * request.width * request.height / ROUGH_PIXELS
        if measured == sweep.count:
            first = sweep.cells()[0].request
            return total, f"measured: {duration(total / sweep.count)} a picture at {first.width}×{first.height}, " \
                          f"{first.steps} steps"
        if measured or scaled:
            return total, "rough guess, scaled from pictures made at other sizes or steps"
        return total, "rough guess: no picture made yet to measure"

    def _nearest(self, key: Key) -> Key | None:
        # Same model first (its speed is what matters most), then any.
        same = [k for k in self._seconds if k[0] == key[0]]
        pool = same or list(self._seconds)
        return min(pool, key=lambda k: abs(_work(k) - _work(key))) if pool else None


def _key(request: GenerationRequest) -> Key:
    return (request.model, request.width, request.height, request.steps)


def _work(key: Key) -> float:
    return float(key[1] * key[2] * key[3])


def duration(value: float) -> str:
    """Seconds as the panel says them: "4.2 s", "3 min 05 s", "2 h 10 min"."""
    if value < 60:
        return f"{value:.1f} s" if value < 10 else f"{value:.0f} s"
    minutes, seconds = divmod(int(value + 0.5), 60)
    if minutes < 60:
        return f"{minutes} min {seconds:02d} s"
    hours, minutes = divmod(minutes, 60)
    return f"{hours} h {minutes:02d} min"


def save_grids(gallery: Gallery, sweep: Sweep, events: dict[Index, Finished], ids: dict[Index, int]) -> list[Record]:
    """Compose each grid that has a cell and record it with its cells as children (slow: on the
    gallery's writer thread)."""
    records = []
    for z in range(sweep.shape[2]):
        images = {(x, y): event.image for (x, y, zz), event in events.items() if zz == z}
        if not images:
            continue
        children = {(x, y): record_id for (x, y, zz), record_id in ids.items() if zz == z}
        records.append(record_grid(gallery, sweep, z, compose_grid(sweep, z, images), children))
    return records
