"""The inpainting mask: an 8-bit layer over the canvas image, in image pixels, white = repaint.

The mask values live in one QImage (Format_Indexed8) that numpy also sees, so brush dabs are array
operations and painting the overlay is a single drawImage: the colour table turns each value into
the tint colour at that opacity. Every change goes through a `MaskPatch` on the undo stack.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QRect, QRectF, Signal
from PySide6.QtGui import QColor, QImage, QPainter
from PySide6.QtWidgets import QGraphicsItem, QGraphicsObject, QStyleOptionGraphicsItem, QWidget

OVERLAY_Z = 10
DEFAULT_TINT = QColor(0, 235, 160)  # a green few pictures are full of, so the mask stands out
DEFAULT_OPACITY = 0.5


class MaskLayer(QGraphicsObject):
    """A mask the size of the image, drawn as a tinted, semi-transparent overlay."""

    changed = Signal(QRect)  # the image-pixel area that changed (empty rect: all of it)

    def __init__(self, tint: QColor = DEFAULT_TINT, opacity: float = DEFAULT_OPACITY) -> None:
        super().__init__()
        self.setZValue(OVERLAY_Z)
        # exposedRect then holds just the damaged area, so a dab repaints a dab, not the image.
        self.setFlag(QGraphicsItem.GraphicsItemFlag.ItemUsesExtendedStyleOption)
        self._tint = QColor(tint)
        self._opacity = opacity
        self._image = QImage()
        self._array = np.zeros((0, 0), np.uint8)
        self.resize(0, 0)

    # ---- geometry ------------------------------------------------------------------------------
    def resize(self, width: int, height: int) -> None:
        """Start an empty mask of this size (the image's). Undo history is the caller's to clear."""
        self.prepareGeometryChange()
        if width <= 0 or height <= 0:
            self._image = QImage()
            self._array = np.zeros((0, 0), np.uint8)
        else:
            self._image = QImage(width, height, QImage.Format.Format_Indexed8)
            self._apply_colours()
            view = np.ndarray((height, self._image.bytesPerLine()), np.uint8, buffer=self._image.bits())
            self._array = view[:, :width]
            self._array[:] = 0
        self.changed.emit(QRect())
        self.update()

    def size(self) -> tuple[int, int]:
        return self._array.shape[1], self._array.shape[0]

    def boundingRect(self) -> QRectF:  # noqa: N802 (Qt name)
        width, height = self.size()
        return QRectF(0, 0, width, height)

    # ---- reading -------------------------------------------------------------------------------
    @property
    def array(self) -> np.ndarray:
        """The live mask values (height, width), uint8; write only through `write`."""
        return self._array

    def is_empty(self) -> bool:
        return self._array.size == 0 or not self._array.any()

    def to_pil(self) -> Image.Image:
        # A copy: PIL may share a contiguous array's memory, which the next resize frees.
        return Image.fromarray(self._array.copy(), "L")

    # ---- writing -------------------------------------------------------------------------------
    def write(self, top_left: tuple[int, int], values: np.ndarray) -> None:
        """Put `values` (h, w) at `top_left` (x, y) and repaint that area."""
        x, y = top_left
        h, w = values.shape
        self._array[y : y + h, x : x + w] = values
        self.changed_area(QRect(x, y, w, h))

    def changed_area(self, rect: QRect) -> None:
        self.update(QRectF(rect))
        self.changed.emit(rect)

    # ---- looks ---------------------------------------------------------------------------------
    def set_tint(self, colour: QColor, opacity: float | None = None) -> None:
        self._tint = QColor(colour)
        if opacity is not None:
            self._opacity = opacity
        self._apply_colours()
        self.update()

    def _apply_colours(self) -> None:
        if self._image.isNull():
            return
        r, g, b = self._tint.red(), self._tint.green(), self._tint.blue()
        top = self._opacity
        self._image.setColorTable([QColor(r, g, b, int(round(i * top))).rgba() for i in range(256)])

    def paint(self, painter: QPainter, option: QStyleOptionGraphicsItem, widget: QWidget | None = None) -> None:
        if self._image.isNull():
            return
        exposed = option.exposedRect.toAlignedRect().intersected(self._image.rect())
        if exposed.isEmpty():
            return
        painter.drawImage(exposed.topLeft(), self._image, exposed)
