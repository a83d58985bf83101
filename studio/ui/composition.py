"""The window's composition root: every part of the main window is built here, given what it
needs when it is built, docked, and wired to the others in one place (`compose_window`).

Parts never look each other up through the window; the window keeps plain references to them
(`window.prompt_panel`, `window.gallery_panel`…) for its own use and for tests. All the settings
the panels show live in one `studio.core.session.Session`, which composes every request.

Order matters only for the dock layout: the Edit and Gallery docks exist before the saved layout
is restored (restoreState places them); the Blend and Models docks are added after it, so that
add_panel restores each one's own place and the window geometry is not stretched by an interim
layout.
"""

from __future__ import annotations

import logging
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import Qt
from PySide6.QtGui import QAction, QImage, QKeySequence
from PySide6.QtWidgets import QDockWidget, QScrollArea

from studio.core.session import Session
from studio.core.settings import load_settings
from studio.gallery import Gallery, GalleryError, Record
from studio.gallery.pending import PendingJobs
from studio.ui.blend_panel import BlendPanel
from studio.ui.bridge import EngineBridge, EngineFactory
from studio.ui.canvas import Canvas
from studio.ui.engine_queries import EngineQueries
from studio.ui.file_actions import FileActions, Picture
from studio.ui.gallery_menu import GalleryMenu
from studio.ui.gallery_panel import GalleryPanel
from studio.ui.grid_panel import GridPanel
from studio.ui.live_session import LiveSessions
from studio.ui.mask_editor import MaskEditor
from studio.ui.model_library import ModelLibraryPanel
from studio.ui.prompt_panel import PromptPanel
from studio.ui.queue_view import QueueView
from studio.ui.resume_offer import PendingKeeper, ResumeOffer, resume
from studio.ui.window_keys import WindowShortcutsFirst

if TYPE_CHECKING:
    from studio.ui.main_window import MainWindow

log = logging.getLogger(__name__)

LEFT = Qt.DockWidgetArea.LeftDockWidgetArea
RIGHT = Qt.DockWidgetArea.RightDockWidgetArea


@dataclass
class WindowParts:
    """Everything the window is made of, as the composition root built it."""

    bridge: EngineBridge
    canvas: Canvas
    session: Session
    prompt_panel: PromptPanel
    queue_view: QueueView
    mask_editor: MaskEditor
    gallery_panel: GalleryPanel | None  # None when the gallery cannot open (said in the banner)
    blend_panel: BlendPanel
    model_library: ModelLibraryPanel
    edit_dock: QDockWidget
    gallery_dock: QDockWidget | None
    blend_dock: QDockWidget
    models_dock: QDockWidget
    file_actions: FileActions | None = None
    gallery_menu: GalleryMenu | None = None
    pending: PendingKeeper | None = None  # None when queue.db cannot open (said in the banner)
    resume_offer: ResumeOffer | None = None
    queries: EngineQueries | None = None  # what the panels ask the engine, answered off the GUI thread
    grid_panel: GridPanel | None = None
    grid_dock: QDockWidget | None = None
    live_sessions: LiveSessions | None = None  # every live slider's frames: Keep (Ctrl+K) and exports


def compose_window(window: MainWindow, engine_factory: EngineFactory) -> WindowParts:
    """Build the parts of `window`, dock them, wire them, and show the artist's saved settings."""
    from studio.ui.main_window import load_session

    session, saved = load_session()
    bridge = EngineBridge(engine_factory, window)
    queries = EngineQueries(window)  # the panels' engine look-ups, off the GUI thread
    window.closing.connect(queries.stop)
    canvas = Canvas()
    prompt_panel = PromptPanel(session, queries=queries)
    queue_view = QueueView()
    window.mount(bridge=bridge, canvas=canvas, session=session, prompt_panel=prompt_panel,
                 queue_view=queue_view)

    mask_editor = MaskEditor(canvas, session, submit=window.submit_request, message=window.show_message,
                             parent=window, queries=queries)
    edit_dock = window.add_panel(window.dock("Edit", "editDock", mask_editor.panel), RIGHT)
    gallery_panel = _open_gallery(window)
    gallery_dock = None
    if gallery_panel is not None:
        gallery_dock = window.add_panel(gallery_panel.as_dock(window), RIGHT, tabify_with=window.queue_dock)
    window.restore_layout(front=gallery_dock or window.queue_dock)

    blend_panel = BlendPanel(session, base=session.base_request)
    blend_scroll = QScrollArea()
    blend_scroll.setWidgetResizable(True)
    blend_scroll.setWidget(blend_panel)
    blend_dock = window.add_panel(window.dock("Blend", "blendDock", blend_scroll), LEFT,
                                  tabify_with=window.prompt_dock)
    # The folder is listed when the tab is first shown, so a big library never slows the start.
    model_library = ModelLibraryPanel(load_settings(), window, load=False, queries=queries)
    # Beside the Gallery's tab, which stays in front at first run (the Prompt stays in view
    # beside it while LoRAs are ticked).
    models_dock = window.add_panel(window.dock("Models", "modelsDock", model_library), RIGHT,
                                   tabify_with=gallery_dock or window.queue_dock)

    parts = WindowParts(bridge, canvas, session, prompt_panel, queue_view, mask_editor, gallery_panel,
                        blend_panel, model_library, edit_dock, gallery_dock, blend_dock, models_dock,
                        queries=queries)
    _wire(window, parts)
    _add_grid(window, parts)
    _add_textdiff(window, parts)
    _wire_files(window, parts)
    _keep_pending(window, parts)  # after _wire: a finished picture's save is queued before its removal
    window.file_actions = parts.file_actions
    files = parts.file_actions
    window.shortcuts_first = WindowShortcutsFirst(window, [
        window.textdiff_action, getattr(window, "keep_action", None),
        files.export_action if files is not None else None])
    window.edit_dock = edit_dock
    window.gallery_menu = parts.gallery_menu
    window.mask_editor = mask_editor
    window.gallery_panel = gallery_panel
    window.blend_panel = blend_panel
    window.model_library = model_library
    window.models_dock = models_dock
    if not saved:  # first run: the default model brings its own settings, as if just picked
        prompt_panel.choose_model("")
    if gallery_panel is not None and gallery_panel.gallery.notice:
        window.show_message(gallery_panel.gallery.notice, error=True)
    return parts


def _open_gallery(window: MainWindow) -> GalleryPanel | None:
    """The Gallery panel, or None (and a message, never a window that fails to start)."""
    try:
        # The file scan, and restoring a damaged database's pictures, run off the start-up path.
        gallery = Gallery.open(clean_min_age=None, heal_later=True)
    except GalleryError as exc:
        window.show_message(f"The gallery is unavailable: {exc}", error=True)
        return None
    panel = GalleryPanel(gallery, window)
    panel.clean_in_background(scratch_after=load_settings().scratch_keep_days * 86400.0)
    return panel


def _keep_pending(window: MainWindow, parts: WindowParts) -> None:
    """Store every queued job until it ends, and offer what an earlier session left waiting in a
    bar above the canvas once the window shows."""
    try:
        store = PendingJobs.open()
    except GalleryError as exc:
        log.warning("waiting jobs will not be stored: %s", exc)
        if parts.gallery_panel is not None:  # else the banner already says the folder is unusable
            window.show_message(f"Waiting pictures will not be kept if Studio closes: {exc}", error=True)
        return
    if store.notice:
        window.show_message(store.notice, error=True)
    gallery = parts.gallery_panel
    keeper = PendingKeeper(store, window, after_saved=gallery.after_recorded if gallery is not None else None)
    keeper.attach(parts.bridge)
    offer = ResumeOffer()
    window.centralWidget().layout().insertWidget(1, offer)  # under the banner, above the canvas
    keeper.loaded.connect(offer.show_offer)
    offer.resumeRequested.connect(lambda specs: resume(parts.bridge, keeper, specs, window.show_message))
    offer.discardRequested.connect(keeper.discard)
    window.shown.connect(keeper.load)
    window.closing.connect(keeper.close)
    parts.pending, parts.resume_offer = keeper, offer


def _engine_news(job: int, text: str) -> str:
    """The executor's notice ("the engine stopped (signal 9); restarting") as one status line;
    when it interrupted a picture, say that the picture and the queue are not lost."""
    line = f"{text[:1].upper()}{text[1:]}"
    return f"{line} — the picture it was making starts again, the queue is kept." if job else f"{line}."


def _add_engine_settings(window: MainWindow, bridge: EngineBridge) -> None:
    from PySide6.QtGui import QAction

    from studio.ui.engine_settings import edit_engine_settings

    def apply(settings) -> None:  # noqa: ANN001 - EngineSettings
        bridge.apply_settings(settings)
        window.show_message("Engine settings saved; the next picture uses them.")

    action = QAction("Engine &Settings…", window)
    action.setToolTip("CPU threads, device, precision and memory savers for the engine")
    action.triggered.connect(lambda: edit_engine_settings(
        window, apply, lambda text: window.show_message(text, error=True)))
    window.image_menu.addSeparator()
    window.image_menu.addAction(action)
    window.engine_settings_action = action


def _wire(window: MainWindow, parts: WindowParts) -> None:
    """Every connection between the parts (and from them to the window), in one place."""
    bridge, canvas, prompt = parts.bridge, parts.canvas, parts.prompt_panel
    editor, gallery, blend, library = parts.mask_editor, parts.gallery_panel, parts.blend_panel, parts.model_library

    # The window: Generate, messages, the queue, and the engine's events in the status bar.
    prompt.generateRequested.connect(window.generate)
    prompt.message.connect(window.show_message)
    parts.queue_view.cancelRequested.connect(bridge.cancel)
    bridge.jobsChanged.connect(window.refresh_queue)
    bridge.loading.connect(window.show_loading)
    bridge.started.connect(window.show_started)
    bridge.progress.connect(window.show_progress)
    bridge.preview.connect(window.show_preview)
    bridge.finished.connect(window.show_finished)
    bridge.cancelled.connect(window.show_cancelled)
    bridge.failed.connect(window.show_failed)
    bridge.warning.connect(lambda _job, text: window.show_message(f"Warning: {text}"))
    bridge.notice.connect(lambda job, text: window.show_message(_engine_news(job, text), error=True))
    _add_engine_settings(window, bridge)
    # Settings are saved a moment after each edit too, so a crash never loses a long prompt.
    for edited in (prompt.changed, editor.panel.settingsChanged, blend.changed):
        edited.connect(window.save_soon)

    # Edit: a result is the new picture to edit; a cancelled edit gives the picture back.
    bridge.finished.connect(editor.on_finished)
    bridge.cancelled.connect(editor.on_cancelled)

    # Gallery: finished jobs are recorded; its actions reach the prompt, the canvas, the editor.
    if gallery is not None:
        bridge.finished.connect(lambda job, _image, event: gallery.record_finished(job, event))
        gallery.reuseParameters.connect(prompt.apply_request)
        gallery.parametersImported.connect(prompt.apply_import)
        gallery.message.connect(window.show_message)
        gallery.alert.connect(lambda text: window.show_message(text, error=True))
        gallery.useAsSource.connect(lambda record: editor.open_file(record.path))
        window.closing.connect(lambda: _close_gallery(gallery))

    # Blend: renders through the bridge; a strip frame clicked goes to the canvas.
    blend.attach(bridge)
    blend.strip.frameChosen.connect(canvas.set_image)
    if gallery is not None:  # "Reuse parameters" on a blend also fills the sliders, and shows them
        blend_dock = parts.blend_dock
        gallery.reuseParameters.connect(lambda request: blend.apply_request(request) and blend_dock.raise_())
        gallery.parametersImported.connect(
            lambda dropped: blend.apply_request(dropped.request) and blend_dock.raise_())
    blend.use_gallery(gallery)  # None: no gallery to keep renders in, nothing to choose
    _add_keep(window, parts)

    # Models: a chosen model goes to the prompt's picker (a few-step model brings its settings);
    # ticked LoRAs ride in every request and are saved with the prompt.
    def list_on_first_show(visible: bool) -> None:
        if visible and not library.loaded:
            library.refresh()

    parts.models_dock.visibilityChanged.connect(list_on_first_show)
    library.modelChosen.connect(prompt.choose_model)
    library.lorasChanged.connect(prompt.set_loras)
    prompt.lorasChanged.connect(library.set_checked_loras)  # restored state, reused parameters
    library.message.connect(window.show_message)
    library.set_checked_loras(prompt.loras())


def _wire_files(window: MainWindow, parts: WindowParts) -> None:
    """The File menu and the gallery's context menu, and what "the picture on the canvas" is for
    them: the last finished job, a gallery entry opened, or a file opened (its parameters, when
    it carries any, arrive later from the reader thread)."""
    from studio.ui.main_window import ui_settings

    editor, gallery, prompt = parts.mask_editor, parts.gallery_panel, parts.prompt_panel
    settings = ui_settings()
    opened: dict[str, Path] = {}

    def open_source(path: Path) -> bool:
        def on_canvas(image: QImage) -> None:
            opened["path"] = Path(path)
            files.set_picture(Picture(image, None, name=Path(path).name))
            if gallery is not None:  # its parameters, read once the picture they go with is there
                gallery.import_files([path])

        editor.open_file(path, on_opened=on_canvas)
        return True  # asked: the picture is read off the GUI thread; a bad file is said then

    # (no read_parameters: open_source reads them once the picture is on the canvas)
    files = FileActions(window, settings, open_source=open_source, read_parameters=None,
                        paste_source=editor.paste)
    window.file_menu.clear()
    files.add_to_menu(window.file_menu)
    window.file_menu.addSeparator()
    window.file_menu.addAction(window.quit_action)
    files.message.connect(window.show_message)
    window.closing.connect(files.wait_written)  # an export under way lands before the app exits
    parts.bridge.finished.connect(lambda _job, image, event: files.set_picture(Picture(
        image, event.request, dict(event.info), time.time())))
    parts.file_actions = files
    if parts.live_sessions is not None:  # exporting a live frame is choosing it: it joins the gallery
        sessions = parts.live_sessions
        files.exported.connect(lambda _path: (files.picture() is None or files.picture().record_id is None)
                               and sessions.keep_latest())
    # Typing and Ctrl+Enter just work after launch.
    # (activateWindow: without a window manager, as under Xvfb, nothing else makes the new window
    # the active one, and shortcuts such as Ctrl+Enter only reach an active window.)
    window.shown.connect(lambda: (window.activateWindow(),
                                  prompt.prompt_edit.setFocus(Qt.FocusReason.OtherFocusReason)))
    if gallery is None:
        return

    def open_record(record: Record) -> None:
        image = QImage(str(record.path))
        if image.isNull():
            window.show_message(f"Cannot open {record.path.name}", error=True)
            return
        editor.set_source(image)  # editable at once: inpaint, outpaint, variations
        opened.pop("path", None)
        files.set_picture(Picture(image, record.request, dict(record.info), record.created, record.id))

    def parameters_read(dropped: object) -> None:
        if getattr(dropped, "path", None) == opened.get("path") and (picture := files.picture()):
            files.set_picture(Picture(picture.image, dropped.request, {}, None, None, picture.name))

    gallery.openOnCanvas.connect(open_record)
    gallery.parametersImported.connect(parameters_read)
    menu = GalleryMenu(gallery, settings, lambda: (files.export_folder(), files.export_format(),
                                                   files.quality()))
    menu.message.connect(window.show_message)
    window.closing.connect(menu.wait_exported)
    files.export_selection = menu.export_if_focused
    parts.gallery_menu = menu


def _add_grid(window: MainWindow, parts: WindowParts) -> None:
    """The Grid panel (Image ▸ Grid…, Ctrl+G): sweeps of the Prompt panel's request, run through
    the bridge (or Ray, as Engine Settings say), saved to the gallery, cells opened on the canvas."""
    from PySide6.QtGui import QAction, QKeySequence

    prompt, gallery = parts.prompt_panel, parts.gallery_panel
    grid = GridPanel(prompt.current_request, prompt.build_request)
    dock = window.add_panel(window.dock("Grid", "gridDock", grid), RIGHT,
                            tabify_with=parts.gallery_dock or window.queue_dock)
    grid.attach(parts.bridge)
    grid.set_gallery(gallery)
    prompt.changed.connect(grid.check_soon)
    grid.message.connect(window.show_message)
    if gallery is not None:  # a clicked cell opens as a gallery pick does: editable, exportable
        grid.openRecord.connect(gallery.openOnCanvas)
    grid.openImage.connect(parts.canvas.set_image)
    window.closing.connect(grid.close_down)

    def show_grid() -> None:
        dock.show()
        dock.raise_()
        grid.value_edits[0].setFocus()
        grid.check()

    action = QAction("&Grid…", window)
    action.setShortcut(QKeySequence("Ctrl+G"))
    action.setToolTip("Vary the prompt's picture along up to three axes (Ctrl+G)")
    action.triggered.connect(show_grid)
    window.addAction(action)  # the shortcut works with the menu closed
    actions = window.image_menu.actions()  # after Generate and Cancel, before the separator
    window.image_menu.insertAction(actions[actions.index(window.engine_settings_action) - 1], action)
    window.grid_action = action
    window.grid_panel = grid
    window.grid_dock = dock
    parts.grid_panel, parts.grid_dock = grid, dock


def _add_keep(window: MainWindow, parts: WindowParts) -> None:
    """Image ▸ Keep Live Frame (Ctrl+K): the live render on the canvas becomes a gallery record.
    A panel with live sliders adds its LiveSession: `parts.live_sessions.add(session, gallery, bridge)`."""
    sessions = parts.live_sessions = LiveSessions(window)
    sessions.add(parts.blend_panel.live_session, parts.gallery_panel, parts.bridge)
    action = QAction("Keep Live Frame", window)
    action.setShortcut(QKeySequence("Ctrl+K"))
    action.setEnabled(parts.gallery_panel is not None)
    action.triggered.connect(lambda: sessions.keep_latest() or window.show_message(
        "Nothing to keep: live frames appear while a slider moves"))
    window.image_menu.addAction(action)
    window.keep_action = action


def _add_textdiff(window: MainWindow, parts: WindowParts) -> None:
    """The Text diff panel (Image ▸ Edit by Description…, Ctrl+D): the gallery's selected picture
    when the gallery has the focus (or the canvas is empty), else the canvas's."""
    from PySide6.QtGui import QAction, QKeySequence
    from PySide6.QtWidgets import QApplication

    from studio.ui.textdiff_panel import TextDiffPanel

    gallery, canvas = parts.gallery_panel, parts.canvas
    # Its live frames go to a scratch strip like Blend's; the one kept becomes the record.
    panel = TextDiffPanel(parts.session.base_request)
    if parts.live_sessions is not None:  # made by _wire's _add_keep, which runs first
        parts.live_sessions.add(panel.live_session, gallery, parts.bridge)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(panel)
    dock = window.add_panel(window.dock("Text diff", "textdiffDock", scroll), LEFT,
                             tabify_with=window.prompt_dock)  # the Prompt panel stays in front
    panel.attach(parts.bridge)
    panel.canvas_button.clicked.connect(lambda: panel.set_source_image(canvas.committed_image()))
    panel.strip.frameChosen.connect(canvas.set_image)

    def edit_by_description() -> None:
        record = gallery.current_record() if gallery is not None else None
        focus = QApplication.focusWidget()
        in_gallery = gallery is not None and focus is not None and gallery.isAncestorOf(focus)
        if record is not None and (in_gallery or canvas.committed_image().isNull()):
            panel.set_source(record.path, record.request.prompt)
        else:
            panel.set_source_image(canvas.committed_image(), parts.session.base_request().prompt)
        dock.show()
        dock.raise_()
        panel.target_text.setFocus()

    action = QAction("Edit by &Description…", window)
    action.setShortcut(QKeySequence("Ctrl+D"))
    action.setToolTip("Change the picture by changing its description, with a live slider (Ctrl+D)")
    action.triggered.connect(edit_by_description)
    window.addAction(action)
    actions = window.image_menu.actions()
    window.image_menu.insertAction(actions[actions.index(window.engine_settings_action) - 1], action)
    window.textdiff_action, window.textdiff_panel, window.textdiff_dock = action, panel, dock


def _close_gallery(gallery: GalleryPanel) -> None:
    gallery.stop_imports()
    gallery.wait_recorded()  # let pending writes land before the app exits
    gallery.boards.wait_read()
    gallery.gallery.close()
