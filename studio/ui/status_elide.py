"""Status bar messages that never end mid-word: a message too long for the room left of the
permanent widgets is drawn elided ("…"), and the whole of it is the bar's tooltip.

QStatusBar clips a long message wherever the room ends and says nothing of what was cut. The text
itself is left alone (`currentMessage()` is still all of it); only the drawing changes, and only
while a message does not fit.
"""

from __future__ import annotations

from PySide6.QtCore import QEvent, QObject, QRect, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QSizeGrip, QStatusBar, QStyle, QStyleOption, QWidget

_LEFT, _GAP = 6, 2  # QStatusBar's own message margins


def keep_messages_readable(bar: QStatusBar) -> None:
    """Elide long messages in `bar` and keep its tooltip on the full message (idempotent)."""
    if bar.findChild(_ElidingPainter) is not None:
        return
    painter = _ElidingPainter(bar)
    bar.installEventFilter(painter)
    bar.messageChanged.connect(painter.follow_message)


class _ElidingPainter(QObject):
    def __init__(self, bar: QStatusBar) -> None:
        super().__init__(bar)
        self._bar = bar

    def follow_message(self, text: str) -> None:
        self._bar.setToolTip(text)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 (Qt name)
        if watched is not self._bar or event.type() != QEvent.Type.Paint:
            return False
        bar, text = self._bar, self._bar.currentMessage()
        if not text:
            return False
        room = self._message_rect()
        metrics = bar.fontMetrics()
        line = " ".join(text.split())
        if metrics.horizontalAdvance(line) <= room.width():
            return False  # fits: Qt draws it as usual
        # What QStatusBar.paintEvent draws, with the message elided instead of clipped.
        painter = QPainter(bar)
        option = QStyleOption()
        option.initFrom(bar)
        bar.style().drawPrimitive(QStyle.PrimitiveElement.PE_PanelStatusBar, option, painter, bar)
        for widget in self._permanent():
            frame = QStyleOption()
            frame.rect = widget.geometry().adjusted(-2, -1, 2, 1)
            frame.palette = bar.palette()
            bar.style().drawPrimitive(QStyle.PrimitiveElement.PE_FrameStatusBarItem, frame, painter, widget)
        painter.setPen(bar.palette().windowText().color())
        elided = metrics.elidedText(line, Qt.TextElideMode.ElideRight, room.width())
        painter.drawText(room, Qt.AlignmentFlag.AlignLeading | Qt.AlignmentFlag.AlignVCenter, elided)
        painter.end()
        return True

    def _permanent(self) -> list[QWidget]:
        # While a message shows, QStatusBar hides its normal widgets: the visible ones are permanent.
        return [
            w for w in self._bar.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly)
            if w.isVisible() and not isinstance(w, QSizeGrip)
        ]

    def _message_rect(self) -> QRect:
        bar = self._bar
        right = bar.width() - 12
        for widget in bar.findChildren(QWidget, options=Qt.FindChildOption.FindDirectChildrenOnly):
            if widget.isVisible():  # permanent widgets and the size grip
                right = min(right, widget.x() - _GAP)
        return QRect(_LEFT, 0, max(0, right - _LEFT), bar.height())
