"""A calm dark theme (Fusion + palette + a few rules), so the image is the brightest thing on screen."""

from __future__ import annotations

from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QApplication, QLabel

_STYLE = """
QDockWidget::title { padding: 6px 8px; background: #2b2d31; }
QLabel#sectionHeading { color: #b8bcc4; font-weight: 600; }
QLabel#hint { color: #80858f; padding: 12px; }
QLabel#dropHint { color: #80858f; }
QFrame#banner { background: #5c2a2a; border-bottom: 1px solid #8c3b3b; }
QFrame#banner QLabel { color: #ffe3e0; }
QPushButton#generateButton { background: #3d6fd6; color: white; font-weight: 600;
                             border: none; border-radius: 4px; }
QPushButton#generateButton:hover { background: #4a7ce6; }
QPushButton#generateButton:pressed { background: #335fba; }
QProgressBar { border: 1px solid #3a3d43; border-radius: 3px; background: #24262a; }
QProgressBar::chunk { background: #3d6fd6; border-radius: 2px; }
QToolBar { spacing: 4px; padding: 2px 6px; border: none; }
QStatusBar QLabel { padding: 0 6px; }
"""


def apply_theme(app: QApplication) -> None:
    app.setStyle("Fusion")
    palette = QPalette()
    colors = {
        QPalette.ColorRole.Window: "#1f2023",
        QPalette.ColorRole.WindowText: "#e4e6eb",
        QPalette.ColorRole.Base: "#17181a",
        QPalette.ColorRole.AlternateBase: "#222327",
        QPalette.ColorRole.ToolTipBase: "#2b2d31",
        QPalette.ColorRole.ToolTipText: "#e4e6eb",
        QPalette.ColorRole.Text: "#e4e6eb",
        QPalette.ColorRole.PlaceholderText: "#7d828c",
        QPalette.ColorRole.Button: "#2b2d31",
        QPalette.ColorRole.ButtonText: "#e4e6eb",
        QPalette.ColorRole.Highlight: "#3d6fd6",
        QPalette.ColorRole.HighlightedText: "#ffffff",
        QPalette.ColorRole.Link: "#7aa2f7",
    }
    for role, color in colors.items():
        palette.setColor(role, QColor(color))
    for role in (
        QPalette.ColorRole.WindowText,
        QPalette.ColorRole.Text,
        QPalette.ColorRole.ButtonText,
    ):
        palette.setColor(QPalette.ColorGroup.Disabled, role, QColor("#6b6f78"))
    app.setPalette(palette)
    app.setStyleSheet(_STYLE)


def heading(text: str) -> QLabel:
    """A section heading inside a panel; its look comes from the theme's #sectionHeading rule."""
    label = QLabel(text)
    label.setObjectName("sectionHeading")
    return label


class InlineError(QLabel):
    """A one-line, red, word-wrapped error shown inside a panel; hidden while there is none."""

    def __init__(self) -> None:
        super().__init__()
        self.setObjectName("inlineError")
        self.setWordWrap(True)
        self.setStyleSheet("color: #ff8a80;")
        self.hide()

    def show_message(self, message: str) -> None:
        self.setText(message)
        self.show()

    def clear_message(self) -> None:
        self.clear()
        self.hide()

    def message(self) -> str:
        return "" if self.isHidden() else self.text()
