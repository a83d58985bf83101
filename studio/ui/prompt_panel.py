"""The prompt panel: every setting of a txt2img request, and the button that sends it.

The panel is a view of a `studio.core.session.Session`: every edit is written into its prompt
settings, and `build_request()` asks the session for a validated request (RequestError with a
one-line message, also shown inline). `apply_request()` fills the fields back from one (the
gallery's "reuse parameters"); `apply_import()` does so for a dropped image's parameters, whose
model and LoRAs are only offered under the prompt (studio/ui/import_offer.py). `state()`/
`restore_state()` give the plain dict the window persists (`PromptSettings.to_dict()`).

Models and LoRAs (studio/ui/model_choice.py): `set_model()` just selects one (restoring, reusing
parameters); `choose_model()` is the artist picking one (the Open… entries, a recent entry, the
model library): it checks the model and applies the settings it brings (a few-step model's, the
bundled model's guidance), saying so in `message`. LoRAs come from the model library through
`set_loras()` and ride along in every request.

What the engine reads from files (a model's size and kind, the LoRA check) is asked of `queries`
(engine_queries.py) off the GUI thread; until it answers, the last known answer stands.
"""

from __future__ import annotations

import copy
from typing import TYPE_CHECKING, Any

from PySide6.QtCore import QRegularExpression, Qt, QTimer, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QDoubleSpinBox,
    QFormLayout,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPlainTextEdit,
    QPushButton,
    QSizePolicy,
    QSpinBox,
    QVBoxLayout,
    QWidget,
)

from studio.core.import_policy import offer_for
from studio.core.request import (
    MAX_GUIDANCE,
    MAX_SEED,
    MAX_STEPS,
    SCHEDULERS,
    GenerationRequest,
    RequestError,
)
from studio.core.session import EMPTY_PROMPT, PromptSettings, Session
from studio.ui.engine_queries import EngineQueries
from studio.ui.import_offer import ImportOffer, import_message
from studio.ui.model_choice import (  # noqa: F401 - the labels are part of this panel's API
    BUNDLED_MODEL_LABEL,
    MAX_RECENT_MODELS,
    OPEN_FILE_LABEL,
    OPEN_FOLDER_LABEL,
    ModelChoice,
)
from studio.ui.model_facts import FALLBACK_NATIVE, native_size_of  # noqa: F401 - FALLBACK_NATIVE is API
from studio.ui.theme import InlineError, heading

if TYPE_CHECKING:
    from studio.ui.gallery_import import DroppedParameters

# (label, width, height); "Custom" unlocks the W/H boxes.
SIZE_PRESETS: tuple[tuple[str, int, int], ...] = (
    ("128 × 128", 128, 128),
    ("256 × 256", 256, 256),
    ("512 × 512", 512, 512),
    ("768 × 768", 768, 768),
    ("1024 × 1024", 1024, 1024),
    ("512 × 768 (2:3 portrait)", 512, 768),
    ("768 × 512 (3:2 landscape)", 768, 512),
    ("576 × 1024 (9:16 portrait)", 576, 1024),
    ("1024 × 576 (16:9 wide)", 1024, 576),
    ("832 × 1216 (SDXL portrait)", 832, 1216),
    ("1216 × 832 (SDXL landscape)", 1216, 832),
)
CUSTOM_SIZE = "Custom…"
NATIVE_SIZE_LABEL = "Model's own size"
_NATIVE = "native"  # item data of the native-size entry
_AUTO_RESCALE = -0.05  # the rescale spin's "Auto" (model's own) value, one step below 0


class _InSession:
    """An attribute of the panel (ModelChoice's state) that lives in the session's prompt settings."""

    def __init__(self, name: str) -> None:
        self.name = name

    def __get__(self, panel: PromptPanel | None, owner: type | None = None) -> Any:
        return self if panel is None else getattr(panel.session.prompt, self.name)

    def __set__(self, panel: PromptPanel, value: Any) -> None:
        setattr(panel.session.prompt, self.name, value)


class PromptPanel(ModelChoice, QWidget):
    """Prompt, negative prompt, seed, steps, guidance, size, scheduler and model: a view of
    `session.prompt`, showing it when built."""

    generateRequested = Signal()
    changed = Signal()
    message = Signal(str)  # one line for the status bar (e.g. "Turbo model: 4 steps…")
    lorasChanged = Signal(list)  # [(path, weight), ...] whenever the LoRAs are set

    # What the panel remembers beyond its fields is kept in the session, so it is saved with it.
    _recent_models = _InSession("recent_models")
    _loras = _InSession("loras")
    _lora_problem = _InSession("lora_problem")  # a ticked LoRA made for another model family
    # The artist's own steps/guidance/sampler while a few-step model's settings are applied,
    # so going back to an ordinary model gives them back.
    _settings_before_distilled = _InSession("settings_before_distilled")
    # The artist's guidance while the bundled model's own (BUNDLED_GUIDANCE) is applied.
    _guidance_before_bundled = _InSession("guidance_before_bundled")

    def __init__(self, session: Session | None = None, parent: QWidget | None = None,
                 queries: EngineQueries | None = None) -> None:
        """`queries`: the window's engine look-ups (a panel on its own makes its own)."""
        super().__init__(parent)
        self.session = session if session is not None else Session()
        self.queries = queries if queries is not None else EngineQueries(self)
        shown, self.session.prompt = self.session.prompt, PromptSettings()
        self._model_in_use = ""
        self._native_sizes: dict[str, int] = {}  # model -> its training size, as last answered
        self._showing = True  # no writes into the session until the saved settings are shown
        self._build()
        self._connect()
        self._show(shown)
        self.session.subscribe(self._on_session_changed)

    # ---- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.prompt_edit = QPlainTextEdit()
        self.prompt_edit.setPlaceholderText("Describe the image… (Ctrl+Enter to generate)")
        self.prompt_edit.setTabChangesFocus(True)
        self.prompt_edit.setMinimumHeight(90)
        self.prompt_edit.setMaximumHeight(260)  # room for long prompts without pushing fields away
        self.import_offer = ImportOffer()  # a dropped image's model/LoRAs, until Use it or Keep current
        self.negative_edit = QPlainTextEdit()
        self.negative_edit.setPlaceholderText("What to avoid (optional)")
        self.negative_edit.setTabChangesFocus(True)
        self.negative_edit.setMaximumHeight(64)

        self.seed_edit = QLineEdit("0")
        self.seed_edit.setValidator(QRegularExpressionValidator(QRegularExpression(r"\d{0,20}")))
        self.seed_edit.setToolTip(
            f"0 to {MAX_SEED}; the same seed and settings give the same image"
        )
        self.random_seed_check = QCheckBox("Random")
        self.random_seed_check.setToolTip("Pick a new seed for every image")
        self.random_seed_check.setChecked(True)
        self.seed_edit.setReadOnly(True)
        self.reuse_seed_button = QPushButton("Reuse last")
        self.reuse_seed_button.setToolTip(
            "Put the seed of the last image back and stop randomising"
        )
        self.reuse_seed_button.setEnabled(False)
        seed_row = QHBoxLayout()
        seed_row.setSpacing(6)
        seed_row.addWidget(self.seed_edit, 1)
        seed_row.addWidget(self.random_seed_check)
        seed_row.addWidget(self.reuse_seed_button)

        self.steps_spin = QSpinBox()
        self.steps_spin.setRange(1, MAX_STEPS)
        self.steps_spin.setValue(20)
        self.guidance_spin = QDoubleSpinBox()
        self.guidance_spin.setRange(0.0, MAX_GUIDANCE)
        self.guidance_spin.setSingleStep(0.5)
        self.guidance_spin.setDecimals(1)
        self.guidance_spin.setValue(5.0)
        self.guidance_spin.setToolTip("How closely to follow the prompt (CFG scale)")
        # Below 0 reads "Auto": the model's own rescale (engine._schedulers.default_guidance_rescale).
        self.rescale_spin = QDoubleSpinBox()
        self.rescale_spin.setRange(_AUTO_RESCALE, 1.0)
        self.rescale_spin.setSingleStep(0.05)
        self.rescale_spin.setDecimals(2)
        self.rescale_spin.setSpecialValueText("Auto")
        self.rescale_spin.setValue(_AUTO_RESCALE)
        self.rescale_spin.setToolTip(
            "Guidance rescale (0-1): tames the burnt or washed-out colours of strong guidance. "
            "Auto: the model's own (for models trained with zero terminal SNR, like the bundled one, "
            "none at guidance 2 rising to 0.7 at 5 and above; none for others)"
        )
        guidance_row = QHBoxLayout()
        guidance_row.addWidget(self.guidance_spin, 1)
        guidance_row.addSpacing(6)
        guidance_row.addWidget(QLabel("Rescale"))
        guidance_row.addWidget(self.rescale_spin, 1)

        self.size_combo = QComboBox()
        self.size_combo.addItem(NATIVE_SIZE_LABEL, _NATIVE)
        self.size_combo.setItemData(
            0, "The size the model was trained at: best results, fastest", Qt.ItemDataRole.ToolTipRole
        )
        for label, width, height in SIZE_PRESETS:
            self.size_combo.addItem(label, (width, height))
        self.size_combo.addItem(CUSTOM_SIZE, None)
        self.size_combo.setCurrentIndex(0)
        # Wide ranges on purpose: request validation explains a bad size better than a clamp.
        self.width_spin = QSpinBox()
        self.height_spin = QSpinBox()
        for spin, name in ((self.width_spin, "W"), (self.height_spin, "H")):
            spin.setRange(1, 8192)
            spin.setSingleStep(8)
            spin.setPrefix(f"{name} ")
            spin.setSuffix(" px")
            spin.setKeyboardTracking(True)
        size_row = QHBoxLayout()
        size_row.setSpacing(6)
        size_row.addWidget(self.width_spin)
        size_row.addWidget(self.height_spin)

        self.scheduler_combo = QComboBox()
        self.scheduler_combo.addItems(SCHEDULERS)
        self.scheduler_combo.setCurrentText("Euler a")

        self.model_combo = QComboBox()
        self.model_combo.setSizeAdjustPolicy(
            QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon
        )
        self.model_combo.setMinimumContentsLength(14)
        self._fill_models("")

        self.loras_label = QLabel()
        self.loras_label.setObjectName("lorasLabel")
        self.loras_label.setWordWrap(True)
        self.loras_label.setToolTip("Tick LoRAs and set their weights in the Models panel")

        self.error_label = InlineError()

        self.generate_button = QPushButton("Generate")
        self.generate_button.setObjectName("generateButton")
        self.generate_button.setToolTip(
            "Generate (Ctrl+Enter); while a job runs, this queues another"
        )
        self.generate_button.setMinimumHeight(36)
        self.generate_button.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

        form = QFormLayout()
        form.setLabelAlignment(Qt.AlignmentFlag.AlignRight)
        form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
        form.setVerticalSpacing(8)
        form.addRow("Model", self.model_combo)
        form.addRow("LoRAs", self.loras_label)
        form.addRow("Seed", seed_row)
        form.addRow("Steps", self.steps_spin)
        form.addRow("Guidance", guidance_row)
        form.addRow("Size", self.size_combo)
        form.addRow("", size_row)
        form.addRow("Sampler", self.scheduler_combo)
        self._form = form
        self._show_loras()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(6)
        layout.addWidget(heading("Prompt"))
        layout.addWidget(self.prompt_edit, 3)
        layout.addWidget(self.import_offer)
        layout.addWidget(heading("Negative prompt"))
        layout.addWidget(self.negative_edit, 1)
        layout.addSpacing(4)
        layout.addLayout(form)
        layout.addWidget(self.error_label)
        layout.addSpacing(6)
        layout.addWidget(self.generate_button)
        layout.addStretch(1)

    def _connect(self) -> None:
        self.changed.connect(self._store)  # first: whoever listens next reads the session
        self.generate_button.clicked.connect(self.generateRequested)
        self.import_offer.useRequested.connect(self._use_offer)
        self.reuse_seed_button.clicked.connect(self.reuse_last_seed)
        self.random_seed_check.toggled.connect(lambda on: self.seed_edit.setReadOnly(on))
        self.size_combo.currentIndexChanged.connect(self._on_size_preset)
        self.model_combo.activated.connect(self._on_model_activated)
        for spin in (self.width_spin, self.height_spin):
            spin.valueChanged.connect(self._recheck)
        self.prompt_edit.textChanged.connect(self._on_prompt_typed)
        for widget_signal in (
            self.prompt_edit.textChanged,
            self.negative_edit.textChanged,
            self.seed_edit.textChanged,
            self.random_seed_check.toggled,
            self.steps_spin.valueChanged,
            self.guidance_spin.valueChanged,
            self.rescale_spin.valueChanged,
            self.scheduler_combo.currentIndexChanged,
            self.width_spin.valueChanged,
            self.height_spin.valueChanged,
        ):
            widget_signal.connect(self.changed)

    # ---- requests ----------------------------------------------------------------------------
    def build_request(self) -> GenerationRequest:
        """The request to send, composed by the session from the fields and validated; rolls a new
        seed when Random is on. Raises RequestError (its one-line message is also shown inline)."""
        self._store()
        try:
            request = self.session.txt2img_request()
        except RequestError as exc:
            self.show_error(str(exc))
            raise
        self.clear_error()
        return request

    def current_request(self) -> GenerationRequest:
        """The request the fields describe now, validated, without rolling a random seed (for
        panels that vary it, like Blend). Raises RequestError."""
        self._store()
        return self.session.base_request()

    def apply_request(self, request: GenerationRequest) -> None:
        """Fill every field from `request` (fixing the seed, so the same image comes back)."""
        self.import_offer.dismiss()  # these parameters replace a dropped image's
        self._apply_fields(request)
        self.set_model(request.model)
        self.set_loras(request.loras)
        self._recheck()

    def apply_import(self, dropped: DroppedParameters) -> None:
        """Fill the fields from a dropped image's parameters. A model or LoRAs it names that differ
        from the chosen ones are only offered under the prompt, and used when the artist says so."""
        self._apply_fields(dropped.request)
        offer = offer_for(dropped.models, self.model(), self._loras)
        self.import_offer.show_offer(offer, dropped.models.missing)
        self._recheck()
        self.message.emit(import_message(dropped.path, dropped.models, offer, dropped.sources_missing))

    def _apply_fields(self, request: GenerationRequest) -> None:
        """Every field but the model and LoRAs."""
        self.prompt_edit.setPlainText(request.prompt)
        self.negative_edit.setPlainText(request.negative_prompt)
        self.random_seed_check.setChecked(False)
        self.seed_edit.setText(str(request.seed))
        self.steps_spin.setValue(request.steps)
        self.guidance_spin.setValue(request.guidance_scale)
        self.set_guidance_rescale(request.guidance_rescale)
        self.set_size(request.width, request.height)
        if request.scheduler in SCHEDULERS:
            self.scheduler_combo.setCurrentText(request.scheduler)

    def guidance_rescale(self) -> float | None:
        """The rescale asked for, or None for the model's own ("Auto")."""
        value = self.rescale_spin.value()
        return None if value < 0 else round(value, 2)

    def set_guidance_rescale(self, value: float | None) -> None:
        self.rescale_spin.setValue(_AUTO_RESCALE if value is None else float(value))

    def _store(self) -> None:
        """Write the fields into the session (on every edit; the rest of its state lives there)."""
        if self._showing:
            return
        p = self.session.prompt
        p.prompt = self.prompt_edit.toPlainText()
        p.negative_prompt = self.negative_edit.toPlainText()
        seed = self.seed_edit.text().strip()
        p.seed = int(seed) if seed else None
        p.random_seed = self.random_seed_check.isChecked()
        p.steps = self.steps_spin.value()
        p.guidance_scale = round(self.guidance_spin.value(), 2)
        p.guidance_rescale = self.guidance_rescale()
        p.native_size = self.size_combo.currentData() == _NATIVE
        p.width = self.width_spin.value()
        p.height = self.height_spin.value()
        p.scheduler = self.scheduler_combo.currentText()
        p.model = self.model()

    def _on_prompt_typed(self) -> None:
        if self.error_text() == EMPTY_PROMPT and self.prompt_edit.toPlainText().strip():
            self.clear_error()

    def _on_session_changed(self) -> None:
        """The session rolled a seed for a request sent (here, or by the Edit panel): show it."""
        seed = self.session.prompt.seed
        if seed is not None and self.seed_edit.text() != str(seed):
            self.seed_edit.setText(str(seed))
        self.reuse_seed_button.setEnabled(self.session.prompt.last_seed is not None)

    def _recheck(self) -> None:
        """Live check while typing: show the problem at once, clear it once fixed (an empty prompt
        is only refused when sending: a new window is not an error)."""
        if self._showing:
            return
        try:
            self.current_request()
        except RequestError as exc:
            self.show_error(str(exc))
        else:
            self.clear_error()

    # ---- seed --------------------------------------------------------------------------------
    def last_seed(self) -> int | None:
        return self.session.prompt.last_seed

    def reuse_last_seed(self) -> None:
        last = self.session.prompt.last_seed
        if last is None:
            return
        self.random_seed_check.setChecked(False)
        self.seed_edit.setText(str(last))

    # ---- size --------------------------------------------------------------------------------
    def set_size(self, width: int, height: int) -> None:
        for index in range(self.size_combo.count()):
            if self.size_combo.itemData(index) == (width, height):
                self.size_combo.setCurrentIndex(index)
                return
        self.size_combo.setCurrentIndex(self.size_combo.count() - 1)  # Custom
        self.width_spin.setValue(width)
        self.height_spin.setValue(height)

    def _on_size_preset(self) -> None:
        size = self.size_combo.currentData()
        native = size == _NATIVE
        if native:
            size = self._native_size()
        custom = size is None and not native
        self.width_spin.setEnabled(custom)
        self.height_spin.setEnabled(custom)
        if size is not None:
            self.width_spin.setValue(size[0])
            self.height_spin.setValue(size[1])
        self.changed.emit()

    def _native_size(self) -> tuple[int, int] | None:
        """The model's training size as last answered (None: never; the spins, and a request sent
        meanwhile, keep their size). Asked again each time, so a changed model file is noticed."""
        model = self.model()
        self.queries.ask(native_size_of, model, topic=(id(self), "native-size"),
                         on_answer=lambda side: self._native_size_known(model, side))
        side = self._native_sizes.get(model)
        return None if side is None else (side, side)

    def _native_size_known(self, model: str, side: int) -> None:
        known = self._native_sizes.get(model)
        self._native_sizes[model] = side
        if side != known and model == self.model() and self.size_combo.currentData() == _NATIVE:
            self.width_spin.setValue(side)
            self.height_spin.setValue(side)
            self.changed.emit()

    # ---- errors ------------------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self.error_label.show_message(message)

    def clear_error(self) -> None:
        self.error_label.clear_message()

    def error_text(self) -> str:
        return self.error_label.message()

    # ---- persistence -------------------------------------------------------------------------
    def state(self) -> dict[str, Any]:
        """Everything needed to restore the panel next session (JSON-safe)."""
        self._store()
        return self.session.prompt.to_dict()

    def restore_state(self, state: dict[str, Any]) -> None:
        """Restore from `state()`; wrong or missing values get their defaults."""
        self._show(PromptSettings.from_dict(state))

    def _show(self, settings: PromptSettings) -> None:
        """Show `settings` in the fields; then they are the session's."""
        settings = copy.deepcopy(settings)  # the fields' writes must not change what is being shown
        self._showing = True
        try:
            self.prompt_edit.setPlainText(settings.prompt)
            self.negative_edit.setPlainText(settings.negative_prompt)
            self.seed_edit.setText("" if settings.seed is None else str(settings.seed))
            self.random_seed_check.setChecked(settings.random_seed)
            self.session.prompt.last_seed = settings.last_seed
            self.reuse_seed_button.setEnabled(settings.last_seed is not None)
            self.steps_spin.setValue(settings.steps)
            self.guidance_spin.setValue(settings.guidance_scale)
            self.set_guidance_rescale(settings.guidance_rescale)
            if settings.native_size:  # the size saved is the model's, as last read: shown until read again
                self.width_spin.setValue(settings.width)
                self.height_spin.setValue(settings.height)
                self.size_combo.setCurrentIndex(0)
            else:
                self.set_size(settings.width, settings.height)
            self.scheduler_combo.setCurrentText(settings.scheduler)
            self._recent_models = settings.recent_models[:MAX_RECENT_MODELS]
        finally:
            self._showing = False
        self.set_model(settings.model)
        self.set_loras(settings.loras)
        self._settings_before_distilled = settings.settings_before_distilled
        self._guidance_before_bundled = settings.guidance_before_bundled
        self._store()
        QTimer.singleShot(0, self._recheck)  # after the first paint (run_app builds the schema meanwhile)

