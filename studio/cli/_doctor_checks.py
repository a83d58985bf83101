"""`studio doctor`'s checks that need no torch: the window, the data folders, the gallery.

Each takes the doctor's Report (ok / warning / problem lines). None of them changes anything:
the databases are checked on copies, the display by connecting and letting go, writability
with a temporary file that is removed at once.
"""

from __future__ import annotations

import os
import shutil
import sqlite3
import sys
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from studio.cli.doctor import Report
    from studio.core.settings import EngineSettings

LOW_DISK = 2 * 1024**3  # a few big models or a long session of images


def size(n: int) -> str:
    from studio.cli.models import human_size

    return human_size(n)


# ---- the window ----------------------------------------------------------------------------
def window(report: Report) -> None:
    """Can Qt open a window here? preflight's dlopen checks only: Qt itself is never started,
    so a machine where it would abort still gets its report."""
    from studio.ui import preflight

    report.group("Window")
    try:
        import PySide6
    except ImportError as exc:
        report.problem(f"Qt for Python (PySide6) is missing ({exc}): reinstall Studio")
        return
    qt = f"PySide6 {PySide6.__version__}"
    reason = preflight.problem()
    if reason:
        report.problem(reason.replace(f"; {preflight.CLI_HINT}", "").replace(f", {preflight.CLI_HINT}", ""))
        missing = _missing_x11_libraries(preflight) if "apt-get" in reason else []
        if missing:
            report.problem(f"on Fedora: {_dnf_line(missing)}")
        return
    chosen = os.environ.get("QT_QPA_PLATFORM", "")
    if chosen and not chosen.startswith("xcb"):
        report.warning(f"{qt}; QT_QPA_PLATFORM={chosen}: "
                       + ("the window is drawn off screen, never shown (unset it to see the window)"
                          if chosen.startswith("offscreen") else "Qt is told which window system to use"))
        missing = _missing_x11_libraries(preflight)
        if missing:
            report.warning(f"on X11 the window would need {', '.join(missing)}: "
                           f"{_apt_line(preflight, missing)}, or {_dnf_line(missing)}")
    elif sys.platform.startswith("linux"):
        where = (f"the X11 display {os.environ['DISPLAY']}" if os.environ.get("DISPLAY")
                 else f"the Wayland display {os.environ.get('WAYLAND_DISPLAY', '')}")
        report.ok(f"{qt} can open a window on {where}")
    else:
        report.ok(f"{qt}; the window opens on {sys.platform}'s own window system")


def _missing_x11_libraries(preflight) -> list[str]:  # noqa: ANN001 - the module
    if not sys.platform.startswith("linux"):
        return []
    plugin = preflight._xcb_plugin()
    return preflight.missing_libraries(plugin) if plugin is not None else []


def _apt_line(preflight, missing: list[str]) -> str:  # noqa: ANN001
    return "sudo apt-get install " + " ".join(dict.fromkeys(preflight.PACKAGES.get(m, m) for m in missing))


def _dnf_line(missing: list[str]) -> str:
    # dnf installs by what a package provides, so sonames need no table of Fedora's package names
    return "sudo dnf install " + " ".join(f"'{m}()(64bit)'" for m in missing if m.startswith("lib"))


# ---- the data folders ----------------------------------------------------------------------
def data(report: Report, settings: EngineSettings) -> bool:
    """STUDIO_HOME and what is in it; False when it cannot be written (the app cannot run)."""
    from studio.core.paths import studio_home

    report.group("Data")
    home = studio_home()
    origin = "STUDIO_HOME" if os.environ.get("STUDIO_HOME") else "default"
    writable = _writable(home)
    if writable is not True:
        report.problem(f"STUDIO_HOME {home} ({origin}) cannot be written ({writable}): "
                       "fix its permissions or set STUDIO_HOME to a folder you own")
        return False
    report.ok(f"STUDIO_HOME {home} ({origin}), {size(_du(home))} in all")
    gallery = home / "gallery"
    images = _count_files(gallery / "images")
    report.ok(f"gallery {gallery}: {images} image file{'s' * (images != 1)}, {size(_du(gallery))}")
    queue = gallery / "queue.db"
    report.ok(f"queue {queue}: " + (size(_du(queue)) if queue.exists() else "none yet"))
    models = settings.resolved_models_dir()
    inside = models.is_relative_to(home)
    report.ok(f"models {models}: {size(_du(models)) if models.exists() else 'none yet'}"
              + ("" if inside else " (outside STUDIO_HOME)"))
    report.ok(f"cache {home / 'cache'}: {size(_du(home / 'cache'))}")
    free = shutil.disk_usage(home).free
    if free < LOW_DISK:
        report.warning(f"only {size(free)} free on the disk of STUDIO_HOME: images and models may not fit")
    else:
        report.ok(f"{size(free)} free on its disk")
    return True


def _writable(folder: Path) -> bool | str:
    if not folder.is_dir():
        return "it is not a folder" if folder.exists() else "it cannot be created"
    try:
        with tempfile.TemporaryFile(dir=folder):
            pass
    except OSError as exc:
        return exc.strerror or str(exc)
    return True


def _du(path: Path) -> int:
    """Bytes under `path` (a file's own size); unreadable parts count as 0."""
    if path.is_file():
        return path.stat().st_size
    total = 0
    for root, _dirs, names in os.walk(path):
        for name in names:
            try:
                total += os.lstat(os.path.join(root, name)).st_size
            except OSError:
                pass
    return total


def _count_files(path: Path) -> int:
    return sum(len(names) for _root, _dirs, names in os.walk(path))


# ---- the gallery ---------------------------------------------------------------------------
def gallery(report: Report, home_ok: bool) -> None:
    """SQLite's integrity check of the gallery and the queue, each on a copy of its files (the
    database and its write-ahead log), so that nothing of the real ones is touched or healed."""
    from studio.core.paths import studio_home

    report.group("Gallery")
    if not home_ok:
        report.warning("not checked: STUDIO_HOME cannot be used (see Data)")
        return
    root = studio_home() / "gallery"
    for name, what, heals in (("gallery.db", "gallery database", "rebuilds it from the image files"),
                              ("queue.db", "queue of waiting jobs", "sets it aside and starts a new one")):
        db = root / name
        if not db.exists():
            report.ok(f"no {what} yet ({db})")
            continue
        result, count = _check_copy(db, name)
        if result == "ok":
            rows = f", {count} entr{'ies' if count != 1 else 'y'}" if count >= 0 else ""
            report.ok(f"{what} {db}: integrity ok{rows} (checked on a copy)")
        else:
            fix = "`studio gallery check` does it now" if name == "gallery.db" else "nothing is lost but those jobs"
            report.warning(f"{what} {db} is damaged ({result}): Studio {heals} when it opens; {fix}")
    images = root / "images"
    if images.is_dir() and not os.access(images, os.R_OK | os.X_OK):
        report.problem(f"the image files in {images} cannot be read: fix their permissions")


def _check_copy(db: Path, name: str) -> tuple[str, int]:
    """("ok" or SQLite's first complaint, rows in the main table or -1) from a copy of `db`."""
    table = "images" if name == "gallery.db" else "pending"
    with tempfile.TemporaryDirectory(prefix="studio-doctor-") as tmp:
        copy = Path(tmp) / name
        try:
            shutil.copyfile(db, copy)
            wal = db.with_name(db.name + "-wal")
            if wal.is_file():
                shutil.copyfile(wal, copy.with_name(copy.name + "-wal"))
        except OSError as exc:
            return f"cannot be read: {exc.strerror or exc}", -1
        conn = sqlite3.connect(copy)
        try:
            result = "\n".join(row[0] for row in conn.execute("PRAGMA integrity_check(5)"))
            if result != "ok":
                return result.splitlines()[0], -1
            try:
                return "ok", int(conn.execute(f"SELECT count(*) FROM {table}").fetchone()[0])  # noqa: S608
            except sqlite3.DatabaseError:
                return "ok", -1  # an old or empty schema: Studio migrates it
        except sqlite3.DatabaseError as exc:
            return str(exc).splitlines()[0], -1
        finally:
            conn.close()
