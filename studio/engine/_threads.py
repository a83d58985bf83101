"""Sets torch's thread pools for a job: the count comes from `cores.wanted_threads` (physical
cores by default, overridable), and one inter-op thread; and keeps pixels independent of that count.
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
    # oneDNN chooses its convolution kernels by thread count, so one seed gave different pixels at
    # 1 and 2 threads (a grid cell on a 1-thread Ray actor would not match the same cell made in
    # the window). ATen's own convolutions agree bit for bit at any count and were as fast on the
    # bundled model (0.92-1.16 s against 0.92-1.25 s an image, 2 threads).
    torch.backends.mkldnn.enabled = False
    return torch.get_num_threads()
