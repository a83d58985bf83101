"""The model library panel: models with architecture/size/hash, add by dialog or drag-and-drop,
and the LoRA list with a weight for each.

Signals: modelChosen(str path), lorasChanged(list[(path, weight)]) with the checked LoRAs,
message(str) one line for the status bar. Listing reads headers only (fast, on the GUI thread);
hashes read whole files, so they are computed on a worker thread and cached by the library.
studio/ui/composition.py docks it beside the Gallery and wires it to the prompt panel.
"""

from __future__ import annotations

import threading
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from studio.core.settings import EngineSettings, load_settings
from studio.engine.jobs import UserError
from studio.engine.models import (
    ModelEntry,
    add_model,
    cached_sha256,
    file_sha256,
    list_models,
)
from studio.ui.theme import heading

PATH_ROLE = Qt.ItemDataRole.UserRole
MODEL_COLUMNS = ("Name", "Arch", "Kind", "Size", "Hash", "Source")


def human_size(size: int) -> str:
    for unit, scale in (("GB", 1 << 30), ("MB", 1 << 20), ("KB", 1 << 10)):
        if size >= scale:
            return f"{size / scale:.1f} {unit}"
    return f"{size} B"


class ModelLibraryPanel(QWidget):
    modelChosen = Signal(str)
    lorasChanged = Signal(list)  # [(path, weight), ...] of the checked LoRAs
    message = Signal(str)
    hashesDone = Signal()
    _hashed = Signal(str, str)  # path, sha256: worker thread -> GUI thread

    def __init__(
        self, settings: EngineSettings | None = None, parent: QWidget | None = None, load: bool = True
    ) -> None:
        """`load=False` leaves the lists empty until `refresh()` (the window lists on first show)."""
        super().__init__(parent)
        self.settings = settings or load_settings()
        self.entries: list[ModelEntry] = []
        self.loaded = False
        self._checked: dict[str, float] = {}  # ticked LoRAs, kept even before the list is loaded
        self._hash_thread: threading.Thread | None = None
        self.setAcceptDrops(True)

        self.models = QTableWidget(0, len(MODEL_COLUMNS))
        self.models.setHorizontalHeaderLabels(MODEL_COLUMNS)
        self.models.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.models.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.models.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.models.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(MODEL_COLUMNS)):
            self.models.horizontalHeader().setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        # Kind and Source are in each row's tooltip; hidden so the table fits a dock column.
        for name in ("Kind", "Source"):
            self.models.setColumnHidden(MODEL_COLUMNS.index(name), True)
        self.models.setWordWrap(False)
        self.models.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.models.verticalHeader().hide()
        self.models.cellDoubleClicked.connect(lambda row, _col: self.choose_row(row))

        self.loras = QTableWidget(0, 2)
        self.loras.setHorizontalHeaderLabels(("LoRA", "Weight"))
        self.loras.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.loras.setWordWrap(False)
        self.loras.setTextElideMode(Qt.TextElideMode.ElideMiddle)
        self.loras.verticalHeader().hide()
        self.loras.itemChanged.connect(lambda _item: self._emit_loras())

        self.use_button = QPushButton("Use model", toolTip="Use the selected model (or double-click it)")
        self.use_button.clicked.connect(lambda: self.choose_row(self.models.currentRow()))
        add_file = QPushButton("Add file…", toolTip="Add .safetensors checkpoints or LoRAs")
        add_file.clicked.connect(self._add_file_dialog)
        add_folder = QPushButton("Add folder…", toolTip="Add a diffusers model folder")
        add_folder.clicked.connect(self._add_folder_dialog)
        refresh = QPushButton("Refresh", toolTip="List the models folder again")
        refresh.clicked.connect(self.refresh)
        self.hash_button = QPushButton("Hashes", toolTip="Compute the sha256 of every file (slow for big ones)")
        self.hash_button.clicked.connect(self.compute_hashes)
        # Two rows, so a dock column as narrow as the Gallery's fits every button.
        buttons = QGridLayout()
        buttons.setHorizontalSpacing(6)
        buttons.addWidget(self.use_button, 0, 0, 1, 2)
        buttons.addWidget(add_file, 0, 2, 1, 2)
        buttons.addWidget(add_folder, 0, 4, 1, 2)
        buttons.addWidget(refresh, 1, 0, 1, 3)
        buttons.addWidget(self.hash_button, 1, 3, 1, 3)

        hint = QLabel("drop files or folders here", objectName="dropHint")
        hint.setToolTip("Drop .safetensors checkpoints, LoRAs or diffusers model folders on this panel")
        title_row = QHBoxLayout()
        title_row.addWidget(heading("Models"))
        title_row.addStretch(1)
        title_row.addWidget(hint)
        for table in (self.models, self.loras):
            table.setMinimumHeight(60)
        layout = QVBoxLayout(self)
        layout.addLayout(title_row)
        layout.addWidget(self.models, 3)
        layout.addLayout(buttons)
        layout.addWidget(heading("LoRAs: tick to use, set the weight"))
        layout.addWidget(self.loras, 2)
        self._hashed.connect(self._show_hash)
        if load:
            self.refresh()

    # ---- listing -----------------------------------------------------------------------------
    def refresh(self) -> None:
        self.entries = list_models(self.settings)
        self.loaded = True
        checked = self._checked
        models = [e for e in self.entries if e.kind in ("diffusers", "checkpoint")]
        self.models.setRowCount(len(models))
        for row, entry in enumerate(models):
            cells = (entry.name, self._arch_text(entry), entry.kind, human_size(entry.size),
                     cached_sha256(entry.path)[:10] if entry.kind == "checkpoint" else "", entry.source)
            for col, text in enumerate(cells):
                item = QTableWidgetItem(text)
                item.setData(PATH_ROLE, entry.path)
                item.setToolTip(entry.error or f"{entry.path}\n{entry.kind}, {entry.source}")
                if entry.error:
                    item.setForeground(QColor("gray"))
                self.models.setItem(row, col, item)
        self.loras.blockSignals(True)
        loras = [e for e in self.entries if e.kind == "lora"]
        self.loras.setRowCount(len(loras))
        for row, entry in enumerate(loras):
            item = QTableWidgetItem(f"{entry.name}  [{entry.arch_label}]")
            item.setData(PATH_ROLE, entry.path)
            item.setToolTip(entry.path)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if entry.path in checked else Qt.CheckState.Unchecked)
            self.loras.setItem(row, 0, item)
            weight = QDoubleSpinBox()
            weight.setRange(-2.0, 2.0)
            weight.setSingleStep(0.05)
            weight.setValue(checked.get(entry.path, 1.0))
            weight.valueChanged.connect(lambda _value: self._emit_loras())
            self.loras.setCellWidget(row, 1, weight)
        self.loras.blockSignals(False)

    @staticmethod
    def _arch_text(entry: ModelEntry) -> str:
        extras = [x for x in ("inpaint" if entry.inpaint else "", entry.distilled,
                              "v" if entry.prediction == "v_prediction" else "") if x]
        return entry.arch_label + (f" ({', '.join(extras)})" if extras else "")

    # ---- choosing ----------------------------------------------------------------------------
    def choose_row(self, row: int) -> None:
        item = self.models.item(row, 0) if row >= 0 else None
        if item is None:
            return
        path = item.data(PATH_ROLE)
        entry = next(e for e in self.entries if e.path == path)
        if entry.error:
            self.message.emit(entry.error)
            return
        self.modelChosen.emit(path)

    def checked_loras(self) -> list[tuple[str, float]]:
        out = []
        for row in range(self.loras.rowCount()):
            item, spin = self.loras.item(row, 0), self.loras.cellWidget(row, 1)
            if item is not None and item.checkState() == Qt.CheckState.Checked:
                out.append((item.data(PATH_ROLE), spin.value() if spin is not None else 1.0))
        return out

    def set_checked_loras(self, loras: list[tuple[str, float]]) -> None:
        """Tick exactly `loras` (restored or reused parameters) without emitting lorasChanged."""
        self._checked = {path: float(weight) for path, weight in loras}
        self.loras.blockSignals(True)
        for row in range(self.loras.rowCount()):
            item, spin = self.loras.item(row, 0), self.loras.cellWidget(row, 1)
            path = item.data(PATH_ROLE) if item is not None else None
            if item is not None:
                ticked = path in self._checked
                item.setCheckState(Qt.CheckState.Checked if ticked else Qt.CheckState.Unchecked)
            if spin is not None and path in self._checked:
                spin.blockSignals(True)
                spin.setValue(self._checked[path])
                spin.blockSignals(False)
        self.loras.blockSignals(False)

    def _emit_loras(self) -> None:
        checked = self.checked_loras()
        self._checked = dict(checked)
        self.lorasChanged.emit(checked)

    # ---- adding ------------------------------------------------------------------------------
    def add_paths(self, paths: list[str]) -> int:
        """Add files/folders to the library; reports each failure in one line. Returns how many added."""
        added = 0
        for path in paths:
            try:
                entry = add_model(path, self.settings)
            except UserError as exc:
                self.message.emit(str(exc))
                continue
            added += 1
            self.message.emit(f"added {entry.name} ({entry.arch_label} {entry.kind})")
        if added:
            self.refresh()
        return added

    def _add_file_dialog(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Add models or LoRAs", "", "Models (*.safetensors)")
        self.add_paths(paths)

    def _add_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Add a diffusers model folder")
        if folder:
            self.add_paths([folder])

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt override
        if event.mimeData().hasUrls() and any(u.isLocalFile() for u in event.mimeData().urls()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt override
        paths = [u.toLocalFile() for u in event.mimeData().urls() if u.isLocalFile()]
        if paths:
            event.acceptProposedAction()
            self.add_paths(paths)

    # ---- hashes ------------------------------------------------------------------------------
    def compute_hashes(self) -> None:
        """Hash every single-file model and LoRA on a worker thread; rows fill in as they finish."""
        if self._hash_thread is not None and self._hash_thread.is_alive():
            return
        files = [e.path for e in self.entries if Path(e.path).is_file() and not e.error]
        self.hash_button.setEnabled(False)

        def work() -> None:
            try:
                for path in files:
                    try:
                        digest = file_sha256(Path(path))
                    except OSError as exc:
                        digest = f"error: {exc.strerror}"
                    self._hashed.emit(path, digest)
                self._hashed.emit("", "")  # done
            except RuntimeError:  # the panel was closed meanwhile; the cache keeps what was hashed
                pass

        self._hash_thread = threading.Thread(target=work, name="studio-model-hashes", daemon=True)
        self._hash_thread.start()

    def _show_hash(self, path: str, digest: str) -> None:
        if not path:
            self.hash_button.setEnabled(True)
            self.hashesDone.emit()
            return
        for row in range(self.models.rowCount()):
            item = self.models.item(row, 4)
            if item is not None and item.data(PATH_ROLE) == path:
                item.setText(digest[:10] if not digest.startswith("error") else "?")
