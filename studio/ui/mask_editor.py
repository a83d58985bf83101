"""Editing the picture on the canvas: the source image, its mask, and the jobs that change them.

The source is what the artist sees when nothing is generating: the last picture opened, pasted,
dropped, extended or finished. The mask always has the source's size; it survives new results of
the same size (so an inpaint can be retried or refined) and starts empty when the size changes.
A result hides the mask overlay, so the artist sees what changed (painting or M shows it again).
The result of an inpaint, outpaint fill or variation is one undo step, like an extension: Ctrl+Z
gives back the picture (and mask) from before it.
Inpaint / Variation write the source and the mask as PNGs into STUDIO_HOME/inputs (named by content
hash) and submit a request that points at them.
A picture file is decoded off the GUI thread (EngineQueries): `open_file()` returns at once and the
source changes when the picture arrives (the newest one opened wins).
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Callable
from pathlib import Path

import numpy as np
from PIL import Image
from PySide6.QtCore import QEvent, QObject, Qt
from PySide6.QtGui import QGuiApplication, QImage, QKeySequence, QShortcut, QUndoStack
from PySide6.QtWidgets import QFileDialog

from studio.core.request import GenerationRequest, RequestError
from studio.core.session import Session
from studio.engine import imageops
from studio.engine.jobs import UserError
from studio.ui import mask_undo
from studio.ui.canvas import Canvas
from studio.ui.edit_tools import EditPanel
from studio.ui.engine_queries import EngineQueries
from studio.ui.mask_brush import BrushTool, TabletInput
from studio.ui.mask_layer import MaskLayer

log = logging.getLogger(__name__)

IMAGE_FILTER = "Pictures (*.png *.jpg *.jpeg *.webp *.bmp *.tif *.tiff);;All files (*)"
EMPTY_MASK = "the mask is empty: paint the area to regenerate"
MASK_HIDDEN = "Mask hidden to show the result: M shows it, Inpaint again repaints the same area"


class MaskEditor(QObject):
    """Wires the Edit panel, the mask layer and brush, and the canvas together.

    `session` holds the Edit panel's settings (the panel is their view) and composes the requests
    with the prompt's; `submit` queues a request (returns a job id or None, showing its own
    errors); `message(text, error)` tells the artist something.
    """

    def __init__(
        self,
        canvas: Canvas,
        session: Session,
        submit: Callable[[GenerationRequest], int | None],
        message: Callable[[str, bool], None],
        parent: QObject | None = None,
        queries: EngineQueries | None = None,
    ) -> None:
        super().__init__(parent)
        self.queries = queries if queries is not None else EngineQueries(self)
        self.canvas = canvas
        self.session = session
        self._submit = submit
        self._message = message
        self._source = QImage()
        # (the source's cacheKey, its input file; None while the background write runs)
        self._source_file: tuple[int, str | None] | None = None
        self._edit_jobs: dict[int, str] = {}  # job id -> what it does, for the undo step's name
        self._extended: QImage | None = None  # the last extension's picture: inpainting it is an outpaint

        self.panel = EditPanel()
        self.panel.show_settings(copy.deepcopy(session.edit))
        self.panel.settingsChanged.connect(lambda: self.panel.store_settings(session.edit))
        self.panel.store_settings(session.edit)  # as shown (spin boxes clamp)
        self.undo_stack = QUndoStack(self)
        self.layer = MaskLayer()
        canvas.scene().addItem(self.layer)
        self.brush = BrushTool(self.layer, self.undo_stack, self)
        self.brush.attach_outline(canvas.scene())
        self.tablet = TabletInput(self.brush, self._view_to_scene, self.is_painting, self)
        self.drops = _DropTarget(self.open_file, self.set_source, self)
        canvas.viewport().installEventFilter(self.tablet)
        canvas.viewport().installEventFilter(self.drops)
        canvas.viewport().setMouseTracking(True)  # the brush outline follows the pointer
        canvas.setAcceptDrops(True)
        canvas.viewport().setAcceptDrops(True)

        self._build_actions()
        self._connect()
        self._update_buttons()

    # ---- source ------------------------------------------------------------------------------
    def source(self) -> QImage:
        return self._source

    def set_source(self, image: QImage, show: bool = True) -> None:
        """Edit `image` from now on; the mask is kept only if the size is the same."""
        if image.isNull():
            return
        image = image.convertToFormat(QImage.Format.Format_RGB888)
        resized = image.size() != self._source.size()
        self._source = image
        self._prepare_source(image)
        if resized:
            self.brush.cancel_stroke()
            self.layer.resize(image.width(), image.height())
            self.brush.set_image_size(image.width(), image.height())
        if resized or mask_undo.holds_source_change(self.undo_stack):
            # An outpaint undo would bring back a picture this new one has replaced.
            self.undo_stack.clear()
        if show:
            self.canvas.set_image(image)
        self._sync_overlay()
        self._update_buttons()

    def open_file(self, path: str | Path, on_opened: Callable[[QImage], None] | None = None) -> None:
        """Edit the picture in `path` once it is read (off the GUI thread), then call `on_opened`
        with it; a file that cannot be used is said in one line and changes nothing."""
        name = Path(path).name

        def opened(image: QImage) -> None:
            self.set_source(image)
            self.set_painting(True)
            self._message(f"Editing {name} ({image.width()}×{image.height()})", False)
            if on_opened is not None:
                on_opened(self._source)

        def failed(exc: Exception) -> None:
            text = str(exc) if isinstance(exc, UserError) else f"Cannot open {name}: {exc}"
            self._message(text, True)

        self.queries.ask(read_picture, Path(path), topic=(id(self), "open"), on_answer=opened, on_error=failed)

    def choose_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self.panel, "Open a picture to edit", "", IMAGE_FILTER)
        if path:
            self.open_file(path)

    def paste(self) -> bool:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is not None and mime.hasImage():
            image = QImage(mime.imageData())
            if not image.isNull():
                self.set_source(image)
                self.set_painting(True)
                return True
        if mime is not None and mime.hasUrls():
            for url in mime.urls():
                if url.isLocalFile():
                    self.open_file(url.toLocalFile())
                    return True  # asked; a file that is no picture is said when it is read
        self._message("The clipboard holds no picture", False)
        return False

    # ---- mask --------------------------------------------------------------------------------
    def is_painting(self) -> bool:
        return self.canvas.tool() is self.brush

    def set_painting(self, on: bool) -> None:
        if on and self._source.isNull():
            on = False
        self.canvas.set_tool(self.brush if on else None)
        if on:
            self.canvas.viewport().setCursor(Qt.CursorShape.CrossCursor)
            self.panel.show_mask_check.setChecked(True)
        else:
            self.brush.hide_outline()
            self.canvas.viewport().unsetCursor()
        self.panel.paint_button.blockSignals(True)
        self.panel.paint_button.setChecked(on)
        self.panel.paint_button.blockSignals(False)

    def set_erase(self, erase: bool) -> None:
        self.brush.erase = erase
        (self.panel.erase_radio if erase else self.panel.brush_radio).setChecked(True)

    def set_mask_visible(self, visible: bool) -> None:
        self.panel.show_mask_check.setChecked(visible)
        self._sync_overlay()

    # ---- jobs --------------------------------------------------------------------------------
    def inpaint_request(self) -> GenerationRequest:
        """The request for "Inpaint"; RequestError (one line) if it cannot be made."""
        if self._source.isNull():
            raise RequestError("open or generate a picture first")
        if self.layer.is_empty():
            raise RequestError(EMPTY_MASK)
        mask = imageops.save_input(self.layer.to_pil(), "mask")
        # Undo/redo install the extension's very picture again, so identity tells an outpaint.
        return self._edit_request(str(mask), outpaint=self._source is self._extended)

    def variation_request(self) -> GenerationRequest:
        if self._source.isNull():
            raise RequestError("open or generate a picture first")
        return self._edit_request()

    def inpaint(self) -> int | None:
        return self._run(self.inpaint_request, "inpaint")

    def variation(self) -> int | None:
        return self._run(self.variation_request, "variation")

    def outpaint(self, side: str) -> bool:
        """Extend the canvas on `side`; the new area (plus a little overlap) becomes the mask."""
        if self._source.isNull():
            self._message("Can't outpaint: open or generate a picture first", True)
            return False
        amount = self.panel.outpaint_spin.value()
        margins = tuple(amount if s == side else 0 for s in ("left", "top", "right", "bottom"))
        try:
            canvas, mask = imageops.outpaint_canvas(qimage_to_pil(self._source), margins)  # type: ignore[arg-type]
        except UserError as exc:
            self._message(f"Can't outpaint: {exc}", True)
            return False
        before = (self._source, self.layer.array)
        after = (pil_to_qimage(canvas).convertToFormat(QImage.Format.Format_RGB888), np.asarray(mask))
        # One undo step: Ctrl+Z gives back the picture and mask from before the extension.
        shown = (self.panel.show_mask_check.isChecked(), True)
        self.undo_stack.push(
            mask_undo.SourceChange(self._install, before, after, f"canvas extension ({side})", shown)
        )
        self._extended = self._source
        self._message(f"Extended the canvas {amount} px on the {side}: press Inpaint to fill it", False)
        return True

    def _install(self, image: QImage, mask: np.ndarray, mask_shown: bool = True) -> None:
        """Show `image` with `mask` as the edit state, keeping the undo history (for undo steps)."""
        self.brush.cancel_stroke()
        self._source = image
        self._prepare_source(image)
        if self.layer.size() != (image.width(), image.height()):
            self.layer.resize(image.width(), image.height())
        self.layer.write((0, 0), mask)
        self.brush.set_image_size(image.width(), image.height())
        self.canvas.set_image(image)
        self._show_mask_for(mask_shown)
        self._sync_overlay()
        self._update_buttons()

    def _edit_request(self, mask: str | None = None, outpaint: bool = False) -> GenerationRequest:
        key = self._source.cacheKey()
        ready = self._source_file
        if ready is not None and ready[0] == key and ready[1] and Path(ready[1]).is_file():
            source = ready[1]
        else:  # asked for before the background write was done: write it now
            source = str(imageops.save_input(qimage_to_pil(self._source), "source"))
            self._source_file = (key, source)
        return self.session.edit_request(source, mask, outpaint=outpaint)

    def _prepare_source(self, image: QImage) -> None:
        """Write the source's input file now, off the GUI thread (a 2048 px picture's PNG takes
        about 0.6 s), so that Inpaint and Variation find it ready."""
        key = image.cacheKey()
        if image.isNull() or (self._source_file is not None and self._source_file[0] == key):
            return  # written, or being written
        self._source_file = (key, None)
        picture = qimage_to_pil(image)  # a copy made here: the worker never touches the QImage

        def ready(path: Path) -> None:
            if self._source.cacheKey() == key:
                self._source_file = (key, str(path))

        self.queries.ask(imageops.save_input, picture, "source", topic=(id(self), "source-file"),
                         on_answer=ready, lane="files")

    def _run(self, make: Callable[[], GenerationRequest], what: str) -> int | None:
        try:
            request = make()
        except RequestError as exc:
            self._message(f"Can't start: {exc}", True)
            self.panel.set_status(str(exc))
            return None
        self.panel.set_status("")
        job = self._submit(request)
        if job is not None:
            self._edit_jobs[job] = what
        return job

    def on_finished(self, job_id: int, image: QImage, event: object = None) -> None:
        """A result is the new picture to edit (the canvas already shows it), with the mask hidden.

        An edit's result is an undo step: Ctrl+Z brings back the picture it replaced (the filled
        extension of an outpaint, the picture before an inpaint) and shows that picture's mask.
        """
        what = self._edit_jobs.pop(job_id, None)
        if what is None or self._source.isNull():
            self.set_source(image, show=False)
            if not self.layer.is_empty():
                self._show_mask_for(False)
            return
        image = image.convertToFormat(QImage.Format.Format_RGB888)
        same_size = image.size() == self._source.size()
        mask = self.layer.array if same_size else np.zeros((image.height(), image.width()), np.uint8)
        was_shown = self.panel.show_mask_check.isChecked()
        shown = (was_shown, was_shown and not mask.any())
        before = (self._source, self.layer.array)
        self.undo_stack.push(mask_undo.SourceChange(self._install, before, (image, mask), what, shown))

    def on_cancelled(self, job_id: int, last_preview: object = None) -> None:
        # The canvas itself goes back to the picture it showed before the job (revert_preview).
        self._edit_jobs.pop(job_id, None)

    def _show_mask_for(self, shown: bool) -> None:
        """Show or hide the mask overlay over a result; a hidden mask that still holds an area says so."""
        self.panel.show_mask_check.setChecked(shown)
        if not shown and not self.layer.is_empty():
            self.panel.set_status(MASK_HIDDEN)
        self._sync_overlay()

    def _mask_check_toggled(self, on: bool) -> None:
        if on and self.panel.status_label.text() == MASK_HIDDEN:
            self.panel.set_status("")
        self._sync_overlay()

    # ---- wiring ------------------------------------------------------------------------------
    def _build_actions(self) -> None:
        canvas, panel, stack = self.canvas, self.panel, self.undo_stack
        undo = stack.createUndoAction(self, "Undo")
        undo.setShortcut(QKeySequence("Ctrl+Z"))
        redo = stack.createRedoAction(self, "Redo")
        redo.setShortcuts([QKeySequence("Ctrl+Shift+Z"), QKeySequence("Ctrl+Y")])
        for action in (undo, redo):
            # Canvas and Edit panel only: the gallery has its own Ctrl+Z, and two window-wide
            # bindings of one key would cancel each other out (Qt calls that ambiguous).
            action.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            canvas.addAction(action)
            panel.addAction(action)
        self.undo_action, self.redo_action = undo, redo
        panel.undo_button.clicked.connect(stack.undo)
        panel.redo_button.clicked.connect(stack.redo)
        stack.canUndoChanged.connect(panel.undo_button.setEnabled)
        stack.canRedoChanged.connect(panel.redo_button.setEnabled)
        panel.undo_button.setEnabled(False)
        panel.redo_button.setEnabled(False)

        # Single keys only while the canvas has focus, so typing a prompt never triggers them.
        for keys, slot in (
            ("[", self.brush.shrink),
            ("]", self.brush.grow),
            ("B", lambda: (self.set_painting(True), self.set_erase(False))),
            ("E", lambda: (self.set_painting(True), self.set_erase(True))),
            ("M", lambda: self.set_mask_visible(not panel.show_mask_check.isChecked())),
        ):
            shortcut = QShortcut(QKeySequence(keys), canvas)
            shortcut.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
            shortcut.activated.connect(slot)
        # Ctrl+V is the window's File > Paste as Source (one shortcut, so never an ambiguous one).

    def _connect(self) -> None:
        panel, brush = self.panel, self.brush
        panel.openRequested.connect(self.choose_file)
        panel.pasteRequested.connect(self.paste)
        panel.inpaintRequested.connect(self.inpaint)
        panel.variationRequested.connect(self.variation)
        panel.outpaintRequested.connect(self.outpaint)
        panel.clearRequested.connect(lambda: mask_undo.clear(self.undo_stack, self.layer))
        panel.fillRequested.connect(lambda: mask_undo.fill(self.undo_stack, self.layer))
        panel.invertRequested.connect(lambda: mask_undo.invert(self.undo_stack, self.layer))
        panel.paint_button.toggled.connect(self.set_painting)
        panel.erase_radio.toggled.connect(lambda on: setattr(brush, "erase", on))
        panel.show_mask_check.toggled.connect(self._mask_check_toggled)
        panel.size_spin.valueChanged.connect(brush.set_size)
        brush.sizeChanged.connect(panel.size_spin.setValue)
        panel.hardness_spin.valueChanged.connect(lambda v: setattr(brush, "hardness", v / 100))
        brush.set_size(panel.size_spin.value())
        brush.hardness = panel.hardness_spin.value() / 100
        self.layer.changed.connect(lambda _rect: self._update_buttons())
        self.canvas.imageChanged.connect(self._sync_overlay)
        brush.strokeStarted.connect(lambda: self._show_mask_for(True))  # paint where you can see

    def _sync_overlay(self) -> None:
        # Hide the overlay while the canvas shows a picture of another size (a txt2img preview).
        shown = self.canvas.current_image().size().toTuple() == self.layer.size()
        self.layer.setVisible(self.panel.show_mask_check.isChecked() and shown)

    def _update_buttons(self) -> None:
        has_source = not self._source.isNull()
        self.panel.inpaint_button.setEnabled(has_source)
        self.panel.variation_button.setEnabled(has_source)
        for button in self.panel.outpaint_buttons.values():
            button.setEnabled(has_source)

    def _view_to_scene(self, point):  # noqa: ANN001, ANN202 - QPointF in, QPointF out
        return self.canvas.mapToScene(point.toPoint())


class _DropTarget(QObject):
    """Accepts picture files and images dropped on the canvas."""

    def __init__(self, open_file, set_source, parent: QObject | None = None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self._open_file = open_file
        self._set_source = set_source

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        kind = event.type()
        if kind in (QEvent.Type.DragEnter, QEvent.Type.DragMove):
            mime = event.mimeData()
            if mime.hasImage() or any(u.isLocalFile() for u in mime.urls()):
                event.acceptProposedAction()
                return True
            return False
        if kind == QEvent.Type.Drop:
            mime = event.mimeData()
            for url in mime.urls():
                if url.isLocalFile():
                    event.acceptProposedAction()
                    self._open_file(url.toLocalFile())
                    return True
            if mime.hasImage():
                event.acceptProposedAction()
                self._set_source(QImage(mime.imageData()))
                return True
        return False


# ---- conversions -------------------------------------------------------------------------------
def read_picture(path: Path) -> QImage:
    """A picture file as the editor's source (slow for big files: called off the GUI thread).
    UserError (one line) when it cannot be used."""
    return pil_to_qimage(imageops.load_image(path))


def qimage_to_pil(image: QImage) -> Image.Image:
    rgb = image.convertToFormat(QImage.Format.Format_RGB888)
    width, height = rgb.width(), rgb.height()
    rows = np.ndarray((height, rgb.bytesPerLine()), np.uint8, buffer=rgb.constBits())
    pixels = rows[:, : width * 3].reshape(height, width, 3)
    return Image.fromarray(pixels.copy(), "RGB")


def pil_to_qimage(image: Image.Image) -> QImage:
    rgb = np.ascontiguousarray(np.asarray(image.convert("RGB")))
    height, width, _ = rgb.shape
    return QImage(rgb.data, width, height, width * 3, QImage.Format.Format_RGB888).copy()
