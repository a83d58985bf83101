"""The Blend panel: prompt and seed sliders rendered live, and strips from prompt A to prompt B.

Moving a slider (or typing a position) emits `requestChanged(GenerationRequest)` once the hand
rests for DEBOUNCE_MS; the host hands it to a `LiveRenderer`, which cancels the stale live job
and submits the new one, so the newest position always wins. "Render strip" queues N frames and
shows them in a filmstrip as they finish; the strip exports as animated WebP/GIF, a side-by-side
PNG, or numbered PNG frames. `install_blend_panel(window)` mounts it beside the prompt panel.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import QRegularExpression, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QIcon, QImage, QPixmap, QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDockWidget,
    QDoubleSpinBox,
    QFileDialog,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QListView,
    QListWidget,
    QListWidgetItem,
    QPushButton,
    QScrollArea,
    QSlider,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core.request import BLEND_MODES, MAX_SEED, GenerationRequest, RequestError
from studio.engine.jobs import UserError
from studio.engine.strip import MAX_FRAMES, MIN_FRAMES, export_strip, strip_requests

if TYPE_CHECKING:
    from PIL.Image import Image

    from studio.engine.jobs import JobInfo

log = logging.getLogger(__name__)

DEBOUNCE_MS = 120
SLIDER_STEPS = 1000
THUMB = 96


class Engine(Protocol):
    """What the panel needs of an engine: a JobQueue, or the window's EngineBridge."""

    def submit(self, request: GenerationRequest) -> int: ...
    def cancel(self, job_id: int) -> bool: ...
    def jobs(self) -> list[JobInfo]: ...


class LiveRenderer:
    """Newest position wins: each new live request cancels the live job still queued or running."""

    def __init__(self, engine: Engine) -> None:
        self.engine = engine
        self.current: int | None = None

    def submit(self, request: GenerationRequest) -> int:
        """Cancel the stale live job (if any is still alive), then queue `request`. RequestError
        propagates (nothing is cancelled for a request that cannot run)."""
        request.validate()
        self.cancel()
        self.current = self.engine.submit(request)
        return self.current

    def cancel(self) -> None:
        if self.current is not None and any(j.job_id == self.current for j in self.engine.jobs()):
            self.engine.cancel(self.current)
        self.current = None


class MixSlider(QWidget):
    """A 0..1 slider with a linked, typeable spin box; `changed` fires on either."""

    changed = Signal(float)

    def __init__(self, value: float = 0.0, tooltip: str = "", parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, SLIDER_STEPS)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0.0, 1.0)
        self.spin.setDecimals(3)
        self.spin.setSingleStep(0.05)
        self.spin.setFixedWidth(76)
        self.setToolTip(tooltip)
        row = QHBoxLayout(self)
        row.setContentsMargins(0, 0, 0, 0)
        row.addWidget(self.slider, 1)
        row.addWidget(self.spin)
        self.set_value(value)
        self.slider.valueChanged.connect(self._from_slider)
        self.spin.valueChanged.connect(self._from_spin)

    def value(self) -> float:
        return round(self.spin.value(), 3)

    def set_value(self, value: float) -> None:
        self.spin.setValue(value)
        self._sync_slider(self.spin.value())

    def _from_slider(self, position: int) -> None:
        value = position / SLIDER_STEPS
        if abs(value - self.spin.value()) > 0.5 / SLIDER_STEPS:
            self.spin.setValue(value)

    def _from_spin(self, value: float) -> None:
        self._sync_slider(value)
        self.changed.emit(self.value())

    def _sync_slider(self, value: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round(value * SLIDER_STEPS))
        self.slider.blockSignals(False)


class ExtraPrompt(QWidget):
    """A further prompt with its own weight, and a button to remove it."""

    changed = Signal()
    removeRequested = Signal(object)

    def __init__(self, name: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.edit = QLineEdit()
        self.edit.setPlaceholderText("Another prompt to mix in")
        self.weight = MixSlider(0.5, "How much of this prompt to mix in")
        remove = QPushButton("×")
        remove.setFixedWidth(28)
        remove.setToolTip("Remove this prompt")
        top = QHBoxLayout()
        top.addWidget(self.edit, 1)
        top.addWidget(remove)
        form = _form(self)
        form.setContentsMargins(0, 4, 0, 0)
        form.addRow(f"Prompt {name}", top)
        form.addRow("Weight", self.weight)
        self.edit.textChanged.connect(self.changed)
        self.weight.changed.connect(self.changed)
        remove.clicked.connect(lambda: self.removeRequested.emit(self))


class BlendPanel(QWidget):
    """Prompt A ↔ B (and more) mix, seed A ↔ B noise mix, live rendering and strips."""

    requestChanged = Signal(object)  # GenerationRequest, debounced
    frameChosen = Signal(QImage)  # a filmstrip frame the artist clicked

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._base = GenerationRequest("")
        self._base_provider: Callable[[], GenerationRequest] | None = None
        self._extras: list[ExtraPrompt] = []
        self._engine: Engine | None = None
        self.live: LiveRenderer | None = None
        self._strip_jobs: dict[int, int] = {}  # job id -> frame index
        self._frames: list[Image | None] = []
        self._thumbs: dict[int, QImage] = {}  # frame index -> full-size image, to show on click
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit_request)
        self._build()
        self._connect()

    # ---- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.prompt_a = QLineEdit()
        self.prompt_a.setPlaceholderText("Prompt A (from the Prompt panel)")
        self.prompt_b = QLineEdit()
        self.prompt_b.setPlaceholderText("Prompt B: where the mix slider leads")
        self.mix = MixSlider(0.0, "0 = only prompt A, 1 = only prompt B")
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(BLEND_MODES)
        self.mode_combo.setToolTip("slerp keeps the embeddings' strength in between; lerp is a straight line")
        self.add_prompt_button = QPushButton("+ Add prompt")
        self.extras_box = QVBoxLayout()
        self.extras_box.setContentsMargins(0, 0, 0, 0)

        seed_validator = QRegularExpressionValidator(QRegularExpression(r"\d{0,10}"))
        self.seed_a = QLineEdit("0")
        self.seed_b = QLineEdit("1")
        for edit, name in ((self.seed_a, "A"), (self.seed_b, "B")):
            edit.setValidator(seed_validator)
            edit.setToolTip(f"Seed {name}: 0 to {MAX_SEED}")
        self.seed_mix = MixSlider(0.0, "0 = seed A's noise, 1 = seed B's noise")
        seeds = QHBoxLayout()
        seeds.addWidget(QLabel("A"))
        seeds.addWidget(self.seed_a, 1)
        seeds.addWidget(QLabel("B"))
        seeds.addWidget(self.seed_b, 1)

        self.live_check = QCheckBox("Render live while sliding")
        self.live_check.setChecked(True)

        self.frames_spin = QSpinBox()
        self.frames_spin.setRange(MIN_FRAMES, MAX_FRAMES)
        self.frames_spin.setValue(8)
        self.walk_seeds_check = QCheckBox("Walk seed A → B too")
        self.render_strip_button = QPushButton("Render strip")
        self.filmstrip = QListWidget()
        self.filmstrip.setViewMode(QListView.ViewMode.IconMode)
        self.filmstrip.setFlow(QListView.Flow.LeftToRight)
        self.filmstrip.setWrapping(False)
        self.filmstrip.setMovement(QListView.Movement.Static)
        self.filmstrip.setIconSize(QSize(THUMB, THUMB))
        self.filmstrip.setGridSize(QSize(THUMB + 10, THUMB + 24))
        self.filmstrip.setUniformItemSizes(True)
        self.filmstrip.setFixedHeight(THUMB + 44)
        self.filmstrip.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAsNeeded)
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Animated WebP or GIF, or the frames side by side in one PNG")
        self.export_frames_button = QPushButton("Export frames…")
        self.export_frames_button.setToolTip("Numbered PNGs into a folder")
        for button in (self.export_button, self.export_frames_button):
            button.setEnabled(False)
        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.error_label = QLabel()
        self.error_label.setWordWrap(True)
        self.error_label.setStyleSheet("color: #ff8a80;")
        self.error_label.hide()

        form = _form()
        form.addRow("Prompt A", self.prompt_a)
        form.addRow("Prompt B", self.prompt_b)
        form.addRow("A ↔ B", self.mix)
        form.addRow("Mode", self.mode_combo)
        prompts = QVBoxLayout()
        prompts.addLayout(form)
        prompts.addLayout(self.extras_box)
        prompts.addWidget(self.add_prompt_button, 0, Qt.AlignmentFlag.AlignLeft)

        seed_form = _form()
        seed_form.addRow("Seeds", seeds)
        seed_form.addRow("Noise A ↔ B", self.seed_mix)

        strip_row = QHBoxLayout()
        strip_row.addWidget(QLabel("Frames"))
        strip_row.addWidget(self.frames_spin)
        strip_row.addWidget(self.walk_seeds_check, 1)
        export_row = QHBoxLayout()
        export_row.addWidget(self.render_strip_button, 1)
        export_row.addWidget(self.export_button)
        export_row.addWidget(self.export_frames_button)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(6)
        layout.addWidget(_heading("Prompt mix"))
        layout.addLayout(prompts)
        layout.addSpacing(6)
        layout.addWidget(_heading("Noise mix"))
        layout.addLayout(seed_form)
        layout.addWidget(self.live_check)
        layout.addSpacing(6)
        layout.addWidget(_heading("Strip: prompt A → prompt B"))
        layout.addLayout(strip_row)
        layout.addLayout(export_row)
        layout.addWidget(self.filmstrip)
        layout.addWidget(self.status_label)
        layout.addWidget(self.error_label)
        layout.addStretch(1)

    def _connect(self) -> None:
        for signal in (
            self.mix.changed,
            self.seed_mix.changed,
            self.prompt_a.textChanged,
            self.prompt_b.textChanged,
            self.seed_a.textChanged,
            self.seed_b.textChanged,
            self.mode_combo.currentIndexChanged,
        ):
            signal.connect(self._schedule)
        self.add_prompt_button.clicked.connect(self.add_prompt)
        self.render_strip_button.clicked.connect(self.render_strip)
        self.export_button.clicked.connect(self._export_dialog)
        self.export_frames_button.clicked.connect(self._export_frames_dialog)
        self.filmstrip.itemClicked.connect(self._on_frame_clicked)

    # ---- the host's side -----------------------------------------------------------------------
    def set_base_request(self, request: GenerationRequest) -> None:
        """What the sliders vary: everything but the prompts and seeds comes from here.

        Prompt A and seed A follow the base until the artist edits them here."""
        old = self._base
        self._base = request
        for edit, before, after in (
            (self.prompt_a, old.prompt, request.prompt),
            (self.seed_a, str(old.seed), str(request.seed)),
        ):
            if edit.text() in ("", before) and edit.text() != after:
                edit.blockSignals(True)
                edit.setText(after)
                edit.blockSignals(False)

    def set_base_provider(self, provider: Callable[[], GenerationRequest]) -> None:
        """A function giving the current base request (e.g. the prompt panel's), asked before
        every request this panel builds; a RequestError from it keeps the last good base."""
        self._base_provider = provider

    def attach(self, engine: Engine) -> None:
        """Render through `engine` (a JobQueue or an EngineBridge). If it has the bridge's
        signals, strip frames are collected from them."""
        self._engine = engine
        self.live = LiveRenderer(engine)
        self.requestChanged.connect(self._render_live)
        for name, slot in (("finished", self._on_finished), ("failed", self._on_failed),
                           ("cancelled", self._on_cancelled)):
            signal = getattr(engine, name, None)
            if signal is not None and hasattr(signal, "connect"):
                signal.connect(slot)

    # ---- requests ------------------------------------------------------------------------------
    def add_prompt(self) -> ExtraPrompt:
        extra = ExtraPrompt(chr(ord("C") + len(self._extras)) if len(self._extras) < 24 else "+")
        extra.changed.connect(self._schedule)
        extra.removeRequested.connect(self._remove_prompt)
        self._extras.append(extra)
        self.extras_box.addWidget(extra)
        self._schedule()
        return extra

    def _remove_prompt(self, extra: ExtraPrompt) -> None:
        self._extras.remove(extra)
        extra.deleteLater()
        self._schedule()

    def build_request(self) -> GenerationRequest:
        """The base request with this panel's prompts, weights and seeds; RequestError if invalid."""
        if self._base_provider is not None:
            try:
                self.set_base_request(self._base_provider())
            except RequestError:
                pass  # the prompt panel shows its own error; keep the last good base
        prompts, weights = [], []
        if self.prompt_b.text().strip():
            prompts.append(self.prompt_b.text().strip())
            weights.append(self.mix.value())
        for extra in self._extras:
            if extra.edit.text().strip():
                prompts.append(extra.edit.text().strip())
                weights.append(extra.weight.value())
        seed_mix = self.seed_mix.value()
        request = self._base.replace(
            prompt=self.prompt_a.text().strip() or self._base.prompt,
            blend_prompts=tuple(prompts),
            blend_weights=tuple(weights),
            blend_mode=self.mode_combo.currentText(),
            seed=_seed(self.seed_a, "seed A"),
            seed_b=_seed(self.seed_b, "seed B") if seed_mix > 0 else None,
            seed_mix=seed_mix,
        )
        if not request.prompt:
            raise RequestError("type prompt A (or a prompt in the Prompt panel) first")
        return request.validate()

    def _schedule(self) -> None:
        self._debounce.start()  # restarts: only the position the hand rests on is rendered

    def _emit_request(self) -> None:
        try:
            request = self.build_request()
        except RequestError as exc:
            self.show_error(str(exc))
            return
        self.clear_error()
        self.requestChanged.emit(request)

    def _render_live(self, request: GenerationRequest) -> None:
        if self.live is None or not self.live_check.isChecked():
            return
        try:
            self.live.submit(request)
        except Exception as exc:  # RequestError, or an engine that cannot start: say it, stay usable
            self.show_error(str(exc))

    # ---- strips --------------------------------------------------------------------------------
    def render_strip(self) -> list[int]:
        """Queue the strip's frames; they fill the filmstrip as they finish."""
        if self._engine is None:
            self.show_error("the engine is not ready yet")
            return []
        try:
            base = self.build_request()
            seed_b = _seed(self.seed_b, "seed B") if self.walk_seeds_check.isChecked() else None
            requests = strip_requests(
                base.replace(blend_prompts=(), blend_weights=(), seed_b=None, seed_mix=0.0),
                self.prompt_b.text().strip(),
                self.frames_spin.value(),
                seed_b,
            )
        except RequestError as exc:
            self.show_error(str(exc))
            return []
        self.clear_error()
        for job_id in self._strip_jobs:  # a new strip replaces one still rendering
            self._engine.cancel(job_id)
        self._strip_jobs.clear()
        self._frames = [None] * len(requests)
        self._thumbs.clear()
        self.filmstrip.clear()
        for index in range(len(requests)):
            item = QListWidgetItem(_placeholder(), f"{index + 1}")
            item.setTextAlignment(Qt.AlignmentFlag.AlignHCenter)
            self.filmstrip.addItem(item)
        ids = []
        try:
            for index, request in enumerate(requests):
                job_id = self._engine.submit(request)
                self._strip_jobs[job_id] = index
                ids.append(job_id)
        except Exception as exc:
            self.show_error(str(exc))
        self._update_strip_status()
        return ids

    def frames(self) -> list[Image]:
        """The finished frames, in order (only when every frame is done)."""
        return [f for f in self._frames if f is not None] if all(self._frames) else []

    def _on_finished(self, job_id: int, image: QImage, event: object) -> None:
        index = self._strip_jobs.pop(job_id, None)
        if index is None:
            return
        self._frames[index] = getattr(event, "image", None)
        self._thumbs[index] = image
        thumb = QPixmap.fromImage(image).scaled(
            THUMB, THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
        )
        self.filmstrip.item(index).setIcon(QIcon(thumb))
        self._update_strip_status()

    def _on_frame_clicked(self, item: QListWidgetItem) -> None:
        image = self._thumbs.get(self.filmstrip.row(item))
        if image is not None:
            self.frameChosen.emit(image)

    def _on_failed(self, job_id: int, message: str, _detail: str = "") -> None:
        index = self._strip_jobs.pop(job_id, None)
        if index is not None:
            self.filmstrip.item(index).setText(f"{index + 1} failed")
            self.show_error(f"frame {index + 1} failed: {message}")
            self._update_strip_status()

    def _on_cancelled(self, job_id: int, _last_preview: object = None) -> None:
        index = self._strip_jobs.pop(job_id, None)
        if index is not None:
            self.filmstrip.item(index).setText(f"{index + 1} cancelled")
            self._update_strip_status()

    def _update_strip_status(self) -> None:
        done = sum(frame is not None for frame in self._frames)
        total = len(self._frames)
        complete = total > 0 and done == total
        self.status_label.setText(f"Strip: {done}/{total} frames" + (" — ready to export" if complete else ""))
        for button in (self.export_button, self.export_frames_button):
            button.setEnabled(complete)

    # ---- export --------------------------------------------------------------------------------
    def export_to(self, target: str | Path) -> list[Path]:
        """Write the strip (format from the suffix, or numbered PNGs into a folder); errors show inline."""
        try:
            paths = export_strip(self.frames(), target)
        except UserError as exc:
            self.show_error(str(exc))
            return []
        self.clear_error()
        self.status_label.setText(f"Exported {len(paths)} file{'s' if len(paths) != 1 else ''} to {target}")
        return paths

    def _export_dialog(self) -> None:
        filters = {
            "Animated WebP (*.webp)": ".webp",
            "Animated GIF (*.gif)": ".gif",
            "Frames side by side (*.png)": ".png",
        }
        path, chosen = QFileDialog.getSaveFileName(
            self, "Export strip", str(Path.home() / "strip.webp"), ";;".join(filters)
        )
        if path:
            if not Path(path).suffix:
                path += filters.get(chosen, ".webp")
            self.export_to(path)

    def _export_frames_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Export frames into a folder", str(Path.home()))
        if folder:
            self.export_to(folder)

    # ---- messages ------------------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self.error_label.setText(message)
        self.error_label.show()

    def clear_error(self) -> None:
        self.error_label.clear()
        self.error_label.hide()

    def error_text(self) -> str:
        return "" if self.error_label.isHidden() else self.error_label.text()


def _seed(edit: QLineEdit, name: str) -> int:
    text = edit.text().strip()
    if not text:
        raise RequestError(f"enter {name}")
    return int(text)


def _form(parent: QWidget | None = None) -> QFormLayout:
    form = QFormLayout(parent)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return form


def _placeholder() -> QIcon:
    """A dark square where a frame will appear, so every filmstrip cell has the same size."""
    pixmap = QPixmap(THUMB, THUMB)
    pixmap.fill(QColor("#2b2d31"))
    return QIcon(pixmap)


def _heading(text: str) -> QLabel:
    label = QLabel(text)
    label.setObjectName("sectionHeading")
    return label


def install_blend_panel(window) -> BlendPanel:  # noqa: ANN001 - studio.ui.main_window.MainWindow
    """Mount the panel as a dock tabbed with the prompt panel, fed by the prompt panel's request
    and rendering through the window's engine bridge."""
    panel = BlendPanel()
    prompt_panel = window.prompt_panel
    provider = getattr(prompt_panel, "current_request", None)
    if provider is not None:
        panel.set_base_provider(provider)
    panel.attach(window.bridge)
    panel.frameChosen.connect(window.canvas.set_image)
    scroll = QScrollArea()
    scroll.setWidgetResizable(True)
    scroll.setWidget(panel)
    dock = QDockWidget("Blend", window)
    dock.setObjectName("blendDock")
    dock.setWidget(scroll)
    window.add_panel(dock, Qt.DockWidgetArea.LeftDockWidgetArea, tabify_with=window.prompt_dock)
    window.blend_panel = panel
    return panel
