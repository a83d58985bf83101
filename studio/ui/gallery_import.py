"""Reading the parameters of images dropped on the gallery panel, off the GUI thread.

A drop queues each file on one reader thread, so a slow or malformed file never freezes the window.
Each result comes back to the GUI thread as a signal: `parametersImported` with a DroppedParameters,
or a one-line message naming the file. What the image says about its model and LoRAs is vetted on
the reader thread too (studio.core.import_policy), since listing the artist's models reads files;
the prompt panel then only shows the change and asks. A mixin of GalleryPanel.
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from PySide6.QtGui import QDragEnterEvent, QDropEvent

from studio.core.import_policy import KnownModel, ModelHints, VettedModels, vet_models
from studio.core.metadata import MetadataError
from studio.core.request import GenerationRequest

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class DroppedParameters:
    """An image's parameters, and the model and LoRAs it names that may be loaded."""

    path: Path
    request: GenerationRequest
    models: VettedModels
    sources_missing: tuple[str, ...] = ()  # source images or masks it names that are not here


def read_dropped(path: Path) -> DroppedParameters:
    """Read `path`'s embedded parameters and vet the models it names (slow: call off the GUI
    thread). MetadataError (one line) when the file has no parameters Studio can use."""
    from studio.gallery import export  # looked up at call time, so tests can slow it down

    found = export.parameters_from_file(path)
    request = found["request"]
    hints = _hints(found)
    names_any = ((hints.names_model and request.model) or (hints.names_loras and request.loras)
                 or hints.model_name or hints.model_hash)
    known, roots, bundled = _library() if names_any else ((), (), "")
    return DroppedParameters(Path(path), request, vet_models(request, hints, known, roots, bundled),
                             tuple(found.get("missing") or ()))


def _hints(found: dict) -> ModelHints:
    """Whether the file is Studio's own (its model and LoRAs are then meaningful) and the model
    name and hash another tool wrote, from what the reader found (the file is read once)."""
    from studio.core.metadata import STUDIO_KEY

    own = found.get("source") == STUDIO_KEY
    return ModelHints(names_model=own, names_loras=own, model_name=str(found.get("model_name") or ""),
                      model_hash=str(found.get("model_hash") or ""))


def _library() -> tuple[list[KnownModel], list[str], str]:
    """The artist's models and LoRAs, Studio's model folders, and the bundled model's folder."""
    from studio.core.paths import bundled_model_path
    from studio.core.settings import load_settings
    from studio.engine.models import cached_sha256, hf_cache_dir, list_models

    try:
        settings = load_settings()
        known = [KnownModel(e.path, e.name, e.kind == "lora", cached_sha256(e.path))
                 for e in list_models(settings)
                 if not e.error and e.kind in ("diffusers", "checkpoint", "lora")]
        roots = [str(settings.resolved_models_dir()), str(bundled_model_path()), str(hf_cache_dir())]
    except Exception:  # an unreadable library: every model the image names is then "not found"
        log.exception("listing models for an imported image failed")
        return [], [], ""
    return known, roots, str(bundled_model_path())


def _one_line(exc: BaseException) -> str:
    text = " ".join(str(exc).split()) or type(exc).__name__
    return text if len(text) <= 160 else text[:159] + "…"


class DropImport:
    """Drop handling of GalleryPanel (needs its `_read`/`parametersImported` signals, `status`,
    `view`, `_error` and a `_reader` attribute)."""

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802 - Qt's name
        if event.source() is not self.view and _local_files(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802 - Qt's name
        paths = _local_files(event.mimeData())
        if not paths or event.source() is self.view:
            event.ignore()
            return
        event.acceptProposedAction()
        self.import_files(paths)

    def import_files(self, paths: Sequence[Path | str]) -> None:
        """Read each image's embedded parameters on the reader thread (in order); each arrives as
        `parametersImported`, each failure as a one-line message naming the file. Returns at once."""
        for path in paths:
            self._reader.submit(self._read_one, Path(path))

    def import_file(self, path: Path | str) -> None:
        """One image: see import_files()."""
        self.import_files([path])

    def _read_one(self, path: Path) -> None:  # on the reader thread
        result: DroppedParameters | MetadataError
        try:
            result = read_dropped(path)
        except MetadataError as exc:
            result = exc.for_file(path)  # its message names the file once
        except Exception as exc:  # last line of defence: a malformed file never reaches Qt
            log.exception("reading the parameters of %s failed", path)
            result = MetadataError(f"could not read its parameters ({_one_line(exc)})", path)
        try:
            self._read.emit(result)
        except RuntimeError:  # the panel was deleted meanwhile: nobody to tell
            log.debug("import of %s finished after the panel closed", path)

    def _on_read(self, result: object) -> None:
        if isinstance(result, Exception):
            self._error(str(result))
            return
        assert isinstance(result, DroppedParameters)
        self.status.setText(f"Parameters read from {result.path.name}.")
        self.parametersImported.emit(result)

    def wait_imports(self) -> None:
        """Block until queued imports are read (for tests); their signals arrive with the event loop."""
        self._reader.wait()

    def stop_imports(self) -> None:
        """Drop imports not started yet (on close); one being read finishes on its own."""
        self._reader.stop()


def _local_files(mime) -> list[Path]:  # noqa: ANN001 - QMimeData
    return [Path(u.toLocalFile()) for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []
