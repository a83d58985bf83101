"""Image ▸ Engine Settings…: how the engine runs on this machine (threads, device, precision,
memory savers, preview rate), saved to settings.json. The engine takes them from its next job:
the window restarts its worker process once the job running now has finished. It also says where
grids and batches run: this computer, or a Ray cluster (single pictures always run here).
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QComboBox,
    QDialog,
    QDialogButtonBox,
    QFormLayout,
    QGroupBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QRadioButton,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core.settings import (
    DEVICES,
    DTYPES,
    MAX_RAY_ACTORS,
    EngineSettings,
    load_settings,
    ray_address_problem,
    save_settings,
)
from studio.engine.cores import auto_threads, wanted_threads
from studio.ui.engine_choice import WINDOW_CORES
from studio.ui.theme import InlineError

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

        grids = self._build_grids(settings)
        self.problem = InlineError()
        buttons = QDialogButtonBox(QDialogButtonBox.StandardButton.Ok | QDialogButtonBox.StandardButton.Cancel)
        buttons.accepted.connect(self._accept_if_valid)
        buttons.rejected.connect(self.reject)
        layout = QVBoxLayout(self)
        layout.addLayout(form)
        layout.addWidget(self.effective)
        layout.addWidget(grids)
        layout.addWidget(self.problem)
        layout.addWidget(buttons)

    def _build_grids(self, settings: EngineSettings) -> QGroupBox:
        box = QGroupBox("Grids and batches run on")
        self.local_radio = QRadioButton("&this computer")
        self.ray_radio = QRadioButton("a &Ray cluster")
        group = QButtonGroup(box)
        for radio in (self.local_radio, self.ray_radio):
            group.addButton(radio)
        (self.ray_radio if settings.grids_use_ray() else self.local_radio).setChecked(True)
        self.ray_address = QLineEdit(settings.ray_address)
        self.ray_address.setPlaceholderText(settings.resolved_ray_address())
        self.ray_address.setToolTip("local starts Ray on this computer; host:port joins a cluster's head. "
                                    "Empty: STUDIO_RAY_ADDRESS, else local.")
        self.ray_actors = QSpinBox()
        self.ray_actors.setRange(0, MAX_RAY_ACTORS)
        self.ray_actors.setSpecialValueText("Automatic")
        self.ray_actors.setValue(settings.ray_actors)
        self.ray_actors.setToolTip("Workers that each hold a loaded model. Automatic: one per GPU, "
                                   "else a few CPU workers sharing the cores.")
        ray_row = QHBoxLayout()
        ray_row.addWidget(self.ray_radio)
        ray_row.addWidget(QLabel("address"))
        ray_row.addWidget(self.ray_address, 1)
        ray_row.addWidget(QLabel("actors"))
        ray_row.addWidget(self.ray_actors)
        note = QLabel("Single pictures always run on this computer.")
        note.setWordWrap(True)
        layout = QVBoxLayout(box)
        layout.addWidget(self.local_radio)
        layout.addLayout(ray_row)
        layout.addWidget(note)
        self.ray_radio.toggled.connect(self._enable_ray_fields)
        self._enable_ray_fields()
        return box

    def _enable_ray_fields(self) -> None:
        for widget in (self.ray_address, self.ray_actors):
            widget.setEnabled(self.ray_radio.isChecked())

    def _accept_if_valid(self) -> None:
        problem = ray_address_problem(self.ray_address.text().strip())
        if problem and self.ray_radio.isChecked():
            self.problem.show_message(problem)
            return
        self.accept()

    def _grids_on(self) -> str:
        # Unchanged from what "auto" resolved to stays "auto", so STUDIO_RAY_ADDRESS keeps deciding.
        if self._settings.grids_on == "auto" and self.ray_radio.isChecked() == self._settings.grids_use_ray():
            return "auto"
        return "ray" if self.ray_radio.isChecked() else "local"

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
            grids_on=self._grids_on(),
            ray_address=self.ray_address.text().strip(),
            ray_actors=self.ray_actors.value(),
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
