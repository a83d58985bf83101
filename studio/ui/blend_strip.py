"""The strip part of the Blend panel: N frames from prompt A to prompt B in a filmstrip, and export.

Frames go through the same queue as any job; they fill the filmstrip as the engine bridge reports
them finished. Each cell is captioned with its place on the walk ("3 · A→B 29%", the prompts and
seeds in its tooltip). Export writes an animated WebP/GIF, a side-by-side PNG, or numbered PNG
frames that carry their own parameters.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core.request import GenerationRequest, RequestError
from studio.engine.jobs import UserError
from studio.engine.strip import (
    MAX_FRAMES,
    MIN_FRAMES,
    export_strip,
    frame_caption,
    frame_description,
    strip_requests,
)

if TYPE_CHECKING:
    from PIL.Image import Image

    from studio.ui.blend_widgets import Engine

THUMB = 96
EXPORT_FILTERS = {
    "Animated WebP (*.webp)": ".webp",
    "Animated GIF (*.gif)": ".gif",
    "Frames side by side (*.png)": ".png",
}


class StripSection(QWidget):
    """Frames, "Render strip", the filmstrip and the export buttons."""

    renderRequested = Signal()  # the panel answers with render(base, prompt_b, seed_b or None)
    frameChosen = Signal(QImage)  # a frame the artist clicked
    problem = Signal(str)  # one line for the panel to show; "" clears it

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._engine: Engine | None = None
        self._jobs: dict[int, int] = {}  # job id -> frame index
        self._frames: list[Image | None] = []
        self._requests: list[GenerationRequest] = []  # as recorded with each finished frame
        self._infos: list[dict] = []
        self._images: dict[int, QImage] = {}  # frame index -> full-size image, to show on click

        self.frames_spin = QSpinBox()
        self.frames_spin.setRange(MIN_FRAMES, MAX_FRAMES)
        self.frames_spin.setValue(8)
        self.walk_seeds_check = QCheckBox("Walk seed A → B too")
        self.render_button = QPushButton("Render strip")
        self.filmstrip = QListWidget()
        self.filmstrip.setViewMode(QListView.ViewMode.IconMode)
        self.filmstrip.setFlow(QListView.Flow.LeftToRight)
        self.filmstrip.setWrapping(False)
        self.filmstrip.setMovement(QListView.Movement.Static)
        self.filmstrip.setIconSize(QSize(THUMB, THUMB))
        self.filmstrip.setGridSize(QSize(THUMB + 10, THUMB + 24))
        self.filmstrip.setUniformItemSizes(True)
        self.filmstrip.setFixedHeight(THUMB + 44)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Animated WebP or GIF, or the frames side by side in one PNG")
        self.export_frames_button = QPushButton("Export frames…")
        self.export_frames_button.setToolTip("Numbered PNGs into a folder")
        for button in (self.export_button, self.export_frames_button):
            button.setEnabled(False)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)

        settings_row = QHBoxLayout()
        settings_row.addWidget(QLabel("Frames"))
        settings_row.addWidget(self.frames_spin)
        settings_row.addWidget(self.walk_seeds_check, 1)
        buttons_row = QHBoxLayout()
        buttons_row.addWidget(self.render_button, 1)
        buttons_row.addWidget(self.export_button)
        buttons_row.addWidget(self.export_frames_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.addLayout(settings_row)
        layout.addLayout(buttons_row)
        layout.addWidget(self.filmstrip)
        layout.addWidget(self.status_label)

        self.render_button.clicked.connect(self.renderRequested)
        self.export_button.clicked.connect(self._export_dialog)
        self.export_frames_button.clicked.connect(self._export_frames_dialog)
        self.filmstrip.itemClicked.connect(self._on_frame_clicked)

    def attach(self, engine: Engine) -> None:
        """Submit through `engine`; frames are collected from its bridge signals if it has them."""
        self._engine = engine
        for name, slot in (
            ("finished", self._on_finished),
            ("failed", self._on_failed),
            ("cancelled", self._on_cancelled),
        ):
            signal = getattr(engine, name, None)
            if signal is not None and hasattr(signal, "connect"):
                signal.connect(slot)

    # ---- rendering -----------------------------------------------------------------------------
    def render(self, base: GenerationRequest, prompt_b: str, seed_b: int | None) -> list[int]:
        """Queue the frames from `base`'s prompt to `prompt_b` (and its seed to seed_b, if given)."""
        if self._engine is None:
            self.problem.emit("the engine is not ready yet")
            return []
        try:
            requests = strip_requests(
                base.replace(blend_prompts=(), blend_weights=(), seed_b=None, seed_mix=0.0),
                prompt_b,
                self.frames_spin.value(),
                seed_b,
            )
        except RequestError as exc:
            self.problem.emit(str(exc))
            return []
        return self.render_requests(requests)

    def render_requests(self, requests: list[GenerationRequest]) -> list[int]:
        """Queue these frames (any mode: the text-diff panel's edits too) into the filmstrip."""
        if self._engine is None:
            self.problem.emit("the engine is not ready yet")
            return []
        self.problem.emit("")
        for job_id in self._jobs:  # a new strip replaces one still rendering
            self._engine.cancel(job_id)
        self._jobs.clear()
        self._frames = [None] * len(requests)
        self._requests = list(requests)
        self._infos = [{} for _ in requests]
        self._images.clear()
        self.filmstrip.clear()
        for index, request in enumerate(requests):
            item = QListWidgetItem(_placeholder(), self._caption(index))
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            item.setToolTip(frame_description(request, index, len(requests)))
            self.filmstrip.addItem(item)
        try:
            for index, request in enumerate(requests):
                self._jobs[self._engine.submit(request)] = index
        except Exception as exc:  # an engine that cannot start: say so, stay usable
            self.problem.emit(str(exc))
        self._update_status()
        return list(self._jobs)

    def frames(self) -> list[Image]:
        """The frames in order, once every one has finished (else [])."""
        return [f for f in self._frames if f is not None] if all(self._frames) else []

    def _on_finished(self, job_id: int, image: QImage, event: object) -> None:
        index = self._jobs.pop(job_id, None)
        if index is None:
            return
        self._frames[index] = getattr(event, "image", None)
        self._requests[index] = getattr(event, "request", None) or self._requests[index]
        self._infos[index] = dict(getattr(event, "info", None) or {})
        self._images[index] = image
        thumb = QPixmap.fromImage(image).scaled(
            THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        self.filmstrip.item(index).setIcon(QIcon(thumb))
        self._update_status()

    def _on_failed(self, job_id: int, message: str, _detail: str = "") -> None:
        index = self._jobs.pop(job_id, None)
        if index is not None:
            self.filmstrip.item(index).setText(f"{index + 1} failed")
            self.problem.emit(f"frame {index + 1} failed: {message}")
            self._update_status()

    def _on_cancelled(self, job_id: int, _last_preview: object = None) -> None:
        index = self._jobs.pop(job_id, None)
        if index is not None:
            self.filmstrip.item(index).setText(f"{index + 1} cancelled")
            self._update_status()

    def caption(self, index: int) -> str:
        """The filmstrip cell's text for frame `index` (0-based)."""
        return self.filmstrip.item(index).text()

    def _caption(self, index: int) -> str:
        return f"{index + 1} · {frame_caption(self._requests[index])}"

    def _on_frame_clicked(self, item: QListWidgetItem) -> None:
        image = self._images.get(self.filmstrip.row(item))
        if image is not None:
            self.frameChosen.emit(image)

    def _update_status(self) -> None:
        done, total = sum(f is not None for f in self._frames), len(self._frames)
        complete = total > 0 and done == total
        self.status_label.setText(f"Strip: {done}/{total} frames" + (" — ready to export" if complete else ""))
        for button in (self.export_button, self.export_frames_button):
            button.setEnabled(complete)

    # ---- export --------------------------------------------------------------------------------
    def export_to(self, target: str | Path) -> list[Path]:
        """Write the strip (format from the suffix, or numbered PNGs into a folder)."""
        try:
            frames = self.frames()
            paths = export_strip(frames, target, requests=self._requests if frames else None,
                                 infos=self._infos if frames else None)
        except UserError as exc:
            self.problem.emit(str(exc))
            return []
        self.problem.emit("")
        self.status_label.setText(f"Exported {len(paths)} file{'s' if len(paths) != 1 else ''} to {target}")
        return paths

    def _export_dialog(self) -> None:
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export strip", str(Path.home() / "strip.webp"), ";;".join(EXPORT_FILTERS)
        )
        if path:
            if not Path(path).suffix:
                path += EXPORT_FILTERS.get(chosen, ".webp")
            self.export_to(path)

    def _export_frames_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export frames into a folder", str(Path.home()))
        if folder:
            self.export_to(folder)


def _placeholder() -> QIcon:
    """A dark square where a frame will appear, so every filmstrip cell has the same size."""
    pixmap = QPixmap(THUMB, THUMB)
    pixmap.fill(QColor("#2b2d31"))
    return QIcon(pixmap)
