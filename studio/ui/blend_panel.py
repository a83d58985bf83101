"""The Blend panel: prompt and seed sliders rendered live, and strips from prompt A to prompt B.

The panel is a view of a session's blend settings (studio/core/session.py), which composes its
requests from them and a base request (the Prompt panel's settings). Moving a slider (or typing
a position) emits `requestChanged(GenerationRequest)` once the hand rests for DEBOUNCE_MS;
`attach(engine)` hands it to a `LiveRenderer`, which cancels the stale live job and submits the
new one, so the newest position always wins. The strip section (blend_strip) queues N frames,
shows them in a filmstrip and exports them. studio/ui/composition.py mounts and wires it.
"""

from __future__ import annotations

import copy
from collections.abc import Callable

from PySide6.QtCore import QRegularExpression, Qt, QTimer, Signal
from PySide6.QtGui import QRegularExpressionValidator
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QPushButton,
    QVBoxLayout,
    QWidget,
)

from studio.core.request import BLEND_MODES, MAX_SEED, GenerationRequest, RequestError
from studio.core.session import BlendSettings, Session
from studio.ui.blend_strip import StripSection
from studio.ui.blend_widgets import (
    Engine,
    ExtraPrompt,
    LiveRenderer,
    MixSlider,
    form_layout,
    seed_from,
)
from studio.ui.live_session import LiveSession, Recorder
from studio.ui.theme import InlineError, heading

__all__ = ["BlendPanel", "LiveRenderer"]

DEBOUNCE_MS = 120


class BlendPanel(QWidget):
    """Prompt A ↔ B (and more) mix, seed A ↔ B noise mix, live rendering and strips: a view of
    `session.blend`. `base` gives the request the sliders vary (the Prompt panel's settings); it
    is asked before every request this panel builds, and a RequestError from it keeps the last
    good base."""

    requestChanged = Signal(object)  # GenerationRequest, debounced
    changed = Signal()  # a setting was edited (and written into the session)

    def __init__(
        self,
        session: Session | None = None,
        base: Callable[[], GenerationRequest] | None = None,
        parent: QWidget | None = None,
    ) -> None:
        super().__init__(parent)
        self.session = session if session is not None else Session()
        self._base = GenerationRequest("")
        self._base_provider = base
        self._showing = False
        self._extras: list[ExtraPrompt] = []
        self.live: LiveRenderer | None = None
        # Live frames go to a scratch strip; the one the artist stops on, keeps or exports
        # becomes a gallery record (studio/ui/live_session.py).
        self.live_session = LiveSession("blend", parent=self)
        self._debounce = QTimer(self)
        self._debounce.setSingleShot(True)
        self._debounce.setInterval(DEBOUNCE_MS)
        self._debounce.timeout.connect(self._emit_request)
        self._build()
        self._connect()
        self._show(self.session.blend)

    # ---- layout ------------------------------------------------------------------------------
    def _build(self) -> None:
        self.prompt_a = QLineEdit()
        self.prompt_a.setPlaceholderText("Prompt A (from the Prompt panel)")
        self.prompt_b = QLineEdit()
        self.prompt_b.setPlaceholderText("Prompt B: where the mix slider leads")
        self.mix = MixSlider(0.0, "0 = only prompt A, 1 = only prompt B")
        self.mode_combo = QComboBox()
        self.mode_combo.addItems(BLEND_MODES)
        self.mode_combo.setToolTip("slerp keeps the embeddings' strength in between; lerp is a straight line")
        self.add_prompt_button = QPushButton("+ Add prompt")
        self.extras_box = QVBoxLayout()
        self.extras_box.setContentsMargins(0, 0, 0, 0)

        seed_validator = QRegularExpressionValidator(QRegularExpression(r"\d{0,20}"))
        self.seed_a = QLineEdit("0")
        self.seed_b = QLineEdit("1")
        for edit, name in ((self.seed_a, "A"), (self.seed_b, "B")):
            edit.setValidator(seed_validator)
            edit.setToolTip(f"Seed {name}: 0 to {MAX_SEED}")
        self.seed_mix = MixSlider(0.0, "0 = seed A's noise, 1 = seed B's noise")
        seeds = QHBoxLayout()
        seeds.addWidget(QLabel("A"))
        seeds.addWidget(self.seed_a, 1)
        seeds.addWidget(QLabel("B"))
        seeds.addWidget(self.seed_b, 1)

        self.live_check = QCheckBox("Render live while sliding")
        self.live_check.setChecked(True)
        # Every live frame is kept in a scratch strip; this says whether pausing chooses one.
        self.keep_live_check = QCheckBox("Keep the frame I stop on")
        self.keep_live_check.setChecked(True)
        self.keep_live_check.setToolTip(
            "On: when the sliders rest 1.5 s, the picture on the canvas joins the gallery.\n"
            "Off: only Keep (Ctrl+K) or an export adds it. Every live frame stays reachable from\n"
            "the kept picture's \"Live frames\" in the gallery either way."
        )
        self.keep_button = QPushButton("Keep (Ctrl+K)")
        self.keep_button.setToolTip("Add the live render on the canvas to the gallery now")
        self.keep_button.setEnabled(False)
        keep_row = QHBoxLayout()
        keep_row.addWidget(self.keep_live_check)
        keep_row.addWidget(self.keep_button)
        keep_row.addStretch(1)

        self.strip = StripSection()
        self.error_label = InlineError()

        form = form_layout()
        form.addRow("Prompt A", self.prompt_a)
        form.addRow("Prompt B", self.prompt_b)
        form.addRow("A ↔ B", self.mix)
        form.addRow("Mode", self.mode_combo)
        prompts = QVBoxLayout()
        prompts.addLayout(form)
        prompts.addLayout(self.extras_box)
        prompts.addWidget(self.add_prompt_button, 0, Qt.AlignmentFlag.AlignLeft)

        seed_form = form_layout()
        seed_form.addRow("Seeds", seeds)
        seed_form.addRow("Noise A ↔ B", self.seed_mix)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(10, 10, 10, 10)
        layout.setSpacing(6)
        layout.addWidget(heading("Prompt mix"))
        layout.addLayout(prompts)
        layout.addSpacing(6)
        layout.addWidget(heading("Noise mix"))
        layout.addLayout(seed_form)
        layout.addWidget(self.live_check)
        layout.addLayout(keep_row)
        layout.addSpacing(6)
        layout.addWidget(heading("Strip: prompt A → prompt B"))
        layout.addWidget(self.strip)
        layout.addWidget(self.error_label)
        layout.addStretch(1)

    def _connect(self) -> None:
        for signal in (
            self.mix.changed,
            self.seed_mix.changed,
            self.prompt_a.textChanged,
            self.prompt_b.textChanged,
            self.seed_a.textChanged,
            self.seed_b.textChanged,
            self.mode_combo.currentIndexChanged,
        ):
            signal.connect(self._schedule)
        self.add_prompt_button.clicked.connect(self.add_prompt)
        self.keep_live_check.toggled.connect(self._on_auto_keep)
        self.keep_button.clicked.connect(self.live_session.keep)
        self.live_session.changed.connect(self.keep_button.setEnabled)
        for check in (self.live_check, self.keep_live_check):
            check.toggled.connect(self._store)
        self.strip.renderRequested.connect(self.render_strip)
        self.strip.problem.connect(lambda text: self.show_error(text) if text else self.clear_error())

    # ---- the host's side -----------------------------------------------------------------------
    def set_base_request(self, request: GenerationRequest) -> None:
        """What the sliders vary: everything but the prompts and seeds comes from here.

        Prompt A and seed A follow the base until the artist edits them here."""
        old = self._base
        self._base = request
        for edit, before, after in (
            (self.prompt_a, old.prompt, request.prompt),
            (self.seed_a, str(old.seed), str(request.seed)),
        ):
            if edit.text() in ("", before) and edit.text() != after:
                edit.blockSignals(True)
                edit.setText(after)
                edit.blockSignals(False)

    def attach(self, engine: Engine) -> None:
        """Render through `engine` (a JobQueue or an EngineBridge). If it has the bridge's
        signals, strip frames are collected from them."""
        self.live = LiveRenderer(engine)
        self.requestChanged.connect(self._render_live)
        self.strip.attach(engine)

    # ---- requests ------------------------------------------------------------------------------
    def add_prompt(self) -> ExtraPrompt:
        extra = ExtraPrompt(chr(ord("C") + len(self._extras)) if len(self._extras) < 24 else "+")
        extra.changed.connect(self._schedule)
        extra.removeRequested.connect(self._remove_prompt)
        self._extras.append(extra)
        self.extras_box.addWidget(extra)
        self._schedule()
        return extra

    def apply_request(self, request: GenerationRequest) -> bool:
        """Fill the sliders from a blend request (e.g. the gallery's "Reuse parameters").
        Returns False, changing nothing, for a request that blends nothing."""
        if not request.blend_prompts and request.seed_b is None:
            return False
        for extra in list(self._extras):
            self._remove_prompt(extra)
        pairs = list(zip(request.blend_prompts, request.blend_weights, strict=False))
        self.prompt_a.setText(request.prompt)
        self.prompt_b.setText(pairs[0][0] if pairs else "")
        self.mix.set_value(pairs[0][1] if pairs else 0.0)
        for text, weight in pairs[1:]:
            extra = self.add_prompt()
            extra.edit.setText(text)
            extra.weight.set_value(weight)
        if request.blend_mode in BLEND_MODES:
            self.mode_combo.setCurrentText(request.blend_mode)
        self.seed_a.setText(str(request.seed))
        if request.seed_b is not None:
            self.seed_b.setText(str(request.seed_b))
        self.seed_mix.set_value(request.seed_mix)
        self._debounce.stop()  # reusing parameters shows them; it does not start a render
        return True

    def _remove_prompt(self, extra: ExtraPrompt) -> None:
        self._extras.remove(extra)
        extra.deleteLater()
        self._schedule()

    def build_request(self) -> GenerationRequest:
        """The base request with this panel's prompts, weights and seeds, composed by the
        session; RequestError if invalid."""
        if self._base_provider is not None:
            try:
                self.set_base_request(self._base_provider())
            except RequestError:
                pass  # the prompt panel shows its own error; keep the last good base
        self._store()
        return self.session.blend_request(self._base)

    def _schedule(self) -> None:
        self._store()
        self.live_session.moved()
        if not self._showing:
            self._debounce.start()  # restarts: only the position the hand rests on is rendered

    # ---- the settings ----------------------------------------------------------------------------
    def _store(self) -> None:
        """Write the fields into the session's blend settings (on every edit)."""
        if self._showing:
            return
        b = self.session.blend
        # Prompt A and seed A that follow the base are saved as "the base's" ("" and None), so
        # they follow it after a restart too.
        following = self.prompt_a.text() == self._base.prompt
        b.prompt_a = "" if following else self.prompt_a.text()
        b.prompt_b = self.prompt_b.text()
        b.mix = self.mix.value()
        b.extras = tuple((extra.edit.text(), extra.weight.value()) for extra in self._extras)
        b.mode = self.mode_combo.currentText()
        b.seed_a = None if self.seed_a.text() in ("", str(self._base.seed)) else _seed(self.seed_a)
        b.seed_b = _seed(self.seed_b)
        b.seed_mix = self.seed_mix.value()
        b.live = self.live_check.isChecked()
        b.keep_live = self.keep_live_check.isChecked()
        self.changed.emit()

    def _show(self, settings: BlendSettings) -> None:
        """Show `settings` (a restart's); they become the session's. Nothing is rendered."""
        settings = copy.deepcopy(settings)
        self._showing = True
        try:
            for extra in list(self._extras):
                self._remove_prompt(extra)
            self.prompt_a.setText(settings.prompt_a)
            self.prompt_b.setText(settings.prompt_b)
            self.mix.set_value(settings.mix)
            for text, weight in settings.extras:
                extra = self.add_prompt()
                extra.edit.setText(text)
                extra.weight.set_value(weight)
            self.mode_combo.setCurrentText(settings.mode)
            self.seed_a.setText("" if settings.seed_a is None else str(settings.seed_a))
            self.seed_b.setText("" if settings.seed_b is None else str(settings.seed_b))
            self.seed_mix.set_value(settings.seed_mix)
            self.live_check.setChecked(settings.live)
            self.keep_live_check.setChecked(settings.keep_live)
            if self._base_provider is not None:  # prompt A and seed A show the base's, if they follow it
                try:
                    base = self._base_provider()
                except RequestError:
                    pass
                else:
                    self._base = self._base.replace(seed=-1)  # a shown seed A of 0 is the artist's own
                    self.set_base_request(base)
        finally:
            self._showing = False
        self._debounce.stop()
        self._store()

    def _emit_request(self) -> None:
        try:
            request = self.build_request()
        except RequestError as exc:
            self.show_error(str(exc))
            return
        self.clear_error()
        self.requestChanged.emit(request)

    def _render_live(self, request: GenerationRequest) -> None:
        if self.live is None or not self.live_check.isChecked():
            return
        try:
            self.live_session.submitted(self.live.submit(request))
        except Exception as exc:  # RequestError, or an engine that cannot start: say it, stay usable
            self.show_error(str(exc))

    # ---- live renders and the gallery ----------------------------------------------------------
    def use_gallery(self, recorder: Recorder | None) -> None:
        """Store live frames through `recorder` (the gallery panel); None: no gallery, nothing kept.
        (LiveSessions.add wires the session to the gallery and the engine's finished jobs.)"""
        self.live_session.attach(recorder)
        self._recorder = recorder  # a strip's frames are stacked by it
        for widget in (self.keep_live_check, self.keep_button):
            widget.setVisible(recorder is not None)

    def _on_auto_keep(self, on: bool) -> None:
        self.live_session.auto_keep = on
        if not on:
            self.live_session.moved()  # a pending automatic keep is off too

    # ---- strips ------------------------------------------------------------------------------------
    def render_strip(self) -> list[int]:
        """Queue a strip from this panel's prompt A (and seed A) to prompt B (and seed B)."""
        try:
            base = self.build_request()
            seed_b = seed_from(self.seed_b, "seed B") if self.strip.walk_seeds_check.isChecked() else None
        except RequestError as exc:
            self.show_error(str(exc))
            return []
        jobs = self.strip.render(base, self.prompt_b.text().strip(), seed_b)
        stack_jobs = getattr(getattr(self, "_recorder", None), "stack_jobs", None)
        if jobs and stack_jobs is not None:  # the frames list as one tile under the first
            stack_jobs(jobs)
        return jobs

    # ---- messages ------------------------------------------------------------------------------
    def show_error(self, message: str) -> None:
        self.error_label.show_message(message)

    def clear_error(self) -> None:
        self.error_label.clear_message()

    def error_text(self) -> str:
        return self.error_label.message()


def _seed(edit: QLineEdit) -> int | None:
    text = edit.text().strip()
    return int(text) if text else None
