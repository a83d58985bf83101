"""The Qt binding must not drop references it does not own. PySide6 6.12.0 on Python 3.11 took
one reference from None on every call of a method returning nothing and one from True on every
signal emit; after some thousands of brush dabs the window aborted ("deallocating None")."""

from __future__ import annotations

import sys

import numpy as np
import pytest
from PySide6.QtCore import QObject, QRect, Signal

from studio.ui.mask_layer import MaskLayer

pytestmark = pytest.mark.usefixtures("qapp")
CALLS = 2000


class _Emitter(QObject):
    fired = Signal(int)


def _drift(singleton: object, work) -> int:  # noqa: ANN001
    before = sys.getrefcount(singleton)
    for _ in range(CALLS):
        work()
    return sys.getrefcount(singleton) - before


def test_void_calls_keep_none_alive():
    layer = MaskLayer()
    layer.resize(64, 64)
    dab = np.full((4, 4), 255, np.uint8)
    # A brush dab is a write (array copy, update(), a signal): what a long painting session repeats.
    assert abs(_drift(None, lambda: layer.write((8, 8), dab))) < CALLS // 10
    rect = QRect()
    assert abs(_drift(None, lambda: rect.setWidth(3))) < CALLS // 10


def test_signal_emits_keep_true_alive():
    emitter = _Emitter()
    assert abs(_drift(True, lambda: emitter.fired.emit(1))) < CALLS // 10
