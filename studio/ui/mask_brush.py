"""The mask brush: a canvas tool that paints or erases the mask with round, soft-edged dabs.

It receives left-button events in scene (= image pixel) coordinates from the canvas's tool hook,
so wheel zoom and middle/Space panning keep working while it is active. A stroke is one undo step.
Pen tablets: the canvas viewport's tablet events are turned into strokes whose dab size follows
the pen pressure. The size is kept as a fraction of the picture's shorter side, so a brush that
suits a 1024 px photo is not a third of a 128 px sketch: a new picture gets the same relative size.
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QEvent, QObject, QPointF, QRect, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QMouseEvent, QPen, QTabletEvent, QUndoStack
from PySide6.QtWidgets import QGraphicsEllipseItem, QGraphicsScene

from studio.ui.mask_layer import OVERLAY_Z, MaskLayer
from studio.ui.mask_undo import MaskPatch

MIN_SIZE, MAX_SIZE = 1, 1000
DEFAULT_FRACTION = 1 / 12  # of the picture's shorter side: a 11 px brush at 128 px, 85 px at 1024
SIZE_STEP = 1.2  # `[` / `]` shrink or grow by this factor (at least 1 px), alike at any size
MIN_PRESSURE_SCALE = 0.05  # the lightest pen touch still paints a dab this fraction of the size


def dab(radius: float, hardness: float, centre: tuple[float, float]) -> tuple[int, int, np.ndarray]:
    """A round dab: (left, top, values 0..1) - 1 inside hardness*radius, smooth fall-off to 0 at radius."""
    cx, cy = centre
    reach = max(radius, 0.5)
    left, top = int(math.floor(cx - reach)), int(math.floor(cy - reach))
    right, bottom = int(math.ceil(cx + reach)) + 1, int(math.ceil(cy + reach)) + 1
    ys, xs = np.mgrid[top:bottom, left:right]
    distance = np.hypot(xs + 0.5 - cx, ys + 0.5 - cy)
    inner = min(max(hardness, 0.0), 1.0) * reach
    if reach - inner < 0.5:  # hard brush: a 1 px anti-aliased edge
        values = np.clip(reach - distance + 0.5, 0.0, 1.0)
    else:
        t = np.clip((reach - distance) / (reach - inner), 0.0, 1.0)
        values = t * t * (3 - 2 * t)  # smoothstep
    return left, top, values


class BrushTool(QObject):
    """Paints (white) or erases (black) the mask. Size is the dab diameter in image pixels."""

    sizeChanged = Signal(int)
    strokeStarted = Signal()
    strokeFinished = Signal()

    def __init__(self, layer: MaskLayer, undo_stack: QUndoStack, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.layer = layer
        self.undo_stack = undo_stack
        self.fraction = DEFAULT_FRACTION
        self._side = 0  # the picture's shorter side; 0 until there is one
        self.size = 48
        self.hardness = 0.7
        self.erase = False
        self._before: np.ndarray | None = None
        self._dirty = QRect()
        self._last: QPointF | None = None
        self._pressure = 1.0
        self._outline = _Outline()

    # ---- settings ----------------------------------------------------------------------------
    def set_size(self, size: int) -> None:
        """The artist's choice of diameter in pixels; remembered relative to the picture."""
        size = int(min(MAX_SIZE, max(MIN_SIZE, size)))
        if size != self.size:
            if self._side:
                self.fraction = size / self._side
            self._apply_size(size)

    def set_image_size(self, width: int, height: int) -> None:
        """A picture of this size is being edited: the brush keeps its size relative to it."""
        self._side = min(width, height) if width > 0 and height > 0 else 0
        if self._side:
            self._apply_size(int(min(MAX_SIZE, max(MIN_SIZE, round(self.fraction * self._side)))))

    def grow(self) -> None:
        self.set_size(max(self.size + 1, round(self.size * SIZE_STEP)))

    def shrink(self) -> None:
        self.set_size(min(self.size - 1, round(self.size / SIZE_STEP)))

    def _apply_size(self, size: int) -> None:
        if size != self.size:
            self.size = size
            self._outline.set_radius(size / 2)
            self.sizeChanged.emit(size)

    def attach_outline(self, scene: QGraphicsScene) -> None:
        """Show the brush outline (a circle of the brush's size) in `scene`, following the pointer."""
        self._outline.attach(scene, self.size / 2)

    def hover(self, scene_pos: QPointF) -> None:
        self._outline.move_to(scene_pos)

    def hide_outline(self) -> None:
        self._outline.hide()

    def outline_visible(self) -> bool:
        return self._outline.visible()

    def pointer_entered(self, scene_pos: QPointF) -> None:
        self.hover(scene_pos)

    def pointer_left(self) -> None:
        if not self.painting:  # mid-stroke the pointer is grabbed and comes back
            self.hide_outline()

    @property
    def painting(self) -> bool:
        return self._before is not None

    # ---- the canvas tool hook ----------------------------------------------------------------
    def mouse_press(self, event: QMouseEvent, scene_pos: QPointF) -> bool:
        if event.button() != Qt.MouseButton.LeftButton:
            return False
        return self.begin(scene_pos, 1.0)

    def mouse_move(self, event: QMouseEvent, scene_pos: QPointF) -> bool:
        self.hover(scene_pos)
        if not self.painting:
            return False  # hover: let the view do its usual thing
        self.extend(scene_pos, 1.0)
        return True

    def mouse_release(self, event: QMouseEvent, scene_pos: QPointF) -> bool:
        if event.button() != Qt.MouseButton.LeftButton or not self.painting:
            return False
        self.end()
        return True

    # ---- strokes -----------------------------------------------------------------------------
    def begin(self, pos: QPointF, pressure: float) -> bool:
        if self.layer.size() == (0, 0):
            return False
        self._before = self.layer.array.copy()
        self._dirty = QRect()
        self._last = None
        self.strokeStarted.emit()
        self.extend(pos, pressure)
        return True

    def extend(self, pos: QPointF, pressure: float) -> None:
        """Stamp dabs from the last point to `pos`, a quarter of the radius apart."""
        self._pressure = pressure
        radius = self.size / 2 * max(MIN_PRESSURE_SCALE, min(1.0, pressure))
        if self._last is None:
            points = [pos]
        else:
            delta = pos - self._last
            length = math.hypot(delta.x(), delta.y())
            count = max(1, math.ceil(length / max(0.5, radius / 4)))
            points = [self._last + delta * (i / count) for i in range(1, count + 1)]
        for point in points:
            self._stamp(point, radius)
        self._last = pos

    def end(self) -> None:
        before, rect = self._before, self._dirty
        self._before, self._last = None, None
        if before is None or rect.isEmpty():
            return
        x, y, w, h = rect.x(), rect.y(), rect.width(), rect.height()
        old = before[y : y + h, x : x + w].copy()
        new = self.layer.array[y : y + h, x : x + w].copy()
        if not np.array_equal(old, new):
            text = "erase" if self.erase else "brush stroke"
            self.undo_stack.push(MaskPatch(self.layer, (x, y), old, new, text, applied=True))
        self.strokeFinished.emit()

    def cancel_stroke(self) -> None:
        """Drop a stroke in progress (e.g. the image changed under it)."""
        self._before, self._last = None, None

    def _stamp(self, centre: QPointF, radius: float) -> None:
        left, top, values = dab(radius, self.hardness, (centre.x(), centre.y()))
        mask = self.layer.array
        height, width = mask.shape
        x0, y0 = max(0, left), max(0, top)
        x1, y1 = min(width, left + values.shape[1]), min(height, top + values.shape[0])
        if x0 >= x1 or y0 >= y1:
            return
        amount = (values[y0 - top : y1 - top, x0 - left : x1 - left] * 255 + 0.5).astype(np.uint8)
        region = mask[y0:y1, x0:x1]
        # Max (or min) rather than blending: going over the same spot in one stroke never builds up
        # past the brush's own value, so soft brushes behave predictably.
        if self.erase:
            np.minimum(region, 255 - amount, out=region)
        else:
            np.maximum(region, amount, out=region)
        rect = QRect(x0, y0, x1 - x0, y1 - y0)
        self._dirty = self._dirty.united(rect)
        self.layer.changed_area(rect)


class TabletInput(QObject):
    """Event filter for the canvas viewport: pen strokes with pressure go to the brush.

    Accepting the tablet event stops Qt from also sending the synthesized mouse events.
    """

    def __init__(self, brush: BrushTool, to_scene, active, parent: QObject | None = None) -> None:  # noqa: ANN001
        super().__init__(parent)
        self.brush = brush
        self._to_scene = to_scene  # view point -> scene point
        self._active = active  # () -> bool: is the brush the canvas tool right now?

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        kind = event.type()
        if kind not in (QEvent.Type.TabletPress, QEvent.Type.TabletMove, QEvent.Type.TabletRelease):
            return False
        if not self._active():
            return False
        assert isinstance(event, QTabletEvent)
        pos = self._to_scene(event.position())
        pressure = float(event.pressure())
        if kind == QEvent.Type.TabletPress:
            if event.button() != Qt.MouseButton.LeftButton:
                return False
            handled = self.brush.begin(pos, pressure)
        elif kind == QEvent.Type.TabletMove:
            self.brush.hover(pos)
            handled = self.brush.painting
            if handled:
                self.brush.extend(pos, pressure)
        else:
            handled = self.brush.painting
            if handled:
                self.brush.end()
        if handled:
            event.accept()
        return handled


class _Outline:
    """The brush circle: a dark and a light cosmetic ring, readable over any picture."""

    def __init__(self) -> None:
        self._items: list[QGraphicsEllipseItem] = []
        self._radius = 0.0
        self._centre = QPointF()

    def attach(self, scene: QGraphicsScene, radius: float) -> None:
        self.detach()
        for layer, (colour, width) in enumerate(((QColor(0, 0, 0, 160), 3.0), (QColor(255, 255, 255, 230), 1.0))):
            item = QGraphicsEllipseItem()
            pen = QPen(colour, width)
            pen.setCosmetic(True)  # same thickness at any zoom
            item.setPen(pen)
            item.setZValue(OVERLAY_Z + 1 + layer / 10)  # the light ring on top of the dark one
            item.setAcceptedMouseButtons(Qt.MouseButton.NoButton)
            item.setVisible(False)
            scene.addItem(item)
            self._items.append(item)
        self.set_radius(radius)

    def detach(self) -> None:
        for item in self._items:
            if item.scene() is not None:
                item.scene().removeItem(item)
        self._items = []

    def set_radius(self, radius: float) -> None:
        self._radius = radius
        self._place()

    def move_to(self, centre: QPointF) -> None:
        self._centre = QPointF(centre)
        for item in self._items:
            item.setVisible(True)
        self._place()

    def hide(self) -> None:
        for item in self._items:
            item.setVisible(False)

    def visible(self) -> bool:
        return any(item.isVisible() for item in self._items)

    def _place(self) -> None:
        r = self._radius
        rect = QRectF(self._centre.x() - r, self._centre.y() - r, 2 * r, 2 * r)
        for item in self._items:
            item.setRect(rect)
