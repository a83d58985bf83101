"""The Edit panel: source image, mask brush settings, mask commands, strength, outpaint, and the
Inpaint / Variation buttons. Widgets only; `mask_editor.MaskEditor` does the work.
"""

from __future__ import annotations

from PySide6.QtCore import Qt, Signal
from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QFormLayout,
    QGridLayout,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QRadioButton,
    QSlider,
    QSpinBox,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.request import MAX_SIZE
from studio.core.session import EditSettings
from studio.ui.mask_brush import MAX_SIZE as MAX_BRUSH
from studio.ui.mask_brush import MIN_SIZE as MIN_BRUSH
from studio.ui.theme import heading

SIDES = ("left", "top", "right", "bottom")
SIDE_ARROWS = {"left": "◀", "top": "▲", "right": "▶", "bottom": "▼"}


class EditPanel(QWidget):
    """Controls for editing the picture on the canvas. Emits requests; owns no state beyond widgets."""

    openRequested = Signal()
    pasteRequested = Signal()
    inpaintRequested = Signal()
    variationRequested = Signal()
    outpaintRequested = Signal(str)  # "left", "top", "right" or "bottom"
    clearRequested = Signal()
    fillRequested = Signal()
    invertRequested = Signal()
    settingsChanged = Signal()  # strength, feather, masked-only, padding or outpaint amount edited

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 8, 10, 8)
        layout.setSpacing(8)

        source_row = QHBoxLayout()
        self.open_button = QPushButton("Open…")
        self.open_button.setToolTip("Open a picture to edit (you can also drop or paste one on the canvas)")
        self.paste_button = QPushButton("Paste")
        self.paste_button.setToolTip("Edit the picture on the clipboard (Ctrl+V)")
        source_row.addWidget(self.open_button)
        source_row.addWidget(self.paste_button)
        layout.addLayout(source_row)

        layout.addWidget(heading("Mask"))
        self.paint_button = QToolButton()
        self.paint_button.setText("Paint mask")
        self.paint_button.setCheckable(True)
        self.paint_button.setToolTip("Paint the area to regenerate (B); Space+drag or middle-drag pans")
        self.brush_radio = QRadioButton("Brush")
        self.erase_radio = QRadioButton("Erase")
        self.brush_radio.setChecked(True)
        self.brush_radio.setToolTip("Add to the mask (B)")
        self.erase_radio.setToolTip("Remove from the mask (E)")
        group = QButtonGroup(self)
        group.addButton(self.brush_radio)
        group.addButton(self.erase_radio)
        mode_row = QHBoxLayout()
        mode_row.addWidget(self.paint_button)
        mode_row.addWidget(self.brush_radio)
        mode_row.addWidget(self.erase_radio)
        mode_row.addStretch(1)
        layout.addLayout(mode_row)

        form = QFormLayout()
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        self.size_slider, self.size_spin = _slider_with_spin(MIN_BRUSH, MAX_BRUSH, 48, " px")
        self.size_slider.setToolTip("Brush size ([ and ] on the canvas)")
        form.addRow("Size", _row(self.size_slider, self.size_spin))
        self.hardness_slider, self.hardness_spin = _slider_with_spin(0, 100, 70, " %")
        self.hardness_slider.setToolTip("0%: soft edge, 100%: hard edge")
        form.addRow("Hardness", _row(self.hardness_slider, self.hardness_spin))
        layout.addLayout(form)

        commands = QGridLayout()
        self.undo_button = QPushButton("Undo")
        self.redo_button = QPushButton("Redo")
        self.clear_button = QPushButton("Clear")
        self.fill_button = QPushButton("Fill")
        self.invert_button = QPushButton("Invert")
        self.show_mask_check = QCheckBox("Show mask")
        self.show_mask_check.setChecked(True)
        self.show_mask_check.setToolTip("Show or hide the mask overlay (M)")
        for i, widget in enumerate(
            (self.undo_button, self.redo_button, self.show_mask_check,
             self.clear_button, self.fill_button, self.invert_button)
        ):
            commands.addWidget(widget, i // 3, i % 3)
        layout.addLayout(commands)

        settings = QFormLayout()
        self.feather_spin = QSpinBox()
        self.feather_spin.setRange(0, 256)
        self.feather_spin.setValue(8)
        self.feather_spin.setSuffix(" px")
        self.feather_spin.setToolTip("Width of the soft blend at the mask edge; outside it nothing changes")
        settings.addRow("Feather", self.feather_spin)
        self.masked_only_check = QCheckBox("Only the masked area, at full detail")
        self.masked_only_check.setToolTip(
            "Regenerate just a box around the mask at the model's working size, then paste it back"
        )
        settings.addRow(self.masked_only_check)
        self.padding_spin = QSpinBox()
        self.padding_spin.setRange(0, 512)
        self.padding_spin.setValue(32)
        self.padding_spin.setSuffix(" px")
        self.padding_spin.setToolTip("Context around the mask the model sees in masked-only mode")
        settings.addRow("Padding", self.padding_spin)
        layout.addLayout(settings)

        layout.addWidget(heading("Strength"))
        self.strength_slider, self.strength_spin = _slider_with_spin(0, 100, 75, " %")
        self.strength_slider.setToolTip("0%: keep the picture, 100%: repaint from scratch")
        layout.addWidget(_row(self.strength_slider, self.strength_spin))

        actions = QHBoxLayout()
        self.inpaint_button = QPushButton("Inpaint")
        self.inpaint_button.setToolTip("Regenerate the masked area with the prompt")
        self.inpaint_button.setDefault(True)
        self.variation_button = QPushButton("Variation")
        self.variation_button.setToolTip("Re-imagine the whole picture at this strength")
        actions.addWidget(self.inpaint_button)
        actions.addWidget(self.variation_button)
        layout.addLayout(actions)

        layout.addWidget(heading("Outpaint"))
        out_row = QHBoxLayout()
        self.outpaint_spin = QSpinBox()
        self.outpaint_spin.setRange(8, MAX_SIZE)
        self.outpaint_spin.setSingleStep(8)
        self.outpaint_spin.setValue(128)
        self.outpaint_spin.setSuffix(" px")
        self.outpaint_spin.setToolTip("How far to extend the canvas")
        out_row.addWidget(self.outpaint_spin)
        self.outpaint_buttons: dict[str, QToolButton] = {}
        for side in SIDES:
            button = QToolButton()
            button.setText(SIDE_ARROWS[side])
            button.setToolTip(f"Extend the canvas on the {side} and mask the new area")
            button.clicked.connect(lambda _=False, s=side: self.outpaintRequested.emit(s))
            self.outpaint_buttons[side] = button
            out_row.addWidget(button)
        out_row.addStretch(1)
        layout.addLayout(out_row)

        self.status_label = QLabel()
        self.status_label.setWordWrap(True)
        self.status_label.setObjectName("editStatus")
        layout.addWidget(self.status_label)
        layout.addStretch(1)

        self.open_button.clicked.connect(self.openRequested)
        self.paste_button.clicked.connect(self.pasteRequested)
        self.inpaint_button.clicked.connect(self.inpaintRequested)
        self.variation_button.clicked.connect(self.variationRequested)
        self.clear_button.clicked.connect(self.clearRequested)
        self.fill_button.clicked.connect(self.fillRequested)
        self.invert_button.clicked.connect(self.invertRequested)
        for signal in (self.strength_spin.valueChanged, self.feather_spin.valueChanged,
                       self.masked_only_check.toggled, self.padding_spin.valueChanged,
                       self.outpaint_spin.valueChanged):
            signal.connect(self.settingsChanged)

    # ---- values ----------------------------------------------------------------------------------
    def strength(self) -> float:
        return self.strength_spin.value() / 100

    def show_settings(self, settings: EditSettings) -> None:
        """Show the job settings of `settings` (the panel is their view)."""
        self.strength_spin.setValue(round(settings.strength * 100))
        self.feather_spin.setValue(settings.mask_feather)
        self.masked_only_check.setChecked(settings.masked_only)
        self.padding_spin.setValue(settings.masked_padding)
        self.outpaint_spin.setValue(settings.outpaint_amount)

    def store_settings(self, settings: EditSettings) -> None:
        """Write the job settings shown into `settings`."""
        settings.strength = self.strength()
        settings.mask_feather = self.feather_spin.value()
        settings.masked_only = self.masked_only_check.isChecked()
        settings.masked_padding = self.padding_spin.value()
        settings.outpaint_amount = self.outpaint_spin.value()

    def set_status(self, text: str) -> None:
        self.status_label.setText(text)


def _slider_with_spin(low: int, high: int, value: int, suffix: str) -> tuple[QSlider, QSpinBox]:
    slider = QSlider(Qt.Orientation.Horizontal)
    slider.setRange(low, high)
    spin = QSpinBox()
    spin.setRange(low, high)
    spin.setSuffix(suffix)
    slider.valueChanged.connect(spin.setValue)
    spin.valueChanged.connect(slider.setValue)
    spin.setValue(value)
    return slider, spin


def _row(*widgets: QWidget) -> QWidget:
    box = QWidget()
    layout = QHBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    for i, widget in enumerate(widgets):
        layout.addWidget(widget, 1 if i == 0 else 0)
    return box

