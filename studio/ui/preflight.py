"""Before Qt starts: can a window open here? Qt aborts the process (exit 134, a wall of text) when
it has no display or its X11 plugin lacks system libraries; this says why in one line instead.

Linux with X11 only (Wayland, macOS and Windows need nothing checked): a few milliseconds of
dlopen, and `ldd` only when something is missing, to name every library at once.
"""

from __future__ import annotations

import ctypes
import os
import re
import subprocess
import sys
from pathlib import Path

# Debian/Ubuntu packages of the libraries Qt's xcb plugin needs beyond a base system.
PACKAGES = {
    "libxcb-cursor.so.0": "libxcb-cursor0",
    "libxcb-icccm.so.4": "libxcb-icccm4",
    "libxcb-keysyms.so.1": "libxcb-keysyms1",
    "libxcb-image.so.0": "libxcb-image0",
    "libxcb-render-util.so.0": "libxcb-render-util0",
    "libxcb-xkb.so.1": "libxcb-xkb1",
    "libxkbcommon-x11.so.0": "libxkbcommon-x11-0",
    "libxkbcommon.so.0": "libxkbcommon0",
    "libxcb-shape.so.0": "libxcb-shape0",
    "libxcb-randr.so.0": "libxcb-randr0",
    "libxcb-render.so.0": "libxcb-render0",
    "libxcb-shm.so.0": "libxcb-shm0",
    "libxcb-sync.so.1": "libxcb-sync1",
    "libxcb-xfixes.so.0": "libxcb-xfixes0",
    "libxcb-xinput.so.0": "libxcb-xinput0",
    "libX11-xcb.so.1": "libx11-xcb1",
    "libxcb.so.1": "libxcb1",
    "libEGL.so.1": "libegl1",
    "libGL.so.1": "libgl1",
    "libOpenGL.so.0": "libopengl0",
    "libGLX.so.0": "libglx0",
    "libfontconfig.so.1": "libfontconfig1",
    "libfreetype.so.6": "libfreetype6",
    "libdbus-1.so.3": "libdbus-1-3",
    "libglib-2.0.so.0": "libglib2.0-0",
}
# Qt 6.5+ opens this one itself at start-up (it is not among the plugin's linked libraries).
_CURSOR_LIB = "libxcb-cursor.so.0"
CLI_HINT = "or use the command line: studio generate --help"


def _xcb_plugin() -> Path | None:
    try:
        import PySide6  # the package only: no Qt library is loaded by this
    except ImportError:
        return None
    plugin = Path(PySide6.__file__).parent / "Qt" / "plugins" / "platforms" / "libqxcb.so"
    return plugin if plugin.is_file() else None


def _loads(name: str) -> bool:
    try:
        ctypes.CDLL(name)
    except OSError:
        return False
    return True


def missing_libraries(plugin: Path) -> list[str]:
    """Sonames the xcb plugin needs that the system lacks ([] when it loads)."""
    missing = [] if _loads(_CURSOR_LIB) else [_CURSOR_LIB]
    if _loads(str(plugin)):
        return missing
    try:
        out = subprocess.run(["ldd", str(plugin)], capture_output=True, text=True, timeout=10).stdout
    except (OSError, subprocess.SubprocessError):
        out = ""
    found = re.findall(r"^\s*(\S+) => not found", out, flags=re.MULTILINE)
    return sorted(set(missing + found)) or missing or ["(a library of Qt's xcb plugin)"]


def _display_reachable(display: str) -> bool:
    try:
        xcb = ctypes.CDLL("libxcb.so.1")
    except OSError:
        return True  # reported as a missing library instead
    xcb.xcb_connect.restype = ctypes.c_void_p
    xcb.xcb_connect.argtypes = [ctypes.c_char_p, ctypes.c_void_p]
    xcb.xcb_connection_has_error.argtypes = [ctypes.c_void_p]
    xcb.xcb_disconnect.argtypes = [ctypes.c_void_p]
    conn = xcb.xcb_connect(display.encode(), None)
    try:
        return xcb.xcb_connection_has_error(conn) == 0
    finally:
        xcb.xcb_disconnect(conn)


def problem(environ: dict[str, str] | None = None) -> str | None:
    """One line saying why no window can open here, or None when it can (or cannot be told)."""
    env = os.environ if environ is None else environ
    if not sys.platform.startswith("linux"):
        return None
    platform = env.get("QT_QPA_PLATFORM", "")
    if platform and not platform.startswith("xcb"):
        return None  # offscreen, wayland, vnc...: the user chose; Qt reports its own
    display = env.get("DISPLAY", "")
    if not display:
        if env.get("WAYLAND_DISPLAY") and not platform:
            return None
        return f"no display to open the window on (DISPLAY is not set); start Studio from a desktop session, {CLI_HINT}"
    plugin = _xcb_plugin()
    if plugin is None:
        return None
    missing = missing_libraries(plugin)
    if missing:
        packages = " ".join(dict.fromkeys(PACKAGES.get(m, m) for m in missing))
        return (f"the window needs system libraries that are missing ({', '.join(missing)}); on "
                f"Debian/Ubuntu: sudo apt-get install {packages}; {CLI_HINT}")
    if not _display_reachable(display):
        return f"cannot connect to the display {display}; check DISPLAY, {CLI_HINT}"
    return None
