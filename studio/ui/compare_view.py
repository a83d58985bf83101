"""Compare two gallery pictures: side by side, or one over the other with a split the artist
drags; below, only the parameters that differ.

GalleryMenu opens it (key C, or "Compare" in the context menu) when exactly two tiles are
selected: `CompareDialog(a, b, parent).show()`.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QColor, QImage, QPainter, QPen
from PySide6.QtWidgets import (
    QButtonGroup,
    QDialog,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QRadioButton,
    QSlider,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.gallery import Record

# Not parameters: they differ between any two pictures and say nothing about how they were made.
_IGNORED = {"id", "created", "path", "sha256", "timings", "deleted", "favourite", "tags",
            "stack_id", "stack_size", "cover_id", "scratch", "boards", "info"}


def parameters(record: Record) -> dict[str, Any]:
    """What made a picture, flat: every request field, the model and the mode."""
    flat: dict[str, Any] = {"model": record.model_name, "mode": record.mode}
    if record.model_hash:
        flat["model hash"] = record.model_hash[:12]
    for key, value in record.request.to_dict().items():
        flat[key] = value
    return flat


def differences(a: Record, b: Record) -> list[tuple[str, str, str]]:
    """(parameter, value in a, value in b) for each parameter whose values differ, in a stable
    order (model and mode first, then the request's own field order)."""
    left, right = parameters(a), parameters(b)
    keys = list(left) + [k for k in right if k not in left]
    return [(key, _text(left.get(key)), _text(right.get(key)))
            for key in keys if key not in _IGNORED and left.get(key) != right.get(key)]


def _text(value: Any) -> str:
    if value is None:
        return "—"
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(_text(v) for v in value) or "—"
    return str(value)


class SplitView(QWidget):
    """Picture B over picture A; left of the split line A shows, right of it B. `split` is 0..1."""

    splitMoved = Signal(float)  # dragged with the mouse

    def __init__(self, a: QImage, b: QImage, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.a, self.b = a, b
        self.split = 0.5
        self.setMinimumSize(200, 200)

    def set_split(self, fraction: float) -> None:
        self.split = min(1.0, max(0.0, fraction))
        self.update()

    def image_rect(self) -> QRectF:
        """Where the pictures are drawn: fitted to the widget, aspect kept, centred."""
        size = self.a.size() if not self.a.isNull() else self.b.size()
        if size.isEmpty():
            return QRectF(self.rect())
        scale = min(self.width() / size.width(), self.height() / size.height())
        w, h = size.width() * scale, size.height() * scale
        return QRectF((self.width() - w) / 2, (self.height() - h) / 2, w, h)

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(30, 30, 30))
        target = self.image_rect()
        x = target.left() + target.width() * self.split
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.save()
        painter.setClipRect(QRectF(target.left(), target.top(), x - target.left(), target.height()))
        painter.drawImage(target, self.a)
        painter.restore()
        painter.save()
        painter.setClipRect(QRectF(x, target.top(), target.right() - x, target.height()))
        painter.drawImage(target, self.b)
        painter.restore()
        painter.setPen(QPen(QColor(255, 255, 255), 2))
        painter.drawLine(QPointF(x, target.top()), QPointF(x, target.bottom()))

    def mousePressEvent(self, event) -> None:
        self._drag_to(event.position().x())

    def mouseMoveEvent(self, event) -> None:
        self._drag_to(event.position().x())

    def _drag_to(self, x: float) -> None:
        target = self.image_rect()
        if target.width() > 0:
            self.set_split((x - target.left()) / target.width())
            self.splitMoved.emit(self.split)


class _Picture(QLabel):
    """One picture scaled to fit, for side by side."""

    def __init__(self, image: QImage, caption: str) -> None:
        super().__init__()
        self.image = image
        self.caption = caption
        self.setMinimumSize(160, 160)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setToolTip(caption)

    def paintEvent(self, _event) -> None:
        painter = QPainter(self)
        painter.fillRect(self.rect(), QColor(30, 30, 30))
        if self.image.isNull():
            painter.setPen(QColor(200, 200, 200))
            painter.drawText(self.rect(), Qt.AlignmentFlag.AlignCenter, "cannot read the picture")
            return
        size = self.image.size().scaled(self.size(), Qt.AspectRatioMode.KeepAspectRatio)
        x, y = (self.width() - size.width()) / 2, (self.height() - size.height()) / 2
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(QRectF(x, y, size.width(), size.height()), self.image)


class CompareDialog(QDialog):
    """Two pictures and the parameters that differ between them."""

    def __init__(self, a: Record, b: Record, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle(f"Compare {a.id} and {b.id}")
        self.records = (a, b)
        image_a, image_b = QImage(str(a.path)), QImage(str(b.path))
        self.side_button = QRadioButton("Side by side")
        self.split_button = QRadioButton("Split")
        self.side_button.setChecked(True)
        modes = QButtonGroup(self)
        modes.addButton(self.side_button)
        modes.addButton(self.split_button)
        top = QHBoxLayout()
        top.addWidget(QLabel(f"A: {a.id}  ·  B: {b.id}"), 1)
        top.addWidget(self.side_button)
        top.addWidget(self.split_button)

        self.side = QSplitter(Qt.Orientation.Horizontal)
        self.side.addWidget(_Picture(image_a, f"A: {a.prompt}"))
        self.side.addWidget(_Picture(image_b, f"B: {b.prompt}"))
        self.split = SplitView(image_a, image_b)
        self.slider = QSlider(Qt.Orientation.Horizontal, minimum=0, maximum=1000, value=500)
        self.slider.setToolTip("Left of the line: A; right of it: B")
        self.slider.valueChanged.connect(lambda v: self.split.set_split(v / 1000))
        self.split.splitMoved.connect(lambda f: self.slider.setValue(round(f * 1000)))

        rows = differences(a, b)
        self.table = QTableWidget(len(rows), 3)
        self.table.setHorizontalHeaderLabels(["Parameter", "A", "B"])
        self.table.verticalHeader().hide()
        self.table.setEditTriggers(QTableWidget.EditTrigger.NoEditTriggers)
        for row, values in enumerate(rows):
            for column, text in enumerate(values):
                item = QTableWidgetItem(text)
                item.setToolTip(text)
                self.table.setItem(row, column, item)
        self.table.horizontalHeader().setSectionResizeMode(QHeaderView.ResizeMode.Stretch)
        self.same_label = QLabel("Same parameters: the pictures differ only by chance or by model"
                                 " files." if not rows else "1 parameter differs:" if len(rows) == 1
                                 else f"{len(rows)} parameters differ:")

        layout = QVBoxLayout(self)
        layout.addLayout(top)
        layout.addWidget(self.side, 3)
        layout.addWidget(self.split, 3)
        layout.addWidget(self.slider)
        layout.addWidget(self.same_label)
        layout.addWidget(self.table, 1)
        self.side_button.toggled.connect(self._show_mode)
        self._show_mode()
        self.resize(900, 700)

    def _show_mode(self, *_args: object) -> None:
        side = self.side_button.isChecked()
        self.side.setVisible(side)
        self.split.setVisible(not side)
        self.slider.setVisible(not side)

    def differing(self) -> list[str]:
        return [self.table.item(r, 0).text() for r in range(self.table.rowCount())]
