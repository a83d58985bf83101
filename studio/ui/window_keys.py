"""The window's own shortcuts win over the text fields' Emacs-style keys.

On Linux desktops Qt gives every text field Ctrl+D (delete the next character), Ctrl+E (end of
line) and Ctrl+K (delete to the end of the line). A field with the focus claims those keys before
any window shortcut sees them, so with the cursor in the prompt *Edit by Description* (Ctrl+D),
*Export* (Ctrl+E) and *Keep Live Frame* (Ctrl+K) did nothing, and Ctrl+K even cut the rest of the
line the artist was typing. The artist's focus is in a text field most of the time, so for the
window's own actions listed here the action wins; every other key stays with the field.
"""

from __future__ import annotations

from collections.abc import Iterable

from PySide6.QtCore import QEvent, QObject
from PySide6.QtGui import QAction, QKeyEvent, QKeySequence
from PySide6.QtWidgets import QApplication, QWidget


class WindowShortcutsFirst(QObject):
    """Installed on the application: a ShortcutOverride for one of `actions`' shortcuts, sent to
    a widget in `window`, is not offered to that widget, so the action's shortcut fires."""

    def __init__(self, window: QWidget, actions: Iterable[QAction]) -> None:
        super().__init__(window)
        self._window = window
        self._actions = [action for action in actions if action is not None]
        app = QApplication.instance()
        if app is not None:
            app.installEventFilter(self)

    def _claims(self, event: QKeyEvent) -> bool:
        pressed = QKeySequence(event.keyCombination())
        return any(action.isEnabled() and action.shortcut() == pressed for action in self._actions)

    def eventFilter(self, watched: QObject, event: QEvent) -> bool:  # noqa: N802 - Qt's name
        if (event.type() == QEvent.Type.ShortcutOverride and isinstance(event, QKeyEvent)
                and isinstance(watched, QWidget) and watched.window() is self._window):
            return self._claims(event)
        return False
