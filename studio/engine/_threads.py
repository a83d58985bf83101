"""Sets torch's thread pools for a job: the count comes from `cores.wanted_threads` (physical
cores by default, overridable), and one inter-op thread.
"""

from __future__ import annotations

import torch

from studio.core.settings import EngineSettings
from studio.engine.cores import ENV, physical_cores, wanted_threads

__all__ = ["ENV", "configure", "physical_cores", "wanted_threads"]
_interop_set = False


def configure(settings: EngineSettings) -> int:
    """Set torch's thread pools for the jobs to come; returns the intra-op thread count."""
    global _interop_set
    count = wanted_threads(settings)
    if torch.get_num_threads() != count:
        torch.set_num_threads(count)
    if not _interop_set:
        try:
            torch.set_num_interop_threads(1)  # once per process, before any inter-op work
        except RuntimeError:
            pass
        _interop_set = True
    return torch.get_num_threads()
