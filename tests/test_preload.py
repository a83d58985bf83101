"""torch's native libraries can be mapped before `import torch`, and torch still imports and works."""

from __future__ import annotations

import subprocess
import sys

import pytest

SCRIPT = """
import sys
from studio.engine._preload import preload_torch_libraries
n = preload_torch_libraries()
mapped = any("libtorch_cpu" in line for line in open("/proc/self/maps"))
assert "torch" not in sys.modules  # mapped, not imported
import torch
print(n, mapped, float(torch.ones(3).sum()), preload_torch_libraries())
"""


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="the dlopen route is Linux-only")
def test_preloading_maps_libtorch_without_importing_torch_and_torch_then_works() -> None:
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=120)
    assert out.returncode == 0, out.stderr[-2000:]
    loaded, mapped, total, again = out.stdout.split()
    assert int(loaded) == 2 and mapped == "True"  # global deps, then torch._C and what it links
    assert float(total) == 3.0
    assert again == "0"  # once torch is imported there is nothing left to do
