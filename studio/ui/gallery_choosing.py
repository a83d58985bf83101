"""The gallery panel's choosing actions: ratings, stacks (expand, back, set cover), boards as a
filter, and a kept live frame's strip. A mixin of GalleryPanel, like gallery_actions.
"""

from __future__ import annotations

from studio.gallery import GalleryError, Record


class GalleryChoosing:
    """Ratings, stacks, boards and live-frame strips on the panel's selection."""

    # ---- selection ---------------------------------------------------------------------------
    def selected_records(self) -> list[Record]:
        """The selected tiles (or the current one), in grid order."""
        rows = self.view.selected_rows()
        records = [r for r in (self.model.record_at(row) for row in rows) if r is not None]
        return records or ([self._current] if self._current is not None else [])

    # ---- ratings -----------------------------------------------------------------------------
    def rate_selected(self, rating: int) -> None:
        """Keys 0–5: rate every selected tile (0 clears)."""
        records = self.selected_records()
        if not records:
            return
        try:
            self.gallery.set_rating([r.id for r in records], rating)
        except GalleryError as exc:
            self._error(str(exc))
            return
        for record in records:
            self._after_change(record.id)
        many = len(records) != 1
        self.status.setText(f"Rated {len(records)} image{'s' if many else ''} {rating}/5" if rating
                            else f"Cleared the rating of {len(records)} image{'s' if many else ''}")

    # ---- stacks ------------------------------------------------------------------------------
    def expand_stack(self, record: Record | None = None) -> bool:
        """Show the members of the current tile's stack in the grid (Back returns)."""
        record = record or self._current
        if record is None:
            return False
        try:
            members = self.gallery.stack_members(record.id)
        except GalleryError as exc:
            self._error(str(exc))
            return False
        if len(members) < 2:
            return False
        self._stack_head = record.stack_id or record.id
        self.model.show_only(members)
        self.stack_bar_label.setText(f"Stack of {len(members)}: {members[0].prompt[:40]}")
        self.stack_bar.show()
        self._show_detail(None)
        return True

    def collapse_stack(self) -> None:
        """Back from a stack to the listing it was opened from."""
        if self.model.fixed is None:
            return
        head = self._stack_head
        self.stack_bar.hide()
        self.model.reload(self.filters())
        self._show_detail(None)
        if head is not None:
            self.show_record(head)

    def in_stack(self) -> bool:
        return self.model.fixed is not None

    def set_cover(self) -> None:
        """Make the current member the picture its stack's tile shows."""
        record = self._current
        if record is None:
            return
        try:
            self.gallery.set_cover(record.id)
        except GalleryError as exc:
            self._error(str(exc))
            return
        if self.in_stack():
            try:
                self.model.show_only(self.gallery.stack_members(record.id))
            except GalleryError as exc:
                self._error(str(exc))
        self.status.setText("This picture now stands for its stack.")

    # ---- boards ------------------------------------------------------------------------------
    def set_board(self, name: str | None) -> None:
        """Show one board's pictures (None: the whole gallery)."""
        self._board = name
        self.board_label.setText(f"Board: {name}" if name else "")
        self.board_label.setVisible(bool(name))
        self.stack_bar.hide()
        self.apply_filters()

    # ---- live frames -------------------------------------------------------------------------
    def live_session_of(self, record: Record) -> str | None:
        try:
            return self.gallery.scratch_session_of(record.id)
        except GalleryError:
            return None

    def open_live_frames(self) -> None:
        """The kept picture's strip of live frames, with Keep on any of them."""
        from studio.ui.live_frames import LiveFramesDialog

        record = self._current
        session = self.live_session_of(record) if record is not None else None
        if session is None:
            return
        dialog = LiveFramesDialog(self.gallery, session, self)
        dialog.keepRequested.connect(lambda frame_id: self.keep_scratch(frame_id))
        dialog.show()
        self._live_dialog = dialog
