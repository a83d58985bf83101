"""A tour of the window for the README's pictures: `STUDIO_TOUR=DIR studio` generates a picture,
then saves a screenshot of the screen for each panel, the File menu and the gallery's context
menu into DIR, and quits. packaging/screenshots.sh runs it under Xvfb.

Screenshots are of the whole screen (menus are windows of their own), so run it on a screen the
size of the window: the script gives Xvfb one.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QPoint, QPointF, QTimer
from PySide6.QtGui import QGuiApplication
from PySide6.QtWidgets import QDockWidget, QMenu

DEMO_PROMPT = "a red circle on the left on a blue background"
STEP_MS = 700


def install(window, folder: Path) -> None:  # noqa: ANN001 - studio.ui.main_window.MainWindow
    """Run the tour once the window is shown; each step waits for the screen to settle."""
    folder.mkdir(parents=True, exist_ok=True)
    steps: list[Callable[[], None]] = []

    def shot(name: str) -> Callable[[], None]:
        def take() -> None:
            screen = QGuiApplication.primaryScreen()
            screen.grabWindow(0).save(str(folder / f"{name}.png"))
            print(f"saved {folder / name}.png", flush=True)
        return take

    def raise_dock(name: str) -> Callable[[], None]:
        return lambda: window.findChild(QDockWidget, name).raise_()

    shown_menu: list[QMenu] = []  # kept alive while it is on screen

    def popup(menu_of: Callable[[], QMenu], where: Callable[[], QPoint]) -> Callable[[], None]:
        def show() -> None:
            shown_menu[:] = [menu_of()]
            shown_menu[0].popup(where())
        return show

    def close_menu() -> None:
        for menu in shown_menu:
            menu.close()

    gallery = window.gallery_panel

    def select_newest() -> None:
        if gallery is not None and gallery.model.rowCount() > 0:
            gallery.view.setCurrentIndex(gallery.model.index(0))

    def paint_a_stroke() -> None:
        """A mouse stroke across the picture, as the artist would paint it (B, then drag)."""
        from PySide6.QtCore import Qt
        from PySide6.QtTest import QTest

        window.mask_editor.set_painting(True)
        canvas, viewport = window.canvas, window.canvas.viewport()
        points = [canvas.mapFromScene(QPointF(x, y)) for x, y in ((30, 70), (55, 64), (80, 62), (100, 66))]
        QTest.mousePress(viewport, Qt.MouseButton.LeftButton, pos=points[0])
        for point in points[1:]:
            QTest.mouseMove(viewport, point)
        QTest.mouseRelease(viewport, Qt.MouseButton.LeftButton, pos=points[-1])

    steps += [select_newest, raise_dock("galleryDock"), shot("main-window")]
    menubar = window.menuBar()
    steps += [popup(lambda: window.file_menu,
                    lambda: menubar.mapToGlobal(menubar.actionGeometry(window.file_menu.menuAction()).bottomLeft())),
              shot("file-menu"), close_menu]
    if gallery is not None:
        def under_first_thumbnail() -> QPoint:
            rect = gallery.view.visualRect(gallery.model.index(0))
            return gallery.view.viewport().mapToGlobal(rect.center())

        steps += [popup(lambda: window.gallery_menu.build_menu(), under_first_thumbnail),
                  shot("gallery-menu"), close_menu]
    steps += [raise_dock("editDock"), paint_a_stroke, shot("edit-panel"),
              raise_dock("blendDock"), shot("blend-panel"),
              raise_dock("modelsDock"), shot("models-panel"),
              raise_dock("queueDock"), shot("queue-panel"),
              window.close]

    def run(index: int = 0) -> None:
        if index < len(steps):
            steps[index]()
            QTimer.singleShot(STEP_MS, lambda: run(index + 1))

    def start() -> None:
        window.prompt_panel.prompt_edit.setPlainText(os.environ.get("STUDIO_DEMO_PROMPT", DEMO_PROMPT))
        window.prompt_panel.seed_edit.setText("3")
        window.prompt_panel.random_seed_check.setChecked(False)
        window.generate()

    window.shown.connect(lambda: QTimer.singleShot(300, start))
    if gallery is not None:
        gallery.recorded.connect(lambda _record: QTimer.singleShot(STEP_MS, run))
    else:
        window.bridge.finished.connect(lambda *_: QTimer.singleShot(STEP_MS, run))
