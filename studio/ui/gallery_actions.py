"""The gallery panel's actions: favourite, tags, delete with undo, and recording finished jobs on
a worker thread. A mixin of GalleryPanel (it uses the panel's widgets, model and signals), kept
apart so each file stays readable.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from typing import Any

from studio.gallery import GalleryError, Record

log = logging.getLogger(__name__)

PURGE_AFTER = 30 * 86400.0  # deleted entries keep their files this long


class GalleryActions:
    """What the artist does to entries, and the worker thread that writes to the gallery."""

    def _emit_record(self, signal) -> None:
        if self._current is not None:
            signal.emit(self._current)

    def _reuse(self) -> None:
        if self._current is not None:
            self.reuseParameters.emit(self._current.request)

    def _on_favourite(self, checked: bool) -> None:
        record = self._current
        if record is None:
            return
        try:
            self.gallery.set_favourite(record.id, checked)
        except GalleryError as exc:
            self._error(str(exc))
            return
        self._after_change(record.id)

    def _on_tags(self) -> None:
        record = self._current
        if record is None:
            return
        wanted = [" ".join(t.split()) for t in self.tags.text().split(",")]
        wanted_set = {t for t in wanted if t}
        try:
            for tag in set(record.tags) - wanted_set:
                self.gallery.remove_tag(record.id, tag)
            for tag in wanted_set - set(record.tags):
                self.gallery.add_tag(record.id, tag)
        except GalleryError as exc:
            self._error(str(exc))
        self._after_change(record.id)

    def _after_change(self, record_id: int) -> None:
        try:
            fresh = self.model.refresh(record_id) or self.gallery.get(record_id)
        except GalleryError as exc:
            self._error(str(exc))
            return
        if not self.model.matches(fresh):
            self.model.take(record_id)  # e.g. un-favourited while showing favourites only
        if self._current is not None and self._current.id == record_id:
            self._show_detail(fresh)

    def delete_selected(self) -> None:
        """Soft-delete the selected entries; Undo (button or Ctrl+Z) brings them back."""
        rows = self.view.selected_rows()
        if not rows and self._current is not None:
            rows = [self.model.row_of(self._current.id)]
        records = [r for r in (self.model.record_at(row) for row in rows) if r is not None]
        for record in records:
            try:
                self.gallery.delete(record.id)
            except GalleryError as exc:
                self._error(str(exc))
                continue
            self._undo.append((self.model.take(record.id), record.id))
        if records:
            self.boards.refresh()  # boards count live pictures
            self.undo_button.show()
            self.status.setText(f"Deleted {len(records)} image{'s' if len(records) != 1 else ''}.")
            self._show_detail(None)

    def undo_delete(self) -> None:
        """Bring back the most recently deleted entry, at its place in the grid."""
        if not self._undo:
            return
        row, record_id = self._undo.pop()
        try:
            self.gallery.undelete(record_id)
            record = self.gallery.get(record_id)
        except GalleryError as exc:
            self._error(str(exc))
            return
        if self.model.matches(record):
            self.model.put(row if row >= 0 else 0, record)
            self.show_record(record_id)
        self.undo_button.setVisible(bool(self._undo))
        self.boards.refresh()
        self.status.setText("Restored.")

    # ---- recording new images ----------------------------------------------------------------
    def leave_out(self, rule: Callable[[int], bool]) -> None:
        """Don't record finished jobs for which `rule(job_id)` is true (e.g. live blend renders
        the artist chose not to keep)."""
        self._leave_out.append(rule)

    def record_finished(self, job_id: int, finished: Any) -> None:
        """The bridge's finished signal: record the job unless a rule leaves it out."""
        group = self._job_stacks.pop(job_id, None)
        if not any(rule(job_id) for rule in self._leave_out):
            self.record(finished, on_stored=None if group is None else
                        lambda record: self._stack_stored(group, job_id, record))

    def stack_jobs(self, job_ids: Sequence[int]) -> None:
        """Stack the pictures these jobs make under the first job's, as each is stored (a blend
        strip's frames; like `studio sweep` stacks a batch under its first image)."""
        if len(job_ids) < 2:
            return
        group: dict[str, Any] = {"head": job_ids[0], "ids": {}}  # ids: job id -> record id
        for job_id in job_ids:
            self._job_stacks[job_id] = group

    def _stack_stored(self, group: dict[str, Any], job_id: int, record: Record) -> None:
        """On the GUI thread, once a job of a stacked group is stored: stack what is stored so far
        under the head (when the head is), on the writer thread, then update the grid."""
        group["ids"][job_id] = record.id
        head = group["ids"].get(group["head"])
        members = [i for j, i in group["ids"].items() if j != group["head"]]
        if head is None or not members:
            return

        def stack() -> None:
            try:
                self.gallery.make_stack(head, members)
                self._restacked.emit([head, *members])
            except GalleryError as exc:
                self._stored.emit((exc, None))

        self._background(stack)

    def _on_restacked(self, ids: list[int]) -> None:
        self.model.forget_counts()
        for record_id in ids:  # members leave the grid, the head's tile shows the stack's size
            self._after_change(record_id)

    def record(self, finished: Any, parent_id: int | None = None, scratch: str | None = None,
               on_stored: Callable[[Record], None] | None = None) -> None:
        """Store a Finished event off the GUI thread (PNG encoding takes a moment), then show it
        first in the grid. The parent defaults to the gallery entry the request started from.
        With `scratch` (a live slider's strip id) it is a scratch frame: stored, not shown;
        `on_stored(record)` runs on the GUI thread once it is stored."""

        def store() -> None:
            try:
                parent = parent_id
                init = getattr(finished.request, "init_image", None)
                if parent is None and init:
                    found = self.gallery.find_source(init)
                    parent = found.id if found else None
                self._stored.emit((self.gallery.add(finished, parent_id=parent, scratch=scratch), on_stored))
            except GalleryError as exc:
                self._stored.emit((exc, None))
            except Exception as exc:  # never lose the event silently
                log.exception("recording to the gallery failed")
                self._stored.emit((GalleryError(f"could not record the image: {exc}"), None))

        self._background(store)

    def keep_scratch(self, record_id: int, on_kept: Callable[[Record], None] | None = None) -> None:
        """Make a scratch frame a gallery record (after the writes queued before it)."""

        def keep() -> None:
            try:
                self._stored.emit((self.gallery.keep(record_id), on_kept))
            except GalleryError as exc:
                self._stored.emit((exc, None))

        self._background(keep)

    def _background(self, work) -> None:
        # One worker thread for all gallery writes, so they never race each other.
        self._writer.submit(work)

    def clean_in_background(self, min_age: float = 600.0, purge_after: float = PURGE_AFTER,
                            scratch_after: float | None = None) -> None:
        """On the worker thread: list image files the database does not know (never delete them),
        remove temp files a crashed writer left behind, entries deleted more than `purge_after`
        seconds ago (deleting is undoable until then) and live frames never kept, older than
        `scratch_after` (None: the gallery's default, 7 days)."""

        def clean() -> None:
            try:
                adopted = self.gallery.clean_orphans(min_age)
                if adopted:
                    many = len(adopted) != 1
                    self._healed.emit(f"{len(adopted)} picture{'s' if many else ''} missing from the "
                                      f"gallery's list {'were' if many else 'was'} found in its folder "
                                      "and added back.")
                if scratch_after is None:
                    self.gallery.purge_deleted(purge_after)
                else:
                    self.gallery.purge_deleted(purge_after, scratch_older_than=scratch_after)
            except Exception:  # housekeeping: never worth a message
                log.exception("gallery clean-up failed")

        self._background(clean)

    def after_recorded(self, work: Callable[[], None]) -> None:
        """Run `work` on the writer thread once every picture queued for recording so far is
        stored (or failed): what must not happen before a picture is safe on disk."""
        self._background(work)

    def wait_recorded(self) -> None:
        """Block until pending recordings are stored (for tests and shutdown)."""
        self._writer.wait()

    def _on_stored(self, stored: tuple[object, Callable[[Record], None] | None]) -> None:
        result, then = stored
        if isinstance(result, Exception):
            self._error(str(result))
            return
        record: Record = result  # type: ignore[assignment]
        if then is not None:
            then(record)
        if getattr(record, "scratch", None):
            return  # a live frame nobody chose yet: in its strip, not in the grid
        if self.model_filter.findData(record.model_name) < 0:
            self._fill_models()
        if self.model.matches(record):
            self.model.put(0, record)
        elif record.stack_id is not None:  # joined a stack: its tile's count (and details) change
            self._after_change(record.stack_id)
        self.recorded.emit(record)
