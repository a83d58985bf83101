"""The prompt panel's model and LoRA choice: the model picker (bundled, recent, Open…), the
settings a model brings with it (a few-step model's steps/guidance/sampler, the bundled model's
guidance) and gives back when left, and the LoRAs every request carries.

A mixin of PromptPanel (it uses the panel's widgets and signals), kept apart so each file stays
readable; the panel's state() persists the stashes.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QFileDialog

from studio.core.import_policy import ModelOffer
from studio.core.paths import bundled_model_present
from studio.core.request import BUNDLED_GUIDANCE, SCHEDULERS
from studio.ui.model_facts import ModelLook, look_at_model, lora_problem, window_words

BUNDLED_MODEL_LABEL = "Bundled: studio-shapes"
OPEN_FOLDER_LABEL = "Open model folder…"
OPEN_FILE_LABEL = "Open checkpoint file…"
CHECKPOINT_FILTER = "Checkpoints (*.safetensors);;All files (*)"
MAX_RECENT_MODELS = 8
_OPEN_FOLDER = "\0open-folder"  # item data of the "Open model folder…" entry
_OPEN_FILE = "\0open-file"  # item data of the "Open checkpoint file…" entry


class ModelChoice:
    """Model picker and LoRA methods of PromptPanel (needs its combo boxes, spins and signals)."""

    # ---- model -------------------------------------------------------------------------------
    def model(self) -> str:
        """The model path ("" = the bundled default)."""
        data = self.model_combo.currentData()
        return "" if data in (None, _OPEN_FOLDER, _OPEN_FILE) else str(data)

    def set_model(self, path: str) -> None:
        """Select `path` as it is (restoring state, reusing parameters): no checks, no defaults.
        A model still being read for choose_model() is then not applied when its answer comes."""
        self.queries.forget((id(self), "choose-model"))
        if path and path not in self._recent_models:
            self._recent_models.insert(0, path)
            del self._recent_models[MAX_RECENT_MODELS:]
        self._fill_models(path)
        self._on_size_preset()  # a native size follows the model

    def choose_model(self, path: str) -> None:
        """The artist picked `path`. It is read off the GUI thread (what it is, a few-step model's
        settings); the model in use stays until the answer comes (a Generate meanwhile uses it).
        Then it is selected and a few-step model gets the steps, guidance and sampler it needs (an
        ordinary model gets the artist's own back); the bundled model gets BUNDLED_GUIDANCE, given
        back on leaving it unless changed meanwhile. One line goes to `message` either way; a model
        that cannot be used changes nothing."""
        topic = (id(self), "choose-model")
        if not path:  # the bundled model: nothing to read
            self.queries.forget(topic)
            self._model_read(None)
            return
        if self.model() != self._model_in_use:
            self._fill_models(self._model_in_use)  # the picker shows what a Generate would use
        self.queries.ask(look_at_model, path, topic=topic, on_answer=self._model_read,
                         on_error=lambda exc: self.message.emit(f"Can't use that model: {exc}"))

    def _model_read(self, look: ModelLook | None) -> None:
        """The answer to choose_model(): `look` is None for the bundled model."""
        path, entry = (look.path, look.entry) if look is not None else ("", None)
        if entry is not None and (entry.error or entry.kind not in ("diffusers", "checkpoint")):
            problem = entry.error or f"{entry.name} is a LoRA, not a model: tick it in the Models panel"
            self.message.emit(f"Can't use that model: {window_words(problem)}")
            self._fill_models(self._model_in_use)  # the picker goes back to the model in use
            return
        leaving_bundled = _is_bundled(self._model_in_use)
        self.set_model(path)
        if leaving_bundled and not _is_bundled(path):
            self._leave_bundled()
        name = entry.name if entry is not None else BUNDLED_MODEL_LABEL
        if entry is not None and entry.distilled:
            if self._settings_before_distilled is None:
                self._settings_before_distilled = self._sampler_settings()
            defaults = look.defaults
            self._apply_sampler_settings(defaults)
            text = (f"{name}: a {entry.distilled.capitalize()} model, so {defaults['steps']} steps, "
                    f"guidance {defaults['guidance_scale']:g}, {defaults['scheduler']} (its recommended settings)")
        elif self._settings_before_distilled is not None:
            mine, self._settings_before_distilled = self._settings_before_distilled, None
            self._apply_sampler_settings(mine)
            text = (f"Model: {name}; your {mine['steps']} steps, guidance {mine['guidance_scale']:g} "
                    f"and {mine['scheduler']} are back")
        else:
            text = f"Model: {name}"
        if _is_bundled(path) and self._guidance_before_bundled is None:
            self._guidance_before_bundled = round(self.guidance_spin.value(), 2)
            self.guidance_spin.setValue(BUNDLED_GUIDANCE)
            text += f"; guidance {BUNDLED_GUIDANCE:g}, where this small model follows prompts best"
        self.message.emit(text)

    def _use_offer(self, offer: ModelOffer) -> None:
        """The artist took a dropped image's model and/or LoRAs (Use it, under the prompt)."""
        if offer.model is not None:
            self.set_model(offer.model)  # as reusing parameters does: the image's own settings stay
        if offer.loras is not None:
            self.set_loras(offer.loras)
        self._recheck()
        self.message.emit(offer.text.replace("This image was made with", "Now using", 1))

    def _leave_bundled(self) -> None:
        """Give back the guidance the bundled model replaced, unless the artist has changed it since."""
        mine, self._guidance_before_bundled = self._guidance_before_bundled, None
        if mine is not None and round(self.guidance_spin.value(), 2) == BUNDLED_GUIDANCE:
            self.guidance_spin.setValue(mine)

    def recent_models(self) -> list[str]:
        return list(self._recent_models)

    def _sampler_settings(self) -> dict[str, Any]:
        return {"steps": self.steps_spin.value(), "guidance_scale": round(self.guidance_spin.value(), 2),
                "scheduler": self.scheduler_combo.currentText()}

    def _apply_sampler_settings(self, values: dict[str, Any]) -> None:
        self.steps_spin.setValue(int(values["steps"]))
        self.guidance_spin.setValue(float(values["guidance_scale"]))
        if values["scheduler"] in SCHEDULERS:
            self.scheduler_combo.setCurrentText(values["scheduler"])

    def _fill_models(self, current: str) -> None:
        combo = self.model_combo
        combo.blockSignals(True)
        combo.clear()
        combo.addItem(BUNDLED_MODEL_LABEL, "")
        for path in self._recent_models:
            combo.addItem(Path(path).name or path, path)
            combo.setItemData(combo.count() - 1, path, Qt.ItemDataRole.ToolTipRole)
        combo.insertSeparator(combo.count())
        combo.addItem(OPEN_FOLDER_LABEL, _OPEN_FOLDER)
        combo.setItemData(combo.count() - 1, "A diffusers folder (with model_index.json)",
                          Qt.ItemDataRole.ToolTipRole)
        combo.addItem(OPEN_FILE_LABEL, _OPEN_FILE)
        combo.setItemData(combo.count() - 1, "A single .safetensors checkpoint (SD 1.x, 2.x, SDXL)",
                          Qt.ItemDataRole.ToolTipRole)
        index = combo.findData(current)
        combo.setCurrentIndex(max(0, index))
        combo.blockSignals(False)
        # What to go back to when an Open… dialog is cancelled (the combo has moved to that entry).
        self._model_in_use = self.model()
        self._check_loras()

    def _on_model_activated(self, index: int) -> None:
        data = self.model_combo.itemData(index)
        if data == _OPEN_FOLDER:
            path = QFileDialog.getExistingDirectory(self, "Open a diffusers model folder")
        elif data == _OPEN_FILE:
            path, _ = QFileDialog.getOpenFileName(self, "Open a checkpoint file", "", CHECKPOINT_FILTER)
        else:
            path = str(data or "")
        if data in (_OPEN_FOLDER, _OPEN_FILE) and not path:  # dialog cancelled
            self._fill_models(self._model_in_use)
            return
        self.choose_model(path)

    # ---- LoRAs -------------------------------------------------------------------------------
    def loras(self) -> list[tuple[str, float]]:
        return list(self._loras)

    def set_loras(self, loras: Any) -> None:
        """The LoRAs every request carries: (path, weight) pairs; malformed pairs are dropped."""
        clean = []
        for pair in loras or ():
            if (isinstance(pair, (list, tuple)) and len(pair) == 2 and isinstance(pair[0], str) and pair[0]
                    and isinstance(pair[1], (int, float)) and not isinstance(pair[1], bool)):
                clean.append((pair[0], round(float(pair[1]), 3)))
        if tuple(clean) == self._loras:
            return
        self._loras = tuple(clean)
        self._show_loras()
        self._check_loras()
        self.lorasChanged.emit(list(self._loras))
        self.changed.emit()

    def _check_loras(self) -> None:
        """Re-read whether the ticked LoRAs fit the model (on LoRA or model change, not per
        keystroke), off the GUI thread: until the answer comes, the last one stands."""
        topic = (id(self), "lora-check")
        if not self._loras:  # nothing to read
            self.queries.forget(topic)
            self._loras_checked("")
            return
        self.queries.ask(lora_problem, self.model(), tuple(self._loras), topic=topic,
                         on_answer=self._loras_checked)

    def _loras_checked(self, problem: str) -> None:
        if problem != self._lora_problem:
            self._lora_problem = problem
            self._recheck()

    def _show_loras(self) -> None:
        text = ", ".join(f"{Path(path).stem} ({weight:.2f})" for path, weight in self._loras)
        self.loras_label.setText(text)
        self._form.setRowVisible(self.loras_label, bool(self._loras))


def _is_bundled(model: str) -> bool:
    """The empty model name means the bundled model, when it is there (else the tiny fallback)."""
    return not model and bundled_model_present()
