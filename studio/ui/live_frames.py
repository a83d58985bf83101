"""A kept picture's live frames: every render made while its slider moved, oldest first, with
Keep on any of them (it becomes a gallery record too). Opened from the gallery's detail pane
("Live frames (N)…"). A strip holds tens of frames: their thumbnails are read at once."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QIcon, QPixmap
from PySide6.QtWidgets import (
    QDialog,
    QHBoxLayout,
    QLabel,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.gallery import Gallery, GalleryError
from studio.ui.gallery_model import THUMB


class LiveFramesDialog(QDialog):
    keepRequested = Signal(int)  # a scratch frame's record id

    def __init__(self, gallery: Gallery, session: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Live frames")
        self.gallery, self.session = gallery, session
        self.frames = QListWidget()
        self.frames.setViewMode(QListWidget.ViewMode.IconMode)
        self.frames.setFlow(QListWidget.Flow.LeftToRight)
        self.frames.setWrapping(True)
        self.frames.setResizeMode(QListWidget.ResizeMode.Adjust)
        self.frames.setIconSize(QSize(THUMB, THUMB))
        self.frames.setSelectionMode(QListWidget.SelectionMode.ExtendedSelection)
        self.keep_button = QPushButton("Keep selected")
        self.keep_button.setToolTip("Add the selected frames to the gallery as pictures of their own")
        self.info = QLabel()
        buttons = QHBoxLayout()
        buttons.addWidget(self.info, 1)
        buttons.addWidget(self.keep_button)
        layout = QVBoxLayout(self)
        layout.addWidget(self.frames, 1)
        layout.addLayout(buttons)
        self.keep_button.clicked.connect(self.keep_selected)
        self.frames.itemSelectionChanged.connect(self._update)
        self.resize(760, 420)
        self.reload()

    def reload(self) -> None:
        self.frames.clear()
        try:
            frames = self.gallery.scratch_frames(self.session)
        except GalleryError as exc:
            self.info.setText(str(exc))
            return
        for frame in frames:
            pixmap = QPixmap()
            try:
                data = self.gallery.thumbnail(frame.id)
            except GalleryError:
                data = None
            if data:
                pixmap.loadFromData(data)
            label = ("✓ " if frame.scratch is None else "") + _what_moved(frame)
            item = QListWidgetItem(QIcon(pixmap), label)
            item.setData(Qt.ItemDataRole.UserRole, frame.id)
            item.setData(Qt.ItemDataRole.UserRole + 1, frame.scratch is None)
            item.setToolTip(f"{frame.prompt}\nseed {frame.request.seed}" +
                            ("\nkept in the gallery" if frame.scratch is None else ""))
            self.frames.addItem(item)
        kept = sum(1 for f in frames if f.scratch is None)
        self.info.setText(f"{len(frames)} frame{'s' if len(frames) != 1 else ''}, {kept} kept (✓)")
        self._update()

    def _update(self) -> None:
        self.keep_button.setEnabled(any(not i.data(Qt.ItemDataRole.UserRole + 1)
                                        for i in self.frames.selectedItems()))

    def keep_selected(self) -> None:
        for item in self.frames.selectedItems():
            if not item.data(Qt.ItemDataRole.UserRole + 1):
                self.keepRequested.emit(int(item.data(Qt.ItemDataRole.UserRole)))
                item.setData(Qt.ItemDataRole.UserRole + 1, True)
                item.setText("✓ " + item.text())
        kept = sum(1 for r in range(self.frames.count())
                   if self.frames.item(r).data(Qt.ItemDataRole.UserRole + 1))
        self.info.setText(f"{self.frames.count()} frames, {kept} kept (✓)")
        self._update()


def _what_moved(frame) -> str:
    """A frame's caption: the slider values that tell frames of one strip apart."""
    req = frame.request
    parts = []
    if req.blend_weights:
        parts.append("mix " + "/".join(f"{w:.2f}" for w in req.blend_weights))
    if req.seed_b is not None:
        parts.append(f"noise {req.seed_mix:.2f}")
    if req.init_image:
        parts.append(f"strength {req.strength:.2f}")
    return ", ".join(parts) or f"seed {req.seed}"
