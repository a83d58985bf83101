"""The bar under the prompt that offers the model and LoRAs a dropped image was made with.

Importing an image's parameters fills the prompt and settings at once, but a change of model or
LoRAs is only shown here ("This image was made with model X  [Use it] [Keep current]") and applied
when the artist clicks Use it; the policy of what may be offered at all is
studio.core.import_policy. Non-modal: the artist can ignore it and keep working.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Signal
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QVBoxLayout, QWidget

from studio.core.import_policy import ModelOffer, VettedModels


class ImportOffer(QFrame):
    """Hidden until show_offer(); `useRequested` carries the ModelOffer when Use it is clicked."""

    useRequested = Signal(object)  # ModelOffer

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("importOffer")
        self.setStyleSheet("QFrame#importOffer { background: #2a3142; border: 1px solid #3d6fd6;"
                           " border-radius: 4px; }")
        self._offer: ModelOffer | None = None
        self.label = QLabel(wordWrap=True)
        self.use_button = QPushButton("Use it")
        self.keep_button = QPushButton("Keep current")
        # Text above, buttons below: the prompt dock is narrow and file names are long.
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        buttons.addWidget(self.use_button)
        buttons.addWidget(self.keep_button)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(8, 6, 6, 6)
        layout.setSpacing(4)
        layout.addWidget(self.label)
        layout.addLayout(buttons)
        self.use_button.clicked.connect(self._use)
        self.keep_button.clicked.connect(self.dismiss)
        self.hide()

    def show_offer(self, offer: ModelOffer | None, missing: tuple[str, ...] = ()) -> None:
        """Show `offer` and the models the image names that are not found (replacing what was on
        show); with neither, the bar hides."""
        self._offer = offer
        if offer is None and not missing:
            self.hide()
            return
        lines = [offer.text] if offer is not None else []
        lines += [f"{m[0].upper()}{m[1:]}, so it is not used." for m in missing]
        self.label.setText("\n".join(lines))
        self.use_button.setVisible(offer is not None)
        self.keep_button.setText("Keep current" if offer is not None else "OK")
        self.keep_button.setToolTip("Keep the model and LoRAs you have chosen")
        if offer is not None:
            files = ([offer.model or "the bundled model"] if offer.model is not None else []) + [
                path for path, _weight in offer.loras or ()]
            self.use_button.setToolTip("Switch to:\n" + "\n".join(files) if files else "Untick your LoRAs")
        self.show()

    def offer(self) -> ModelOffer | None:
        """The change on show, or None."""
        return self._offer if not self.isHidden() else None

    def dismiss(self) -> None:
        self._offer = None
        self.hide()

    def _use(self) -> None:
        offer = self._offer
        self.dismiss()
        if offer is not None:
            self.useRequested.emit(offer)


def import_message(path: Path, vetted: VettedModels, offer: ModelOffer | None,
                   sources_missing: tuple[str, ...] = ()) -> str:
    """The status-bar line after an import: what was read, what was not found, what is offered."""
    text = f"Parameters read from {path.name}"
    if vetted.missing:
        text += "; " + "; ".join(vetted.missing)
    if sources_missing:
        text += "; " + "; ".join(sources_missing)
    if offer is not None:
        text += "; its model or LoRAs are offered under the prompt"
    return text
