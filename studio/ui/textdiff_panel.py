"""The Text diff panel: edit a picture by changing its description, with a live amount slider.

The picture comes from the canvas or the gallery (`set_source`); the artist says what it shows and
what it should show. Moving the amount slider (0 = the picture back, 1 = the new description, up
to 3 exaggerates) emits a textdiff request once the hand rests for DEBOUNCE_MS, and a LiveRenderer
cancels the stale live job, as the Blend panel does. The engine keeps the picture's inversion, so
each move costs one sampling pass. The strip section is the Blend panel's (blend_strip), fed with
the edit's frames from amount 0 to the slider's amount. studio/ui/composition.py mounts and wires it.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtGui import QImage
from PySide6.QtWidgets import (
    QCheckBox,
    QDoubleSpinBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from studio.core.request import MAX_EDIT_AMOUNT, GenerationRequest, RequestError
from studio.engine.jobs import UserError
from studio.engine.modes.textdiff import edit_request, strip_amounts
from studio.ui.blend_strip import StripSection
from studio.ui.blend_widgets import Engine, LiveRenderer, form_layout
from studio.ui.live_session import LiveSession
from studio.ui.theme import InlineError, heading

DEBOUNCE_MS = 120
SLIDER_STEPS_PER_UNIT = 100


class TextDiffPanel(QWidget):
    """Source picture, its description, the new description, the amount slider, live renders and
    strips. `base` gives the request the edit runs with (model, steps, guidance, negative prompt:
    the Prompt panel's settings); live renders are frames of its `live_session`."""

    requestChanged = Signal(object)  # GenerationRequest, debounced

    def __init__(
        self,
        base: Callable[[], GenerationRequest] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self._base_provider = base
        self._source: str | None = None  # the picture, saved into STUDIO_HOME/inputs
        self.live: LiveRenderer | None = None
        # Live frames go to a scratch strip; the one the artist stops on (or keeps with Ctrl+K)
        # becomes a gallery record (studio/ui/live_session.py; the window registers it).
        self.live_session = LiveSession("textdiff", parent=self)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit_request)
        self._build()
        self._connect()

    # ---- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.source_label = QLabel("No picture yet: use the canvas's, or choose one in the gallery")
        self.source_label.setWordWrap(True)
        self.canvas_button = QPushButton("Use the canvas picture")
        self.source_text = QLineEdit()
        self.source_text.setPlaceholderText("What the picture shows (its prompt)")
        self.target_text = QLineEdit()
        self.target_text.setPlaceholderText("What it should show instead")
        self.slider = QSlider(Qt.Orientation.Horizontal)
        self.slider.setRange(0, int(MAX_EDIT_AMOUNT * SLIDER_STEPS_PER_UNIT))
        self.slider.setValue(SLIDER_STEPS_PER_UNIT)
        self.spin = QDoubleSpinBox()
        self.spin.setRange(0.0, MAX_EDIT_AMOUNT)
        self.spin.setDecimals(2)
        self.spin.setSingleStep(0.05)
        self.spin.setValue(1.0)
        self.spin.setFixedWidth(76)
        amount = QHBoxLayout()
        amount.addWidget(self.slider, 1)
        amount.addWidget(self.spin)
        self.slider.setToolTip("0 = the picture back, 1 = the new description, more exaggerates the change")
        self.live_check = QCheckBox("Render live while sliding")
        self.live_check.setChecked(True)
        self.render_button = QPushButton("Render edit")
        self.strip = StripSection()
        self.strip.walk_seeds_check.hide()  # an edit has no second seed
        self.error_label = InlineError()

        form = form_layout()
        form.addRow("Shows", self.source_text)
        form.addRow("Make it", self.target_text)
        form.addRow("Amount", amount)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(6)
        layout.addWidget(heading("Picture"))
        layout.addWidget(self.source_label)
        layout.addWidget(self.canvas_button, 0, Qt.AlignmentFlag.AlignLeft)
        layout.addWidget(heading("Edit by description"))
        layout.addLayout(form)
        row = QHBoxLayout()
        row.addWidget(self.live_check, 1)
        row.addWidget(self.render_button)
        layout.addLayout(row)
        layout.addSpacing(6)
        layout.addWidget(heading("Strip: amount 0 → the slider's"))
        layout.addWidget(self.strip)
        layout.addWidget(self.error_label)
        layout.addStretch(1)

    def _connect(self) -> None:
        self.slider.valueChanged.connect(lambda v: self._set_spin(v / SLIDER_STEPS_PER_UNIT))
        self.spin.valueChanged.connect(self._on_spin)
        self.target_text.textChanged.connect(self._schedule)
        self.source_text.textChanged.connect(self._schedule)
        self.render_button.clicked.connect(self._emit_now)
        self.strip.renderRequested.connect(self.render_strip)
        self.strip.problem.connect(lambda text: self.show_error(text) if text else self.clear_error())

    def _set_spin(self, value: float) -> None:
        if abs(self.spin.value() - value) > 1e-9:
            self.spin.setValue(value)

    def _on_spin(self, value: float) -> None:
        self.slider.blockSignals(True)
        self.slider.setValue(round(value * SLIDER_STEPS_PER_UNIT))
        self.slider.blockSignals(False)
        self._schedule()

    # ---- the host's side -----------------------------------------------------------------------
    def attach(self, engine: Engine) -> None:
        self.live = LiveRenderer(engine)
        self.requestChanged.connect(self._render_live)
        self.strip.attach(engine)

    def set_source(self, path: str | Path, description: str = "") -> bool:
        """Edit the picture at `path` (copied into STUDIO_HOME/inputs as the engine reads it);
        `description`, when given, fills "Shows". False (said in the panel) if it cannot be read."""
        from studio.engine import imageops

        try:
            picture = imageops.load_image(path)
            saved = imageops.save_input(picture, "source")
        except (UserError, OSError) as exc:
            self.show_error(str(exc))
            return False
        self._source = str(saved)
        self.source_label.setText(f"{Path(path).name}, {picture.width}×{picture.height}")
        if description:
            self.source_text.setText(description)
        self.clear_error()
        return True

    def set_source_image(self, image: QImage, description: str = "", name: str = "the canvas picture") -> bool:
        """Edit a picture shown on the canvas."""
        from studio.engine import imageops
        from studio.ui.mask_editor import qimage_to_pil

        if image.isNull():
            self.show_error("the canvas is empty: make or open a picture first")
            return False
        try:
            saved = imageops.save_input(qimage_to_pil(image), "source")
        except OSError as exc:
            self.show_error(f"cannot keep the picture to edit: {exc.strerror or exc}")
            return False
        ok = self.set_source(saved, description)
        if ok:
            self.source_label.setText(f"{name}, {image.width()}×{image.height()}")
        return ok

    def amount(self) -> float:
        return float(self.spin.value())

    # ---- requests ------------------------------------------------------------------------------
    def build_request(self, amount: float | None = None) -> GenerationRequest:
        """The edit at `amount` (default: the slider's); RequestError (one line) if it cannot run."""
        if self._source is None:
            raise RequestError("choose a picture to edit first (the canvas's, or one in the gallery)")
        base = self._base_provider() if self._base_provider is not None else GenerationRequest("")
        source = self.source_text.text().strip()
        if not source:
            raise RequestError('say what the picture shows in "Shows" (its prompt)')
        target = self.target_text.text().strip()
        if not target:
            raise RequestError('type the new description in "Make it"')
        base = base.replace(init_image=self._source)
        return edit_request(base, source, target, self.amount() if amount is None else amount)

    def _schedule(self) -> None:
        self.live_session.moved()  # a move postpones the automatic keep of the last frame
        if self.live_check.isChecked():
            self._debounce.start()  # restarts: only the position the hand rests on is rendered

    def _emit_now(self) -> None:
        self._debounce.stop()
        self._emit_request(force=True)

    def _emit_request(self, force: bool = False) -> None:
        try:
            request = self.build_request()
        except RequestError as exc:
            if force or self._source is not None:
                self.show_error(str(exc))
            return
        self.clear_error()
        self.requestChanged.emit(request)

    def _render_live(self, request: GenerationRequest) -> None:
        if self.live is None:
            return
        try:
            self.live_session.submitted(self.live.submit(request))
        except Exception as exc:  # RequestError, or an engine that cannot start: say it, stay usable
            self.show_error(str(exc))

    def render_strip(self) -> list[int]:
        """Queue a strip of the edit from amount 0 to the slider's amount."""
        try:
            first = self.build_request()
            requests = [first.replace(edit_amount=a).validate()
                        for a in strip_amounts(self.amount(), self.strip.frames_spin.value())]
        except RequestError as exc:
            self.show_error(str(exc))
            return []
        return self.strip.render_requests(requests)

    # ---- messages ------------------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self.error_label.show_message(message)

    def clear_error(self) -> None:
        self.error_label.clear_message()

    def error_text(self) -> str:
        return self.error_label.message()
