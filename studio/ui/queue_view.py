"""The queue view: the running job and the waiting ones, each with a button that cancels it."""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.engine.jobs import JobInfo  # plain data; no torch


class QueueView(QWidget):
    """Lists jobs in the order they run; `cancelRequested(job_id)` when a row's ✕ is clicked."""

    cancelRequested = Signal(int)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.list = QListWidget()
        self.list.setSelectionMode(QListWidget.SelectionMode.SingleSelection)
        self.list.setAlternatingRowColors(True)
        self.empty_label = QLabel("No jobs waiting. Ctrl+Enter queues one.")
        self.empty_label.setObjectName("hint")
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(self.list)
        layout.addWidget(self.empty_label)
        self.set_jobs([])

    def set_jobs(self, jobs: list[JobInfo]) -> None:
        self.list.clear()
        for info in jobs:
            item = QListWidgetItem(self.list)
            item.setData(Qt.ItemDataRole.UserRole, info.job_id)
            row = _JobRow(info)
            row.cancel_button.clicked.connect(
                lambda _=False, j=info.job_id: self.cancelRequested.emit(j)
            )
            item.setSizeHint(row.sizeHint())
            self.list.setItemWidget(item, row)
        self.list.setVisible(bool(jobs))
        self.empty_label.setVisible(not jobs)

    def job_ids(self) -> list[int]:
        return [self.list.item(i).data(Qt.ItemDataRole.UserRole) for i in range(self.list.count())]

    def cancel_button(self, job_id: int) -> QToolButton:
        for i in range(self.list.count()):
            item = self.list.item(i)
            if item.data(Qt.ItemDataRole.UserRole) == job_id:
                return self.list.itemWidget(item).cancel_button
        raise KeyError(job_id)

    def keyPressEvent(self, event) -> None:  # noqa: N802
        item = self.list.currentItem()
        if event.key() in (Qt.Key.Key_Delete, Qt.Key.Key_Backspace) and item is not None:
            self.cancelRequested.emit(item.data(Qt.ItemDataRole.UserRole))
            return
        super().keyPressEvent(event)


class _JobRow(QWidget):
    def __init__(self, info: JobInfo) -> None:
        super().__init__()
        req = info.request
        prompt = req.prompt if len(req.prompt) <= 48 else req.prompt[:47] + "…"
        state = "▶ running" if info.state == "running" else "waiting"
        self.label = QLabel(
            f"<b>#{info.job_id}</b> {state}<br><span>{_escape(prompt) or '<i>(empty prompt)</i>'}</span>"
            f"<br><small>{req.width}×{req.height} · {req.steps} steps · seed {req.seed}</small>"
        )
        self.label.setTextFormat(Qt.TextFormat.RichText)
        self.cancel_button = QToolButton()
        self.cancel_button.setText("✕")
        self.cancel_button.setToolTip(
            "Cancel this job" if info.state == "running" else "Remove from queue"
        )
        self.cancel_button.setAutoRaise(True)
        layout = QHBoxLayout(self)
        layout.setContentsMargins(6, 4, 4, 4)
        layout.addWidget(self.label, 1)
        layout.addWidget(self.cancel_button, 0, Qt.AlignmentFlag.AlignTop)


def _escape(text: str) -> str:
    return text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
