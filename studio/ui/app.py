"""Start the window: `studio` with no arguments, or `python -m studio`.

The Qt event loop runs through qasync, so asyncio code (`asyncio.get_running_loop()`, `await`)
works in the GUI. Ctrl+C in the terminal closes the window the normal way (settings saved,
inference thread joined).

Environment switches, for benchmarks and README screenshots:
  STUDIO_EXIT_AFTER_SHOW=1      print "shown <unix time>" on first show, then quit
  STUDIO_QUIT_AFTER_S=N         print "closing <unix time>" N seconds after showing, then quit
  STUDIO_TOUR=DIR               screenshots of every panel and menu into DIR (studio/ui/tour.py)
  STUDIO_SCREENSHOT=PATH        save a picture of the window to PATH, then quit; with
  STUDIO_DEMO_PROMPT=TEXT       generate TEXT first and take the picture when it is done
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import sys
import time

from PySide6.QtCore import QTimer
from PySide6.QtGui import QIcon
from PySide6.QtWidgets import QApplication

from studio.core.paths import repo_resources

ICON_FILE = "icons/studio.png"
EXIT_WAIT_S = 0.5  # for the inference thread to stop after its job is cancelled (one step)  # drawn by resources/icons/make_icon.py


def app_icon() -> QIcon:
    """Studio's icon; an empty icon (the platform's default) if the file is missing."""
    path = repo_resources() / ICON_FILE
    return QIcon(str(path)) if path.is_file() else QIcon()


def run_app(argv: list[str] | None = None, images: list[str] | None = None) -> int:
    """Open the window; `images`: files from `studio IMAGE...`, the first put on the canvas."""
    import qasync

    from studio.ui import preflight

    if QApplication.instance() is None and (reason := preflight.problem()):
        print(f"studio: error: {reason}", file=sys.stderr)
        return 2
    from studio.ui.main_window import MainWindow
    from studio.ui.theme import apply_theme

    app = QApplication.instance() or QApplication(argv if argv is not None else sys.argv)
    app.setApplicationName("Studio")
    app.setOrganizationName("Studio")
    app.setWindowIcon(app_icon())  # title bar, task bar and window switcher
    apply_theme(app)
    loop = qasync.QEventLoop(app)
    asyncio.set_event_loop(loop)

    _warm_request_schema()
    window = MainWindow()
    window.shutdown_timeout = EXIT_WAIT_S
    _install_sigint(app, window)
    _install_env_switches(window)
    if images:
        window.shown.connect(lambda: open_on_start(window, images))
    closed = asyncio.Event()
    app.lastWindowClosed.connect(closed.set)
    window.show()
    try:
        with loop:
            loop.run_until_complete(closed.wait())
    finally:
        window.close()  # idempotent: saves settings and joins the worker if not done yet
        asyncio.set_event_loop(None)
    _end_process(0)
    return 0  # not reached


def open_on_start(window, images: list[str]) -> None:
    """`studio IMAGE...` (a desktop's "Open with"): the first image goes on the canvas with its
    parameters restored, by File > Open Image's own path, so a file that cannot be read is said
    in the status line as there. The canvas holds one picture: the other files are not opened."""
    files = getattr(window, "file_actions", None)
    if files is not None:
        files.open_image(images[0])


def _warm_request_schema() -> None:
    """Import pydantic and build the request schema on a thread while the window is built, so the
    prompt panel's first check (just after the first paint) finds it ready."""
    import threading

    from studio.core.request import warm_schema

    threading.Thread(target=warm_schema, name="studio-warm-schema", daemon=True).start()


def _end_process(code: int) -> None:
    """Leave at once. Everything that must last is on disk by now: closing the window saved the
    settings, drained the gallery's and the exports' writers and closed the database. What is
    left is the interpreter tearing down torch and diffusers module by module (about 2 s, more
    under load) and a model load the window no longer waits for."""
    logging.shutdown()
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass
    os._exit(code)


def _install_sigint(app: QApplication, window) -> None:
    # Python only runs signal handlers between bytecodes; a idle timer lets it in while Qt waits.
    signal.signal(signal.SIGINT, lambda *_: window.close())
    ticker = QTimer(app)
    ticker.timeout.connect(lambda: None)
    ticker.start(200)


def _install_env_switches(window) -> None:
    tour = os.environ.get("STUDIO_TOUR")
    if tour:  # README pictures: packaging/screenshots.sh
        from pathlib import Path

        from studio.ui.tour import install

        install(window, Path(tour))
        return
    quit_after = os.environ.get("STUDIO_QUIT_AFTER_S")
    if quit_after:  # benchmarks and tests of quitting: close as Ctrl+Q would, N s after showing,
        # generating STUDIO_DEMO_PROMPT meanwhile if it is set (to quit with a job running)

        def quit_now() -> None:
            print(f"closing {time.time():.6f}", flush=True)
            window.close()

        def start() -> None:
            if os.environ.get("STUDIO_DEMO_PROMPT"):
                window.prompt_panel.prompt_edit.setPlainText(os.environ["STUDIO_DEMO_PROMPT"])
                window.generate()
            QTimer.singleShot(int(float(quit_after) * 1000), quit_now)

        window.shown.connect(start)
        return
    if os.environ.get("STUDIO_EXIT_AFTER_SHOW"):

        def report() -> None:
            loop = type(asyncio.get_running_loop()).__name__  # proves asyncio runs on the Qt loop
            print(f"shown {time.time():.6f} loop={loop}", flush=True)
            window.close()

        window.shown.connect(report)
    shot = os.environ.get("STUDIO_SCREENSHOT")
    if not shot:
        return

    def grab_and_quit() -> None:
        window.grab().save(shot)
        window.close()

    prompt = os.environ.get("STUDIO_DEMO_PROMPT")
    if prompt:

        def demo() -> None:
            window.prompt_panel.prompt_edit.setPlainText(prompt)
            window.generate()

        window.shown.connect(lambda: QTimer.singleShot(300, demo))
        gallery = window.gallery_panel
        if gallery is not None:  # show the new image's details too: grab once it is recorded

            def select_newest(record) -> None:
                gallery.show_record(record.id)
                QTimer.singleShot(400, grab_and_quit)

            gallery.recorded.connect(select_newest)
            gallery.message.connect(lambda *_: QTimer.singleShot(400, grab_and_quit))  # not recorded
        else:
            window.bridge.finished.connect(lambda *_: QTimer.singleShot(400, grab_and_quit))
        window.bridge.failed.connect(lambda *_: QTimer.singleShot(400, grab_and_quit))
    else:
        window.shown.connect(lambda: QTimer.singleShot(600, grab_and_quit))
