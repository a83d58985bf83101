"""Building blocks of the Blend panel: the live-render policy, linked 0..1 sliders, extra prompts."""

from __future__ import annotations

from typing import TYPE_CHECKING, Protocol

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLineEdit,
    QPushButton,
    QSlider,
    QWidget,
)

from studio.core.request import GenerationRequest, RequestError

if TYPE_CHECKING:
    from studio.engine.jobs import JobInfo

SLIDER_STEPS = 1000


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
        form = form_layout(self)
        form.setContentsMargins(0, 4, 0, 0)
        form.addRow(f"Prompt {name}", top)
        form.addRow("Weight", self.weight)
        self.edit.textChanged.connect(self.changed)
        self.weight.changed.connect(self.changed)
        remove.clicked.connect(lambda: self.removeRequested.emit(self))


def seed_from(edit: QLineEdit, name: str) -> int:
    text = edit.text().strip()
    if not text:
        raise RequestError(f"enter {name}")
    return int(text)


def form_layout(parent: QWidget | None = None) -> QFormLayout:
    form = QFormLayout(parent)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    return form

