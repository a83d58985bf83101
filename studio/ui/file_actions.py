"""The File menu's work: open a picture onto the canvas, export the picture on the canvas (with its
parameters embedded), copy it, paste a source. Shortcuts are GIMP's, which artists have in their
hands: Ctrl+O, Ctrl+Shift+E (Export As…), Ctrl+E (export again, no dialog), Ctrl+Shift+C, Ctrl+V.

`FileActions` keeps "the current picture": the image on the canvas with the request that made it
(a finished job, a gallery entry, or an opened file that carried parameters). Writing happens on
a worker thread; the status line says where the file went, and "Show in Folder" opens it.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from PySide6.QtCore import QObject, QSettings, QStandardPaths, Qt, QUrl, Signal
from PySide6.QtGui import (
    QAction,
    QActionGroup,
    QDesktopServices,
    QGuiApplication,
    QImage,
    QKeySequence,
)
from PySide6.QtWidgets import QFileDialog, QMenu, QWidget

from studio.core.request import GenerationRequest
from studio.gallery.export import FORMATS, ExportError, export_image, save_with_parameters
from studio.ui.mask_editor import qimage_to_pil
from studio.ui.serial_worker import SerialWorker

OPEN_FILTER = "Images (*.png *.jpg *.jpeg *.webp);;All files (*)"
EXPORT_FILTERS = {"png": "PNG image (*.png)", "jpg": "JPEG image (*.jpg *.jpeg)", "webp": "WebP image (*.webp)"}
QUALITIES = (75, 85, 92, 100)
DEFAULT_QUALITY = 92


@dataclass(frozen=True)
class Picture:
    """What the canvas shows and how it was made (request None: a picture without parameters)."""

    image: QImage
    request: GenerationRequest | None = None
    info: dict[str, Any] = field(default_factory=dict)
    created: float | None = None
    record_id: int | None = None
    name: str = ""  # the file it came from, for naming an export of a picture with no prompt


def default_export_folder() -> Path:
    pictures = QStandardPaths.writableLocation(QStandardPaths.StandardLocation.PicturesLocation)
    return Path(pictures or Path.home()) / "Studio"


def write_picture(picture: Picture, path: Path | None = None, folder: Path | None = None,
                  fmt: str = "png", quality: int = DEFAULT_QUALITY) -> Path:
    """Write `picture` to exactly `path`, or into `folder` under an automatic name; parameters
    embedded when it has a request. Raises ExportError (one line)."""
    image = qimage_to_pil(picture.image)
    if picture.request is None:  # a picture without parameters is written as it is
        return _write_plain(image, picture.name, path, folder or default_export_folder(), fmt, quality)
    if path is not None:
        return save_with_parameters(image, picture.request, picture.info, path, quality)
    return export_image(image, picture.request, picture.info, folder or default_export_folder(), fmt,
                        created=picture.created or time.time(), record_id=picture.record_id,
                        quality=quality)


def _write_plain(image: Any, name: str, path: Path | None, folder: Path, fmt: str, quality: int) -> Path:
    import io

    from studio.gallery.export import free_path, sanitize_filename, write_file

    if path is None:
        path = free_path(folder, sanitize_filename(Path(name).stem or "picture"), FORMATS[fmt])
    fmt = path.suffix.lower().lstrip(".")
    buffer = io.BytesIO()
    pil_format = {"jpg": "JPEG", "jpeg": "JPEG", "webp": "WEBP"}.get(fmt, "PNG")
    options = {"quality": quality} if pil_format != "PNG" else {}
    image.save(buffer, format=pil_format, **options)
    return write_file(path, buffer.getvalue())


class FileActions(QObject):
    """The actions of the File menu. `open_source(path)` puts a file on the canvas as an editable
    source; `read_parameters(paths)` reads its parameters off the GUI thread into the prompt panel;
    `paste_source()` takes the clipboard's picture as a source."""

    message = Signal(str, bool)  # text, is an error
    exported = Signal(object)  # Path
    _written = Signal(object)  # worker -> GUI: Path or ExportError

    def __init__(self, parent: QWidget, settings: QSettings, *, open_source: Callable[[Path], bool],
                 read_parameters: Callable[[list[Path]], None] | None,
                 paste_source: Callable[[], bool]) -> None:
        super().__init__(parent)
        self._parent = parent
        self._settings = settings
        self._open_source = open_source
        self._read_parameters = read_parameters
        self._paste_source = paste_source
        self._picture: Picture | None = None
        # Set by the window: exports the gallery's selection instead when the grid has focus.
        self.export_selection: Callable[[], bool] | None = None
        self._last_export: Path | None = None
        self._writer = SerialWorker("export-writer")
        self._written.connect(self._on_written)

        self.open_action = self._action("&Open Image…", "Ctrl+O", self.open_image)
        self.export_as_action = self._action("Export &As…", "Ctrl+Shift+E", self.export_as)
        self.export_action = self._action("&Export", "Ctrl+E", self.export_again)
        self.copy_action = self._action("&Copy Image", "Ctrl+Shift+C", self.copy_image)
        self.paste_action = self._action("&Paste as Source", "Ctrl+V", self._paste)
        self.show_folder_action = self._action("Show Last Export in &Folder", "", self.show_in_folder)
        self.quality_menu = QMenu("JPEG/WebP &Quality")
        group = QActionGroup(self)
        for quality in QUALITIES:
            action = self.quality_menu.addAction(f"{quality}" + (" (smallest)" if quality == QUALITIES[0]
                                                                 else " (lossless-looking)" if quality == 100 else ""))
            action.setCheckable(True)
            action.setChecked(quality == self.quality())
            action.setData(quality)
            group.addAction(action)
        group.triggered.connect(self._set_quality)
        self._update_enabled()

    def _action(self, text: str, shortcut: str, slot: Callable[[], object]) -> QAction:
        action = QAction(text, self._parent)
        if shortcut:
            action.setShortcut(QKeySequence(shortcut))
            action.setShortcutContext(Qt.ShortcutContext.WindowShortcut)
        action.triggered.connect(lambda _checked=False: slot())
        self._parent.addAction(action)  # the shortcut works with the menu closed
        return action

    def add_to_menu(self, menu: QMenu) -> None:
        for action in (self.open_action, None, self.export_as_action, self.export_action):
            menu.addSeparator() if action is None else menu.addAction(action)
        menu.addMenu(self.quality_menu)
        menu.addAction(self.show_folder_action)
        menu.addSeparator()
        menu.addAction(self.copy_action)
        menu.addAction(self.paste_action)

    # ---- the current picture -----------------------------------------------------------------
    def set_picture(self, picture: Picture | None) -> None:
        self._picture = picture if picture is not None and not picture.image.isNull() else None
        self._update_enabled()

    def picture(self) -> Picture | None:
        return self._picture

    def _update_enabled(self) -> None:
        has = self._picture is not None
        for action in (self.export_as_action, self.export_action, self.copy_action):
            action.setEnabled(has)
        self.show_folder_action.setEnabled(self._last_export is not None)

    # ---- settings ----------------------------------------------------------------------------
    def quality(self) -> int:
        value = self._settings.value("export/quality", DEFAULT_QUALITY)
        try:
            return max(1, min(100, int(value)))
        except (TypeError, ValueError):
            return DEFAULT_QUALITY

    def _set_quality(self, action: QAction) -> None:
        self._settings.setValue("export/quality", action.data())
        self._settings.sync()

    def export_folder(self) -> Path:
        saved = self._settings.value("export/folder", "")
        return Path(saved) if isinstance(saved, str) and saved else default_export_folder()

    def export_format(self) -> str:
        saved = self._settings.value("export/format", "png")
        return saved if saved in ("png", "jpg", "webp") else "png"

    # ---- commands ----------------------------------------------------------------------------
    def open_image(self, path: str | Path | None = None) -> bool:
        if path is None:
            chosen, _ = QFileDialog.getOpenFileName(self._parent, "Open Image", str(self._open_folder()),
                                                    OPEN_FILTER)
            _reactivate(self._parent)
            if not chosen:
                return False
            path = chosen
        path = Path(path)
        if not self._open_source(path):
            return False
        self._settings.setValue("open/folder", str(path.parent))
        self._settings.sync()
        if self._read_parameters is not None:
            self._read_parameters([path])
        return True

    def _open_folder(self) -> Path:
        saved = self._settings.value("open/folder", "")
        return Path(saved) if isinstance(saved, str) and saved else self.export_folder()

    def export_as(self, path: str | Path | None = None) -> None:
        """A save dialog; the format follows the name typed (.png, .jpg, .webp)."""
        if path is None and self.export_selection is not None and self.export_selection():
            return
        if self._picture is None:
            self.message.emit("Nothing to export: make or open a picture first", False)
            return
        if path is None:
            fmt = self.export_format()
            suggestion = self.export_folder() / f"{_suggested_stem(self._picture)}{FORMATS[fmt]}"
            _make_folder(suggestion.parent)
            chosen, selected = QFileDialog.getSaveFileName(
                self._parent, "Export As", str(suggestion), ";;".join(EXPORT_FILTERS.values()),
                EXPORT_FILTERS[fmt])
            _reactivate(self._parent)
            if not chosen:
                return
            path = _with_suffix(Path(chosen), selected)
        path = Path(path)
        suffix = path.suffix.lower().lstrip(".")
        if suffix not in FORMATS:
            self.message.emit(f"Cannot export as .{suffix or '(no suffix)'}: use .png, .jpg or .webp", True)
            return
        self._settings.setValue("export/folder", str(path.parent))
        self._settings.setValue("export/format", "jpg" if suffix == "jpeg" else suffix)
        self._settings.sync()
        picture, quality = self._picture, self.quality()
        self._write(lambda: write_picture(picture, path=path, quality=quality))

    def export_again(self) -> None:
        """Ctrl+E: into the folder of the last export (or Pictures/Studio), an automatic name."""
        if self._picture is None:
            self.message.emit("Nothing to export: make or open a picture first", False)
            return
        folder, fmt, quality, picture = self.export_folder(), self.export_format(), self.quality(), self._picture
        self._write(lambda: write_picture(picture, folder=folder, fmt=fmt, quality=quality))

    def copy_image(self) -> None:
        if self._picture is None:
            self.message.emit("Nothing to copy: make or open a picture first", False)
            return
        QGuiApplication.clipboard().setImage(self._picture.image)
        self.message.emit("Copied the picture to the clipboard", False)

    def _paste(self) -> None:
        self._paste_source()

    def show_in_folder(self) -> None:
        if self._last_export is not None:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str(self._last_export.parent)))

    # ---- writing -----------------------------------------------------------------------------
    def _write(self, work: Callable[[], Path]) -> None:
        def run() -> None:
            try:
                self._written.emit(work())
            except ExportError as exc:
                self._written.emit(exc)
            except Exception as exc:  # noqa: BLE001 - a write must end in a message, never silence
                self._written.emit(ExportError(f"could not export ({exc})"))

        self._writer.submit(run)

    def wait_written(self) -> None:
        """Block until pending exports are on disk (for tests and shutdown)."""
        self._writer.wait()

    def _on_written(self, result: object) -> None:
        if isinstance(result, Exception):
            self.message.emit(f"Export failed: {result}", True)
            return
        path: Path = result  # type: ignore[assignment]
        self._last_export = path
        self._update_enabled()
        self.message.emit(f"Exported {path.name} to {path.parent} (File ▸ Show Last Export in Folder)", False)
        self.exported.emit(path)


def _make_folder(folder: Path) -> None:
    """The default export folder is made when first offered (Pictures/Studio), best effort."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError:
        pass


def _reactivate(window: QWidget) -> None:
    """Give the window back the keyboard after a dialog: window managers do, but without one (a
    bare X server) the shortcuts that follow (Ctrl+E) would reach nothing."""
    window.window().activateWindow()


def _suggested_stem(picture: Picture) -> str:
    from studio.gallery.export import DEFAULT_PATTERN, render_filename

    if picture.request is None:
        return Path(picture.name).stem or "picture"
    return render_filename(DEFAULT_PATTERN, picture.request, picture.created or time.time(),
                           picture.record_id, picture.info)


def _with_suffix(path: Path, selected_filter: str) -> Path:
    """A name typed without a suffix gets the chosen filter's."""
    if path.suffix:
        return path
    for fmt, text in EXPORT_FILTERS.items():
        if text == selected_filter:
            return path.with_name(path.name + FORMATS[fmt])
    return path.with_name(path.name + ".png")
