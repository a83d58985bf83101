"""The Grid panel's result: every grid of a sweep drawn as it fills in, one cell per picture.

Titles and edge labels are the sweep's own words (`Sweep.title`, `Axis.label`), the ones the grid
saved to the gallery carries, so what the artist sees here is what they find there. Cells wait as
dark squares, show "failed" or "cancelled" when they end without a picture, and are clickable.
"""

from __future__ import annotations

from PySide6.QtCore import QPoint, QPointF, QRectF, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QMouseEvent,
    QPainter,
    QPen,
    QPixmap,
)
from PySide6.QtWidgets import (
    QGraphicsPixmapItem,
    QGraphicsRectItem,
    QGraphicsScene,
    QGraphicsSimpleTextItem,
    QGraphicsView,
    QWidget,
)

from studio.core.sweep import Sweep

Index = tuple[int, int, int]

CELL = 160  # a cell's box in scene units; pictures keep their aspect inside it
GAP = 6
ROW_LABEL = 120  # width of the left edge's labels
COLUMN_LABEL = 24
TITLE = 30
PLACEHOLDER = QColor("#2b2d31")


class GridView(QGraphicsView):
    """Shows a sweep's grids; `cellClicked(index)` with the (x, y, z) of a clicked cell."""

    cellClicked = Signal(object)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.SmoothPixmapTransform)
        self.setAlignment(Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop)
        self.setMinimumHeight(200)
        self._boxes: dict[Index, QGraphicsRectItem] = {}
        self._pictures: dict[Index, QGraphicsPixmapItem] = {}
        self._notes: dict[Index, QGraphicsSimpleTextItem] = {}
        self._labels: list[str] = []

    # ---- layout ------------------------------------------------------------------------------
    def show_sweep(self, sweep: Sweep) -> None:
        """Lay out every grid of `sweep` with empty cells (Z grids one under another)."""
        scene = self.scene()
        scene.clear()
        self._boxes.clear()
        self._pictures.clear()
        self._notes.clear()
        self._labels = []
        columns, rows, grids = sweep.shape
        text = self.palette().text().color()
        top = 0.0
        for z in range(grids):
            self._text(sweep.title(z), QPointF(0, top), ROW_LABEL + columns * (CELL + GAP), text, bold=True)
            top += TITLE
            for x in range(columns):
                left = ROW_LABEL + x * (CELL + GAP)
                self._text(sweep.x.label(x), QPointF(left, top), CELL, text, align=0.5)
            top += COLUMN_LABEL
            for y in range(rows):
                row_top = top + y * (CELL + GAP)
                if sweep.y is not None:
                    self._text(sweep.y.label(y), QPointF(0, row_top + CELL / 2 - 8), ROW_LABEL - GAP, text,
                               align=1.0)
                for x in range(columns):
                    box = QGraphicsRectItem(QRectF(ROW_LABEL + x * (CELL + GAP), row_top, CELL, CELL))
                    box.setBrush(QBrush(PLACEHOLDER))
                    box.setPen(QPen(Qt.PenStyle.NoPen))
                    scene.addItem(box)
                    self._boxes[(x, y, z)] = box
            top += rows * (CELL + GAP) + GAP * 2
        scene.setSceneRect(scene.itemsBoundingRect().adjusted(-GAP, -GAP, GAP, GAP))
        self._fit()

    def clear(self) -> None:
        self.scene().clear()
        self._boxes.clear()
        self._pictures.clear()
        self._notes.clear()
        self._labels = []

    def _text(self, words: str, at: QPointF, width: float, colour: QColor, bold: bool = False,
              align: float = 0.0) -> None:
        """`align`: 0 at the left of `width`, 0.5 centred, 1 against its right end."""
        font = QFont(self.font())
        font.setBold(bold)
        if bold:
            font.setPointSizeF(font.pointSizeF() * 1.15)
        item = QGraphicsSimpleTextItem()
        item.setFont(font)
        item.setBrush(QBrush(colour))
        # Long prompts are elided to the cell's width; the whole text is the tooltip.
        shown = QFontMetricsF(font).elidedText(words, Qt.TextElideMode.ElideRight, width)
        item.setText(shown)
        item.setToolTip(words)
        offset = (width - item.boundingRect().width()) * align
        item.setPos(at.x() + max(0.0, offset), at.y())
        self.scene().addItem(item)
        self._labels.append(words)

    # ---- cells -------------------------------------------------------------------------------
    def set_cell(self, index: Index, image: QImage) -> None:
        """Put a finished picture in its cell, scaled into the cell's box."""
        box = self._boxes.get(index)
        if box is None or image.isNull():
            return
        self._drop_note(index)
        rect = box.rect()
        pixmap = QPixmap.fromImage(image).scaled(
            int(rect.width()), int(rect.height()), Qt.AspectRatioMode.KeepAspectRatio,
            Qt.TransformationMode.SmoothTransformation)
        item = self._pictures.get(index) or QGraphicsPixmapItem()
        item.setPixmap(pixmap)
        item.setPos(rect.x() + (rect.width() - pixmap.width()) / 2, rect.y() + (rect.height() - pixmap.height()) / 2)
        item.setCursor(Qt.CursorShape.PointingHandCursor)
        if index not in self._pictures:
            self.scene().addItem(item)
            self._pictures[index] = item

    def set_note(self, index: Index, words: str) -> None:
        """A word over a cell that has no picture: "failed", "cancelled"."""
        box = self._boxes.get(index)
        if box is None or index in self._pictures:
            return
        self._drop_note(index)
        item = QGraphicsSimpleTextItem(words)
        item.setBrush(QBrush(QColor("#c9c9c9")))
        rect, size = box.rect(), item.boundingRect()
        item.setPos(rect.center().x() - size.width() / 2, rect.center().y() - size.height() / 2)
        self.scene().addItem(item)
        self._notes[index] = item

    def _drop_note(self, index: Index) -> None:
        note = self._notes.pop(index, None)
        if note is not None:
            self.scene().removeItem(note)

    def note(self, index: Index) -> str:
        item = self._notes.get(index)
        return item.text() if item is not None else ""

    def filled(self) -> set[Index]:
        """The cells that show a picture."""
        return set(self._pictures)

    def labels(self) -> list[str]:
        """Every title and edge label, in full, as drawn."""
        return list(self._labels)

    def cell_at(self, point: QPoint) -> Index | None:
        """The cell under a point of the viewport, if any."""
        scene_point = self.mapToScene(point)
        for index, box in self._boxes.items():
            if box.rect().contains(scene_point):
                return index
        return None

    def cell_centre(self, index: Index) -> QPoint:
        """Where a cell is in the viewport (for clicking it)."""
        return self.mapFromScene(self._boxes[index].rect().center())

    # ---- events ------------------------------------------------------------------------------
    def mousePressEvent(self, event: QMouseEvent) -> None:  # noqa: N802 (Qt name)
        index = self.cell_at(event.position().toPoint())
        if index is not None and event.button() == Qt.MouseButton.LeftButton:
            self.cellClicked.emit(index)
            event.accept()
            return
        super().mousePressEvent(event)

    def resizeEvent(self, event) -> None:  # noqa: N802, ANN001 (Qt name)
        super().resizeEvent(event)
        self._fit()

    def _fit(self) -> None:
        # Shrink to show every grid whole; never blow small grids up past their own size.
        rect = self.scene().sceneRect()
        view = self.viewport().rect()
        if rect.isEmpty() or view.isEmpty():
            return
        scale = min(1.0, view.width() / rect.width(), view.height() / rect.height())
        self.resetTransform()
        self.scale(scale, scale)
