"""The real engine: a Backend that runs diffusers pipelines on the JobQueue's inference thread.

Torch-free at import (the window must open fast): the model is loaded by the first job, on the
inference thread, and kept for the next ones. Everything heavy lives in the inner modules
_loader (sources -> pipelines), the mode runners (studio/engine/modes: one per request.mode)
and _sampler/_inpaint/_previews/_schedulers under them.
"""

from __future__ import annotations

import logging
import time

from studio.core.events import Finished
from studio.core.request import sized_request  # noqa: F401 - re-exported, its old home
from studio.core.settings import EngineSettings, load_settings
from studio.engine.jobs import JobContext, JobQueue, UserError
from studio.engine.modes import runner_for
from studio.engine.sources import (  # noqa: F401 - re-exported: their old home, which callers use
    default_model_dir,
    model_dir_for,
    native_size,
)


class _DropTorchvisionFallbackNotice(logging.Filter):
    """transformers announces, on every first load, that it uses its PIL image processor because
    torchvision is absent. Studio never uses image processors, so the notice is only noise in the
    CLI's progress line and the logs."""

    def filter(self, record: logging.LogRecord) -> bool:
        return "requires torchvision" not in record.getMessage()


logging.getLogger("transformers.utils.import_utils").addFilter(_DropTorchvisionFallbackNotice())

OOM_HINT = (
    "out of memory: try a smaller size, or turn on CPU offload, attention slicing "
    "or VAE tiling in the engine settings"
)


class DiffusersBackend:
    """Loads models lazily on the inference thread, keeps one loaded, and runs jobs on it."""

    def __init__(self, settings: EngineSettings | None = None) -> None:
        self.settings = (settings or load_settings()).validated()
        self._loader = None  # _loader.ModelLoader, created on the inference thread

    @property
    def loaded(self):  # noqa: ANN201 - _loader.LoadedModel | None; typed there to keep torch out
        return self._loader.current if self._loader is not None else None

    def warm_up(self) -> None:
        """Import torch, diffusers and the sampling code now, on the inference thread.

        Importing them takes seconds and holds the GIL in long stretches (dynamic library
        loading); done right after the window opens, it is over before the first Generate.
        torch's own libraries, the longest stretch, are mapped first with the GIL released.
        """
        from studio.engine._preload import preload_torch_libraries

        preload_torch_libraries()
        from studio.engine import _inpaint, _sampler, _threads  # noqa: F401 - imported for their side effect
        from studio.engine._loader import ModelLoader

        _threads.configure(self.settings)
        if self._loader is None:
            self._loader = ModelLoader(self.settings)

    def run(self, job: JobContext) -> Finished:
        from studio.engine import _sampler, _threads
        from studio.engine._loader import ModelLoader

        threads = _threads.configure(self.settings)  # cheap when unchanged; settings may change
        start = time.perf_counter()
        if self._loader is None:
            self._loader = ModelLoader(self.settings)
        try:
            model = self._loader.get(job.request.model, job)
            if job.request.loras or getattr(model.pipe, "_studio_loras", None):
                from studio.engine._lora import apply_loras  # exactly the request's LoRAs, or none

                apply_loras(model.pipe, job.request.loras, self.settings.allow_unsafe_pickles)
            load_time = time.perf_counter() - start
            job.check_cancelled()
            image, timings = runner_for(job.request.mode)(model, job, self.settings)
        except Exception as exc:
            if _sampler.is_out_of_memory(exc):
                from studio.engine._devices import oom_advice

                _sampler.free_memory()
                req, loaded = job.request, self.loaded
                device = loaded.device.type if loaded is not None else ""
                raise UserError(oom_advice(self.settings, req.width, req.height, device, exc)) from None
            raise
        timings = {"load": load_time, **timings, "total": time.perf_counter() - start}
        info = {**model.info(job.request.scheduler), **job.applied, "threads": threads}
        return Finished(job.job_id, sized_request(job.request, image.size), image, timings, info)

    def close(self) -> None:
        if self._loader is not None:
            self._loader.unload()
            self._loader = None


def create_engine(settings: EngineSettings | None = None) -> JobQueue:
    """The app's engine: a JobQueue running the diffusers backend."""
    return JobQueue(DiffusersBackend(settings))
