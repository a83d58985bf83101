"""Map torch's native libraries into the process without holding the GIL.

`import torch` spends ~0.2 s in dlopen of libtorch (hundreds of MB to map and relocate). An
extension import holds the GIL throughout, so while the inference thread warms up the window
cannot paint: a measured 170-180 ms freeze on this project's 2-core machine. dlopen called as a
ctypes *foreign function* releases the GIL, and once the libraries are in the process the import
finds them there and only runs the modules' init code. Same libraries, same flags as torch's own
import (its global-deps library RTLD_GLOBAL, the rest RTLD_LOCAL), so nothing resolves differently.
Best effort: anything unexpected leaves the plain import to do the work, as before.
"""

from __future__ import annotations

import ctypes
import importlib.util
import logging
import os
import sys
from pathlib import Path

log = logging.getLogger(__name__)


def torch_native_libraries() -> list[tuple[Path, int]]:
    """torch's libraries in the order and with the flags its import uses; [] if torch is not found."""
    if not sys.platform.startswith("linux"):  # the dlopen route below is Linux-only
        return []
    try:
        spec = importlib.util.find_spec("torch")  # finds the package without importing it
    except (ImportError, ValueError):
        return []
    if spec is None or not spec.origin:
        return []
    package = Path(spec.origin).parent
    libs = []
    global_deps = package / "lib" / "libtorch_global_deps.so"
    if global_deps.is_file():
        libs.append((global_deps, os.RTLD_NOW | os.RTLD_GLOBAL))
    libs += [(ext, os.RTLD_NOW | os.RTLD_LOCAL) for ext in sorted(package.glob("_C.*.so"))]
    return libs


def preload_torch_libraries() -> int:
    """dlopen torch's native libraries with the GIL released; returns how many were loaded."""
    if "torch" in sys.modules:  # too late: the import has mapped them already
        return 0
    libs = torch_native_libraries()
    if not libs:
        return 0
    try:
        libc = ctypes.CDLL(None)  # the process's own symbols, dlopen among them
        dlopen = libc.dlopen
    except (OSError, AttributeError):
        return 0
    dlopen.restype = ctypes.c_void_p
    dlopen.argtypes = [ctypes.c_char_p, ctypes.c_int]
    loaded = 0
    for path, flags in libs:
        if not dlopen(os.fsencode(path), flags):  # a foreign call: the GIL is released meanwhile
            log.debug("preloading %s failed; the import will load it", path)
            break
        loaded += 1
    return loaded
