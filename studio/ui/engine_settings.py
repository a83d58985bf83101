"""Image ▸ Engine Settings…: how the engine runs on this machine (threads, device, precision,
memory savers, preview rate), saved to settings.json. The engine takes them from its next job:
the window restarts its worker process once the job running now has finished.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QLabel,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core.settings import DEVICES, DTYPES, EngineSettings, load_settings, save_settings
from studio.engine.cores import auto_threads, wanted_threads
from studio.ui.engine_choice import WINDOW_CORES

DEVICE_NAMES = {"auto": "Automatic (GPU if there is one)", "cuda": "NVIDIA GPU (CUDA)",
                "mps": "Apple GPU (Metal)", "cpu": "CPU"}
DTYPE_NAMES = {"auto": "Automatic (half on a GPU, full on the CPU)", "float32": "Full (float32)",
               "float16": "Half (float16)", "bfloat16": "Half (bfloat16)"}


class EngineSettingsDialog(QDialog):
    def __init__(self, settings: EngineSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Engine Settings")
        self._settings = settings
        form = QFormLayout()

        self.threads_spin = QSpinBox()
        self.threads_spin.setRange(0, 256)
        auto = auto_threads(leave=WINDOW_CORES)
        self.threads_spin.setSpecialValueText(f"Automatic ({auto} here: the cores but one for the window)")
        self.threads_spin.setValue(settings.threads)
        self.threads_spin.setToolTip("CPU threads for one picture. More than the machine's cores only adds "
                                     "contention; fewer leave room for other work.")
        form.addRow("CPU &threads:", self.threads_spin)

        self.device_combo = QComboBox()
        for key in DEVICES:
            self.device_combo.addItem(DEVICE_NAMES.get(key, key), key)
        self.device_combo.setCurrentIndex(max(0, self.device_combo.findData(settings.device)))
        form.addRow("&Device:", self.device_combo)

        self.dtype_combo = QComboBox()
        for key in DTYPES:
            self.dtype_combo.addItem(DTYPE_NAMES.get(key, key), key)
        self.dtype_combo.setCurrentIndex(max(0, self.dtype_combo.findData(settings.dtype)))
        form.addRow("&Precision:", self.dtype_combo)

        self.slicing_check = QCheckBox("Attention &slicing (less memory, a little slower)")
        self.slicing_check.setChecked(settings.attention_slicing)
        self.tiling_check = QCheckBox("VAE t&iling (large pictures in less memory)")
        self.tiling_check.setChecked(settings.vae_tiling)
        self.offload_check = QCheckBox("CPU &offload (for GPUs with little memory)")
        self.offload_check.setChecked(settings.cpu_offload)
        for check in (self.slicing_check, self.tiling_check, self.offload_check):
            form.addRow("", check)

        self.preview_spin = QSpinBox()
        self.preview_spin.setRange(1, 50)
        self.preview_spin.setPrefix("every ")
        self.preview_spin.setSuffix(" step(s)")
        self.preview_spin.setValue(settings.preview_every)
        form.addRow("P&reviews:", self.preview_spin)

        self.effective = QLabel()
        self.effective.setWordWrap(True)
        self.threads_spin.valueChanged.connect(self._show_effective)
        self._show_effective()

        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self.accept)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.effective)
        layout.addWidget(buttons)

    def chosen(self) -> EngineSettings:
        """The settings as the dialog shows them (the fields it does not show are kept)."""
        return dataclasses.replace(
            self._settings,
            threads=self.threads_spin.value(),
            device=self.device_combo.currentData(),
            dtype=self.dtype_combo.currentData(),
            attention_slicing=self.slicing_check.isChecked(),
            vae_tiling=self.tiling_check.isChecked(),
            cpu_offload=self.offload_check.isChecked(),
            preview_every=self.preview_spin.value(),
        ).validated()

    def _show_effective(self) -> None:
        # STUDIO_THREADS or OMP_NUM_THREADS may decide instead of the spin box: say which.
        chosen = dataclasses.replace(self._settings, threads=self.threads_spin.value())
        threads = wanted_threads(chosen, leave=WINDOW_CORES)  # as the window's worker counts
        self.effective.setText(f"The next picture uses {threads} CPU thread{'s' if threads != 1 else ''}.")


def edit_engine_settings(parent: QWidget, apply: Callable[[EngineSettings], None],
                         error: Callable[[str], None]) -> bool:
    """Show the dialog; on OK save settings.json and hand the new settings to `apply`. True if saved;
    a file that cannot be written is said through `error` in one line."""
    current = load_settings()
    dialog = EngineSettingsDialog(current, parent)
    if dialog.exec() != QDialog.DialogCode.Accepted:
        return False
    chosen = dialog.chosen()
    if chosen == current:
        return False
    try:
        save_settings(chosen)
    except OSError as exc:
        error(f"Could not save the engine settings: {exc.strerror or exc} ({exc.filename or 'settings.json'})")
        return False
    apply(chosen)
    return True
