"""Undo for the edit canvas: every mask change is a patch (the area's values before and after); an
outpaint extension and an edit's result swap picture and mask; all on one QUndoStack.

A stroke stores only its bounding box, so a long session of small strokes stays small in memory.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
from PySide6.QtGui import QImage, QUndoCommand, QUndoStack

from studio.ui.mask_layer import MaskLayer


class MaskPatch(QUndoCommand):
    """Replace the values in one rectangle of the mask; undo puts the old ones back."""

    def __init__(
        self,
        layer: MaskLayer,
        top_left: tuple[int, int],
        before: np.ndarray,
        after: np.ndarray,
        text: str,
        applied: bool = False,
    ) -> None:
        super().__init__(text)
        self.layer = layer
        self.top_left = top_left
        self.before = before
        self.after = after
        self._skip_first_redo = applied  # a stroke is already on screen when it is pushed

    def redo(self) -> None:
        if self._skip_first_redo:
            self._skip_first_redo = False
            return
        self.layer.write(self.top_left, self.after)

    def undo(self) -> None:
        self.layer.write(self.top_left, self.before)


class SourceChange(QUndoCommand):
    """Swap the edited picture together with its whole mask: an outpaint extension (both sizes
    change) or an edit's result (the picture changes, the mask is kept but hidden).

    `apply(image, mask, mask_shown)` installs a state without touching the undo history; undo
    re-installs the one from before, so an extension or a filled result is taken back like a
    brush stroke, with the mask overlay shown as it was.
    """

    def __init__(
        self,
        apply: Callable[[QImage, np.ndarray, bool], None],
        before: tuple[QImage, np.ndarray],
        after: tuple[QImage, np.ndarray],
        text: str,
        mask_shown: tuple[bool, bool] = (True, True),
    ) -> None:
        super().__init__(text)
        self.apply = apply
        self.before = (before[0].copy(), before[1].copy())
        self.after = (after[0].copy(), after[1].copy())
        self.mask_shown = mask_shown

    def redo(self) -> None:
        self.apply(*self.after, self.mask_shown[1])

    def undo(self) -> None:
        self.apply(*self.before, self.mask_shown[0])


def holds_source_change(stack: QUndoStack) -> bool:
    return any(isinstance(stack.command(i), SourceChange) for i in range(stack.count()))


def push_whole(stack: QUndoStack, layer: MaskLayer, new_values: np.ndarray, text: str) -> bool:
    """Replace the whole mask through the stack (clear, fill, invert); False if nothing changes."""
    before = layer.array.copy()
    if before.shape != new_values.shape or np.array_equal(before, new_values):
        return False
    stack.push(MaskPatch(layer, (0, 0), before, new_values.astype(np.uint8, copy=True), text))
    return True


def clear(stack: QUndoStack, layer: MaskLayer) -> bool:
    return push_whole(stack, layer, np.zeros_like(layer.array), "clear mask")


def fill(stack: QUndoStack, layer: MaskLayer) -> bool:
    return push_whole(stack, layer, np.full_like(layer.array, 255), "fill mask")


def invert(stack: QUndoStack, layer: MaskLayer) -> bool:
    return push_whole(stack, layer, 255 - layer.array, "invert mask")


def replace(stack: QUndoStack, layer: MaskLayer, values: np.ndarray, text: str = "set mask") -> bool:
    return push_whole(stack, layer, values, text)
