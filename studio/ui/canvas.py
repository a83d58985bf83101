"""The canvas: the current image in a zoomable, pannable QGraphicsView.

Layers live in `scene()`: the image is `image_item` at z=0 with its top-left at the scene origin,
so scene coordinates are image pixels. Overlays (the mask layer of issue 4) are added to the scene
with z > 0 and stay aligned through any zoom or pan. Tools get mouse events in scene coordinates
through `set_tool()`; panning (middle button, or Space + left drag) and wheel zoom always win.

Two kinds of picture: `set_image` commits one (a result, an opened file); `show_preview` shows a
step of a running job in its place until `revert_preview` (cancel, failure) brings the committed
picture back, or the next `set_image` replaces both.
"""

from __future__ import annotations

from typing import Protocol

from PySide6.QtCore import QEvent, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QColor,
    QImage,
    QKeySequence,
    QMouseEvent,
    QPainter,
    QPixmap,
    QShortcut,
    QWheelEvent,
)
from PySide6.QtWidgets import QFrame, QGraphicsPixmapItem, QGraphicsScene, QGraphicsView, QWidget

ZOOM_STEP = 1.25
MIN_ZOOM, MAX_ZOOM = 0.05, 32.0


class CanvasTool(Protocol):
    """Something that paints or picks on the canvas (e.g. the mask brush). Return True if handled."""

    def mouse_press(self, event: QMouseEvent, scene_pos: QPointF) -> bool: ...

    def mouse_move(self, event: QMouseEvent, scene_pos: QPointF) -> bool: ...

    def mouse_release(self, event: QMouseEvent, scene_pos: QPointF) -> bool: ...

    def pointer_entered(self, scene_pos: QPointF) -> None: ...

    def pointer_left(self) -> None: ...


class Canvas(QGraphicsView):
    """Shows one image; Ctrl+0 fits it to the view, Ctrl+1 shows it at 100%."""

    imageChanged = Signal()
    zoomChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._scene = QGraphicsScene(self)
        self.setScene(self._scene)
        self.image_item = QGraphicsPixmapItem()
        self.image_item.setTransformationMode(Qt.TransformationMode.SmoothTransformation)
        self.image_item.setZValue(0)
        self._scene.addItem(self.image_item)
        self._image = QImage()  # the committed picture
        self._preview: QImage | None = None  # a running job's step, shown instead of it
        self._fit_mode = True  # keep fitting on resize until the artist zooms by hand
        self._tool: CanvasTool | None = None
        self._space_down = False
        self._pan_from: QPointF | None = None

        self.setRenderHints(
            QPainter.RenderHint.SmoothPixmapTransform | QPainter.RenderHint.Antialiasing
        )
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)  # _zoom_by anchors
        self.setResizeAnchor(QGraphicsView.ViewportAnchor.AnchorViewCenter)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setBackgroundBrush(QColor(34, 35, 38))
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setFocusPolicy(Qt.FocusPolicy.StrongFocus)

        for keys, slot in (
            ("Ctrl+0", self.fit_to_view),
            ("Ctrl+1", self.actual_size),
            ("Ctrl+=", self.zoom_in),
            ("Ctrl++", self.zoom_in),
            ("Ctrl+-", self.zoom_out),
        ):
            shortcut = QShortcut(QKeySequence(keys), self)
            shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
            shortcut.activated.connect(slot)

    # ---- image -------------------------------------------------------------------------------
    def set_image(self, image: QImage) -> None:
        """Show `image` (a result, an opened picture) as the committed picture; drops any preview."""
        self._image = image
        self._preview = None
        self._show(image)

    def show_preview(self, image: QImage) -> None:
        """Show a running job's step in place of the committed picture, which is kept for revert."""
        self._preview = image
        self._show(image)

    def revert_preview(self) -> bool:
        """Show the committed picture again (after a cancel or failure). False if no preview was up."""
        if self._preview is None:
            return False
        self._preview = None
        self._show(self._image)
        return True

    def is_previewing(self) -> bool:
        return self._preview is not None

    def current_image(self) -> QImage:
        """The picture on show, preview or committed (a null QImage before the first one)."""
        return self._preview if self._preview is not None else self._image

    def committed_image(self) -> QImage:
        """The last picture set with `set_image`, whatever preview is on show over it."""
        return self._image

    def clear(self) -> None:
        self._image = QImage()
        self._preview = None
        self.image_item.setPixmap(QPixmap())
        self.imageChanged.emit()

    def _show(self, image: QImage) -> None:
        # Scene size follows the picture on show; fit mode refits when it changes.
        resized = image.size() != self.image_item.pixmap().size()
        self.image_item.setPixmap(QPixmap.fromImage(image))
        if resized:
            self._scene.setSceneRect(QRectF(0, 0, image.width(), image.height()))
            if self._fit_mode:
                self.fit_to_view()
        self.imageChanged.emit()

    def drawForeground(self, painter: QPainter, rect: QRectF) -> None:  # noqa: N802
        super().drawForeground(painter, rect)
        if not self.current_image().isNull():
            return
        # An empty canvas says what will happen, in view coordinates (unaffected by zoom).
        painter.save()
        painter.resetTransform()
        painter.setPen(QColor(120, 125, 134))
        painter.drawText(
            self.viewport().rect(),
            Qt.AlignmentFlag.AlignCenter,
            "Your image appears here as it is painted.\nWrite a prompt and press Ctrl+Enter.",
        )
        painter.restore()

    # ---- zoom --------------------------------------------------------------------------------
    def zoom(self) -> float:
        return self.transform().m11()

    def fit_to_view(self) -> None:
        self._fit_mode = True
        if self.current_image().isNull():
            return
        # Small images (64-256 px models) are scaled up too, so the artist can see them.
        self.fitInView(self.image_item, Qt.AspectRatioMode.KeepAspectRatio)
        self.zoomChanged.emit(self.zoom())

    def actual_size(self) -> None:
        self._fit_mode = False
        self.resetTransform()
        self.centerOn(self.image_item)
        self.zoomChanged.emit(self.zoom())

    def zoom_in(self) -> None:
        self._zoom_by(ZOOM_STEP)

    def zoom_out(self) -> None:
        self._zoom_by(1 / ZOOM_STEP)

    def _zoom_by(self, factor: float, anchor: QPointF | None = None) -> None:
        """Zoom by `factor`, keeping the scene point under `anchor` (view coords) in place."""
        target = min(MAX_ZOOM, max(MIN_ZOOM, self.zoom() * factor))
        factor = target / self.zoom()
        if abs(factor - 1.0) < 1e-6:
            return
        self._fit_mode = False
        if anchor is None:
            anchor = QPointF(self.viewport().rect().center())
        fixed = self.mapToScene(anchor.toPoint())
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.NoAnchor)
        self.scale(factor, factor)
        # Scroll so the anchored scene point sits under the same view pixel again.
        moved = self.mapFromScene(fixed) - anchor.toPoint()
        self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() + moved.x())
        self.verticalScrollBar().setValue(self.verticalScrollBar().value() + moved.y())
        self.zoomChanged.emit(self.zoom())

    def wheelEvent(self, event: QWheelEvent) -> None:  # noqa: N802 (Qt name)
        steps = event.angleDelta().y() / 120.0
        if steps:
            self._zoom_by(ZOOM_STEP**steps, event.position())
        event.accept()

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        if self._fit_mode:
            self.fit_to_view()

    # ---- tools and panning -------------------------------------------------------------------
    def set_tool(self, tool: CanvasTool | None) -> None:
        """Route left-button mouse events (in scene coordinates) to `tool`; None for none."""
        self._tool = tool

    def tool(self) -> CanvasTool | None:
        return self._tool

    def viewportEvent(self, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        # The tool's hover feedback (the brush outline) belongs to the pointer: gone when it leaves.
        if self._tool is not None:
            if event.type() == QEvent.Type.Leave:
                self._tool.pointer_left()
            elif event.type() == QEvent.Type.Enter:
                self._tool.pointer_entered(self.mapToScene(event.position().toPoint()))
        return super().viewportEvent(event)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = True
            self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            event.accept()
            return
        super().keyPressEvent(event)

    def keyReleaseEvent(self, event) -> None:  # noqa: N802
        if event.key() == Qt.Key.Key_Space and not event.isAutoRepeat():
            self._space_down = False
            self.viewport().unsetCursor()
            event.accept()
            return
        super().keyReleaseEvent(event)

    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        pans = event.button() == Qt.MouseButton.MiddleButton or (
            event.button() == Qt.MouseButton.LeftButton and self._space_down
        )
        if pans:
            self._pan_from = event.position()
            self.viewport().setCursor(Qt.CursorShape.ClosedHandCursor)
            event.accept()
            return
        if self._tool is not None and self._tool.mouse_press(event, self._scene_pos(event)):
            event.accept()
            return
        super().mousePressEvent(event)

    def mouseMoveEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_from is not None:
            delta = event.position() - self._pan_from
            self._pan_from = event.position()
            self.horizontalScrollBar().setValue(self.horizontalScrollBar().value() - int(delta.x()))
            self.verticalScrollBar().setValue(self.verticalScrollBar().value() - int(delta.y()))
            event.accept()
            return
        if self._tool is not None and self._tool.mouse_move(event, self._scene_pos(event)):
            event.accept()
            return
        super().mouseMoveEvent(event)

    def mouseReleaseEvent(self, event: QMouseEvent) -> None:  # noqa: N802
        if self._pan_from is not None and event.button() in (
            Qt.MouseButton.MiddleButton,
            Qt.MouseButton.LeftButton,
        ):
            self._pan_from = None
            if self._space_down:
                self.viewport().setCursor(Qt.CursorShape.OpenHandCursor)
            else:
                self.viewport().unsetCursor()
            event.accept()
            return
        if self._tool is not None and self._tool.mouse_release(event, self._scene_pos(event)):
            event.accept()
            return
        super().mouseReleaseEvent(event)

    def _scene_pos(self, event: QMouseEvent) -> QPointF:
        return self.mapToScene(event.position().toPoint())
