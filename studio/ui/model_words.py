"""The Models panel's words: what kind of model an entry is, where it comes from and how it is
stored, said the way an artist says it ("Stable Diffusion XL, Turbo", "size on disk"), never in
the library's internal codes; and the two-line row that shows a model's name over its summary.
"""

from __future__ import annotations

from PySide6.QtCore import QModelIndex, QRect, Qt
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QApplication, QStyle, QStyledItemDelegate, QStyleOptionViewItem

from studio.engine.models import ModelEntry

SUMMARY_ROLE = Qt.ItemDataRole.UserRole + 1  # the grey second line: type and size on disk

FAMILIES = {"sd1": "Stable Diffusion 1.x", "sd2": "Stable Diffusion 2.x", "sdxl": "Stable Diffusion XL"}
FEW_STEPS = {"turbo": "Turbo", "lightning": "Lightning", "lcm": "LCM", "hyper": "Hyper"}
KINDS = {
    "checkpoint": "one file",
    "diffusers": "a folder in the diffusers layout",
    "lora": "a LoRA: a small add-on that teaches a model a style or subject",
    "taesd": "a small preview decoder",
}
SOURCES = {
    "bundled": "comes with Studio",
    "library": "your models folder",
    "added": "added from where it is (not copied)",
    "hf-cache": "downloaded earlier (Hugging Face cache)",
}


def human_size(size: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


def family(entry: ModelEntry) -> str:
    """What kind of model, in words an artist knows: "Stable Diffusion XL", "Custom", "Unknown"."""
    if entry.own_text_width:
        return "Custom"  # SD's layout with a text encoder of its own (the bundled shapes model)
    return FAMILIES.get(entry.arch, "Unknown")


def type_text(entry: ModelEntry) -> str:
    """The model's type: the family plus what changes how it is used (inpainting, few steps)."""
    extras = [x for x in ("inpainting" if entry.inpaint else "", FEW_STEPS.get(entry.distilled, "")) if x]
    return ", ".join([family(entry), *extras])


def summary(entry: ModelEntry) -> str:
    """The line under a model's name: its type and size on disk, or that it can't be used."""
    if entry.error:
        return "can't be used: select it to see why"
    return f"{type_text(entry)} · {human_size(entry.size)}"


def lora_summary(entry: ModelEntry) -> str:
    """The line under a LoRA's name: the models it is made for."""
    made_for = FAMILIES.get(entry.arch)
    return f"for {made_for} models" if made_for else "for models Studio can't tell"


def facts(entry: ModelEntry) -> list[tuple[str, str]]:
    """What the details say about a model or LoRA, label and value, in plain words."""
    if entry.kind == "lora":
        said = [("What", KINDS["lora"]), ("Made for", FAMILIES.get(entry.arch, "a model type Studio can't tell"))]
    else:
        kind = FAMILIES.get(entry.arch, "a model type Studio can't tell")
        if entry.own_text_width:
            kind = (f"its own kind, built like {kind} but with its own text encoder "
                    "(LoRAs made for other models do not fit it)")
        said = [("Type", kind)]
        if entry.inpaint:
            said.append(("Made for", "inpainting (repainting a masked area)"))
        if entry.distilled:
            said.append(("Few steps", f"a {FEW_STEPS.get(entry.distilled, entry.distilled)} model: good "
                                       "pictures in a few steps; Studio sets the steps when you pick it"))
        said.append(("Stored as", KINDS.get(entry.kind, entry.kind)))
    said += [("Size on disk", human_size(entry.size)), ("From", SOURCES.get(entry.source, entry.source)),
              ("Where", entry.path)]
    if entry.prediction == "v_prediction":
        said.append(("Technical", "v-prediction"))
    return said


class TwoLineDelegate(QStyledItemDelegate):
    """Paints a model row: the name (a long one loses its middle), and its summary under it in grey."""

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        view = QStyleOptionViewItem(option)
        self.initStyleOption(view, index)
        name, view.text = view.text, ""
        style = option.widget.style() if option.widget is not None else QApplication.style()
        # Background, selection and any tick box as usual; then the two lines where the text goes.
        style.drawControl(QStyle.ControlElement.CE_ItemViewItem, view, painter, option.widget)
        if view.features & view.ViewItemFeature.HasCheckIndicator and view.checkState == Qt.CheckState.Unchecked:
            # The dark theme draws an empty tick box in the background's colour: outline it.
            tick = style.subElementRect(QStyle.SubElement.SE_ItemViewItemCheckIndicator, view, option.widget)
            painter.save()
            painter.setPen(option.palette.placeholderText().color())
            painter.drawRoundedRect(tick.adjusted(1, 1, -2, -2), 2, 2)
            painter.restore()
        text_rect = style.subElementRect(QStyle.SubElement.SE_ItemViewItemText, view, option.widget)
        box = QRect(text_rect.x() + 4, option.rect.y() + 4, text_rect.width() - 8, option.rect.height() - 8)
        metrics, palette = option.fontMetrics, option.palette
        selected = bool(option.state & QStyle.StateFlag.State_Selected)
        foreground = index.data(Qt.ItemDataRole.ForegroundRole)  # grey for a model that can't be used
        lines = (
            (name, Qt.TextElideMode.ElideMiddle, foreground.color() if foreground else palette.text().color()),
            (str(index.data(SUMMARY_ROLE) or ""), Qt.TextElideMode.ElideRight, palette.placeholderText().color()),
        )
        painter.save()
        for number, (text, elide, colour) in enumerate(lines):
            painter.setPen(palette.highlightedText().color() if selected else colour)
            line = QRect(box.x(), box.y() + number * metrics.height(), box.width(), metrics.height())
            painter.drawText(line, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                             metrics.elidedText(text, elide, box.width()))
        painter.restore()
