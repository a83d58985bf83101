"""Which engine the window uses: the diffusers backend when it is installed, else the fake one.

Imported only when the first job is submitted, never on the first-paint path.
"""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from studio.engine.jobs import JobQueue

log = logging.getLogger(__name__)


def default_engine() -> JobQueue:
    """The real engine (models load on its inference thread, not here)."""
    try:
        from studio.engine.backend import create_engine
    except ModuleNotFoundError as exc:
        if exc.name != "studio.engine.backend":
            raise
        from studio.engine.fake import fake_engine

        log.warning("studio.engine.backend is not available; using the fake engine")
        return fake_engine(step_delay=0.05)
    from studio.core.settings import load_settings

    return create_engine(load_settings())
