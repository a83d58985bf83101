"""Which engine the window uses: the diffusers backend in a worker process of its own (so the
window's process never imports torch, and a crash or a stuck kernel costs a restart, not the
window), else the fake one when diffusers is not installed.

Imported only when the first job is submitted, never on the first-paint path.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from studio.engine.executor import Executor

log = logging.getLogger(__name__)
WINDOW_CORES = 1  # cores the window's own work keeps free of torch's threads


def default_engine() -> Executor:
    """The real engine, in its worker process (started by the first job or the warm-up)."""
    import importlib.util

    if importlib.util.find_spec("diffusers") is None:
        from studio.engine.fake import fake_engine

        log.warning("diffusers is not installed; using the fake engine")
        return fake_engine(step_delay=0.05)
    from studio.core.settings import load_settings
    from studio.engine.cores import LEAVE_ENV
    from studio.engine.process import LocalProcess

    # One core stays with the window (previews, painting, PNG encoding): see engine.cores.
    return LocalProcess(settings=load_settings(), worker_env={LEAVE_ENV: str(WINDOW_CORES)})
