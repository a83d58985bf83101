"""The model library panel: the models this machine has, in plain words (what kind of model,
size on disk, where it comes from), added by dialog or drag-and-drop, and the LoRA list with a
weight for each.

Each model is a row of two lines, its name over its type and size on disk (model_words says them
in plain words); the details under the list say the rest about the selected model or LoRA,
including why an unusable one can't be used, in full, and its short hash (A1111's, the first 10 hex digits of the sha256).

Nothing here reads the library on the GUI thread: listing, adding and hashing are asked of
EngineQueries and answered as events. Hashes read whole files (gigabytes), so they run on their
own lane, one file at a time, when a file is selected, and are cached by the library.

Signals: modelChosen(str path), lorasChanged(list[(path, weight)]) with the checked LoRAs,
message(str) one line for the status bar, hashKnown(str path, str sha256 or "").
studio/ui/composition.py docks it beside the Gallery and wires it to the prompt panel.
"""

from __future__ import annotations

import html
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QTextOption
from PySide6.QtWidgets import (
    QAbstractItemView,
    QDoubleSpinBox,
    QFileDialog,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLayout,
    QMenu,
    QPushButton,
    QSplitter,
    QTableWidget,
    QTableWidgetItem,
    QTextBrowser,
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
    set_model_config,
)
from studio.ui.engine_queries import EngineQueries
from studio.ui.model_facts import window_words
from studio.ui.model_words import (
    SUMMARY_ROLE,
    TwoLineDelegate,
    facts,
    lora_summary,
    summary,
    type_text,
)
from studio.ui.theme import heading

PATH_ROLE = Qt.ItemDataRole.UserRole
CONFIG_TIP = ("Give this single file its original config: the .yaml it came with (v1-inference.yaml and "
              "the like) or a diffusers folder with its configs. For a file Studio cannot tell, or to say "
              "how it predicts (SD 2 at 512 or 768 px)")


class ModelLibraryPanel(QWidget):
    modelChosen = Signal(str)
    lorasChanged = Signal(list)  # [(path, weight), ...] of the checked LoRAs
    message = Signal(str)
    hashKnown = Signal(str, str)  # path, sha256 ("" if the file could not be read)

    def __init__(
        self, settings: EngineSettings | None = None, parent: QWidget | None = None, load: bool = True,
        queries: EngineQueries | None = None,
    ) -> None:
        """`load=False` leaves the lists empty until `refresh()` (the window lists on first show);
        `queries` reads the library off the GUI thread (the window's; a panel alone makes one)."""
        super().__init__(parent)
        self.settings = settings or load_settings()
        self.queries = queries if queries is not None else EngineQueries(self)
        self.entries: list[ModelEntry] = []
        self.loaded = False
        self._checked: dict[str, float] = {}  # ticked LoRAs, kept even before the list is loaded
        self._hashes: dict[str, str] = {}  # path -> sha256 or "error: …", as worked out this session
        self._hashing: set[str] = set()  # asked for, once each
        self._shown_path = ""  # the entry the details describe
        self._problem = ""  # the last thing that could not be added, said in full in the details
        self.setAcceptDrops(True)

        # One model a row, on two lines: the name, and under it in grey what kind of model it is and
        # its size on disk. Columns side by side left a narrow dock no room for any of them.
        self.models = QTableWidget(0, 1)
        self.models.setHorizontalHeaderLabels(("Model",))
        self.models.horizontalHeader().hide()
        self.models.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.models.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.models.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.models.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.models.setShowGrid(False)
        self.models.setItemDelegate(TwoLineDelegate(self.models))
        self.models.verticalHeader().setDefaultSectionSize(2 * self.fontMetrics().height() + 10)
        self.models.verticalHeader().hide()
        self.models.cellDoubleClicked.connect(lambda row, _col: self.choose_row(row))
        self.models.currentCellChanged.connect(lambda row, *_: self._show_row(self.models, row))

        self.loras = QTableWidget(0, 2)
        self.loras.setHorizontalHeaderLabels(("LoRA", "Weight"))
        self.loras.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        self.loras.setItemDelegateForColumn(0, TwoLineDelegate(self.loras))  # name over what it is for
        self.loras.verticalHeader().setDefaultSectionSize(2 * self.fontMetrics().height() + 10)
        self.loras.verticalHeader().hide()
        self.loras.itemChanged.connect(lambda _item: self._emit_loras())
        self.loras.currentCellChanged.connect(lambda row, *_: self._show_row(self.loras, row))

        self.details = QTextBrowser(objectName="modelDetails")
        self.details.setOpenLinks(False)
        # Long file names and paths have no spaces: they break anywhere rather than run off the side.
        self.details.setWordWrapMode(QTextOption.WrapMode.WrapAtWordBoundaryOrAnywhere)
        self.details.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.details.setMinimumHeight(70)
        # A single file Studio cannot tell (or tells wrongly: SD 2 at 512 or 768 px) gets its
        # original config here, as `studio models config` gives it; kept for every later job.
        self.config_label = QLabel(objectName="modelConfig", wordWrap=True)
        self.config_button = QPushButton("Config…", toolTip=CONFIG_TIP)
        config_menu = QMenu(self.config_button)
        config_menu.addAction("YAML file…", self._config_file_dialog)
        config_menu.addAction("Diffusers config folder…", self._config_folder_dialog)
        self.clear_config_action = config_menu.addAction("No config (read the file itself)", lambda: self.set_config(None))
        self.config_button.setMenu(config_menu)
        config_row = QHBoxLayout()
        config_row.addWidget(self.config_label, 1)
        config_row.addWidget(self.config_button)
        self.config_box = _box(config_row)

        self.use_button = QPushButton("Use model", toolTip="Use the selected model (or double-click it)")
        self.use_button.clicked.connect(lambda: self.choose_row(self.models.currentRow()))
        add_file = QPushButton("Add file…", toolTip="Add .safetensors models or LoRAs")
        add_file.clicked.connect(self._add_file_dialog)
        add_folder = QPushButton("Add folder…", toolTip="Add a model folder (diffusers layout)")
        add_folder.clicked.connect(self._add_folder_dialog)
        refresh = QPushButton("Refresh", toolTip="Look through the models folder again")
        refresh.clicked.connect(self.refresh)
        # Two rows, so a dock column as narrow as the Gallery's fits every button.
        buttons = QGridLayout()
        buttons.setHorizontalSpacing(6)
        buttons.addWidget(self.use_button, 0, 0)
        buttons.addWidget(refresh, 0, 1)
        buttons.addWidget(add_file, 1, 0)
        buttons.addWidget(add_folder, 1, 1)

        hint = QLabel("drop files or folders here", objectName="dropHint")
        hint.setToolTip("Drop .safetensors models, LoRAs or model folders on this panel")
        title_row = QHBoxLayout()
        title_row.addWidget(heading("Models"))
        title_row.addStretch(1)
        title_row.addWidget(hint)
        models_box = _box(title_row, self.models, buttons)
        loras_box = _box(heading("LoRAs: tick to use, set the weight"), self.loras)
        # The artist decides how the column is shared: drag the handles between the three parts.
        splitter = QSplitter(Qt.Orientation.Vertical)
        splitter.setChildrenCollapsible(False)
        details_box = _box(self.details, self.config_box)
        for part, share in ((models_box, 5), (details_box, 3), (loras_box, 3)):
            splitter.addWidget(part)
            splitter.setStretchFactor(splitter.count() - 1, share)
        splitter.setSizes([5000, 3000, 3000])  # scaled to the room there is, in these shares
        for table in (self.models, self.loras):
            table.setMinimumHeight(60)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.addWidget(splitter)
        self._show_details(None)
        if load:
            self.refresh()

    # ---- listing -----------------------------------------------------------------------------
    def refresh(self) -> None:
        """Look through the library again, off the GUI thread; the lists fill when it answers."""
        self.queries.ask(_list_library, self.settings, topic=(id(self), "list"), on_answer=self._listed,
                         on_error=lambda exc: self.message.emit(f"Could not list the models: {exc}"))

    def _listed(self, entries: list[ModelEntry]) -> None:
        self.entries = entries
        self.loaded = True
        checked = self._checked
        models = [e for e in self.entries if e.kind in ("diffusers", "checkpoint")]
        self.models.blockSignals(True)
        self.models.setRowCount(len(models))
        for row, entry in enumerate(models):
            item = QTableWidgetItem(entry.name)
            item.setData(PATH_ROLE, entry.path)
            item.setData(SUMMARY_ROLE, summary(entry))
            item.setToolTip(entry.error or entry.path)
            if entry.error:
                item.setForeground(QColor("gray"))
            self.models.setItem(row, 0, item)
        self.models.blockSignals(False)
        self.loras.blockSignals(True)
        loras = [e for e in self.entries if e.kind == "lora"]
        self.loras.setRowCount(len(loras))
        for row, entry in enumerate(loras):
            item = QTableWidgetItem(entry.name)
            item.setData(SUMMARY_ROLE, lora_summary(entry))
            item.setData(PATH_ROLE, entry.path)
            item.setToolTip(entry.path)
            item.setFlags(item.flags() | Qt.ItemFlag.ItemIsUserCheckable)
            item.setCheckState(Qt.CheckState.Checked if entry.path in checked else Qt.CheckState.Unchecked)
            self.loras.setItem(row, 0, item)
            weight = QDoubleSpinBox()
            weight.setRange(-2.0, 2.0)
            weight.setSingleStep(0.05)
            weight.setValue(checked.get(entry.path, 1.0))
            weight.setToolTip("How strongly the LoRA acts: 1 is as made, 0 is off, below 0 works against it")
            weight.valueChanged.connect(lambda _value: self._emit_loras())
            self.loras.setCellWidget(row, 1, weight)
        self.loras.blockSignals(False)
        self._show_details(self.entry(self._shown_path))

    def entry(self, path: str) -> ModelEntry | None:
        return next((e for e in self.entries if e.path == path), None)

    # ---- details -----------------------------------------------------------------------------
    def details_text(self) -> str:
        """The details as plain text (what the artist reads under the table)."""
        return self.details.toPlainText()

    def _show_row(self, table: QTableWidget, row: int) -> None:
        self._problem = ""  # said; the artist has moved on
        item = table.item(row, 0) if row >= 0 else None
        self._show_details(self.entry(item.data(PATH_ROLE)) if item is not None else None)

    def _show_details(self, entry: ModelEntry | None) -> None:
        self._shown_path = entry.path if entry is not None else ""
        self._show_config(entry)
        lines = []
        if self._problem:
            lines.append(f'<span style="color:#ff8a80">{html.escape(self._problem)}</span>')
        if entry is None:
            if not self._problem:
                lines.append("Select a model or LoRA to see what it is. Double-click a model to use it.")
            self.details.setHtml("<br>".join(lines))
            return
        lines.append(f"<b>{html.escape(entry.name)}</b>")
        if entry.error:
            lines.append(f'<span style="color:#ff8a80">Can\'t be used: {html.escape(window_words(entry.error))}</span>')
        lines += [f"{label}: {html.escape(value)}" for label, value in facts(entry)]
        lines.append(f"Short hash: {html.escape(self._hash_line(entry))}")
        self.details.setHtml("<br>".join(lines))

    # ---- a single file's config ----------------------------------------------------------------
    def _show_config(self, entry: ModelEntry | None) -> None:
        single = entry is not None and entry.kind == "checkpoint" and Path(entry.path).is_file()
        self.config_button.setEnabled(single)  # kept in place (not hidden), so the column never jumps
        if not single:
            self.config_label.setText("Config: for single-file models")
            self.config_label.setToolTip("Folders carry their own configs")
            return
        config = entry.config if entry is not None else ""
        self.config_label.setText(f"Config: {Path(config).name}" if config else "Config: none (read from the file)")
        self.config_label.setToolTip(config or "Studio tells what the file is from its contents")
        self.clear_config_action.setEnabled(bool(config))

    def set_config(self, config: str | None) -> None:
        """Give the selected single file `config` (a .yaml or diffusers folder; None: none), checked
        off the GUI thread; a refusal is said in one line and nothing changes."""
        if self._shown_path:
            self.queries.ask(_set_config, self._shown_path, config, self.settings, on_answer=self._config_set)

    def _config_set(self, answer: tuple[str, ModelEntry | str]) -> None:
        path, result = answer
        if isinstance(result, str):
            self._problem = f"Config not used for {Path(path).name}: {result}"
            self.message.emit(result)
            self._show_details(self.entry(self._shown_path))
            return
        self.message.emit(f"{result.name}: {type_text(result)}"
                          + (f", config {Path(result.config).name}" if result.config else ", no config"))
        self.refresh()

    def _config_file_dialog(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "The model's original config", "", "Configs (*.yaml *.yml)")
        if path:
            self.set_config(path)

    def _config_folder_dialog(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "A diffusers folder with the model's configs")
        if folder:
            self.set_config(folder)

    # ---- hashes ------------------------------------------------------------------------------
    def _hash_line(self, entry: ModelEntry) -> str:
        """The short hash if known; else it is asked for (off the GUI thread) and said to be coming."""
        path = Path(entry.path)
        if not path.is_file():
            return "none (a folder has no single-file hash)"
        digest = self._hashes.get(entry.path, "")
        if digest.startswith("error: "):
            return f"could not read the file ({digest.removeprefix('error: ')})"
        if digest:
            return digest[:10]
        if entry.path not in self._hashing:
            self._hashing.add(entry.path)
            self.queries.ask(_hash_of, entry.path, lane="files",
                             on_answer=lambda found, path=entry.path: self._on_hashed(path, found))
        return "working it out…"

    def _on_hashed(self, path: str, digest: str) -> None:
        self._hashes[path] = digest
        if path == self._shown_path:
            self._show_details(self.entry(path))
        self.hashKnown.emit(path, "" if digest.startswith("error: ") else digest)

    # ---- choosing ----------------------------------------------------------------------------
    def choose_row(self, row: int) -> None:
        item = self.models.item(row, 0) if row >= 0 else None
        if item is None:
            return
        path = item.data(PATH_ROLE)
        entry = self.entry(path)
        if entry is None:
            return
        if entry.error:
            self._show_details(entry)  # the reason, in full
            self.message.emit(window_words(entry.error))
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
    def add_paths(self, paths: list[str]) -> None:
        """Add files/folders to the library, off the GUI thread; when it answers, each failure is
        said in one line and the lists are read again."""
        if paths:
            self.queries.ask(_add_all, list(paths), self.settings, on_answer=self._added)

    def _added(self, results: list[tuple[str, ModelEntry | str]]) -> None:
        added, problems = 0, []
        for path, result in results:
            if isinstance(result, str):
                problems.append(f"Could not add {Path(path).name}: {result}")
                self.message.emit(result)
                continue
            added += 1
            if result.error:  # kept: it only wants its config
                self.message.emit(f"added {result.name}: {window_words(result.error)}")
                continue
            self.message.emit(f"added {result.name} ({type_text(result)})")
        self._problem = "<br>".join(problems)
        if added:
            self.refresh()
        else:
            self._show_details(self.entry(self._shown_path))

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


# ---- asked of the engine, on an EngineQueries lane ------------------------------------------------
def _list_library(settings: EngineSettings) -> list[ModelEntry]:
    return list(list_models(settings))


def _add_all(paths: list[str], settings: EngineSettings) -> list[tuple[str, ModelEntry | str]]:
    """Each path with its new entry, or the one-line reason it could not be added."""
    results: list[tuple[str, ModelEntry | str]] = []
    for path in paths:
        try:
            results.append((path, add_model(path, settings, needing_config=True)))
        except UserError as exc:
            results.append((path, str(exc)))
    return results


def _set_config(path: str, config: str | None, settings: EngineSettings) -> tuple[str, ModelEntry | str]:
    try:
        return path, set_model_config(path, config, settings)
    except UserError as exc:
        return path, str(exc)


def _hash_of(path: str) -> str:
    """The file's sha256, from the library's cache or read whole; "error: why" if unreadable."""
    try:
        return cached_sha256(path) or file_sha256(Path(path))
    except OSError as exc:
        return f"error: {exc.strerror or exc}"


def _box(*parts: QWidget | QLayout) -> QWidget:
    """One part of the panel's splitter: `parts` stacked, without margins of its own."""
    box = QWidget()
    layout = QVBoxLayout(box)
    layout.setContentsMargins(0, 0, 0, 0)
    for part in parts:
        if isinstance(part, QLayout):
            layout.addLayout(part)
        else:
            layout.addWidget(part)
    return box
