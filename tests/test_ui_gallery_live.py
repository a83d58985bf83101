"""LiveSession: live slider frames are scratch until kept; what "kept" means (Keep, a pause,
an export) and which frame it keeps. A recorder stands in for the gallery panel."""

from __future__ import annotations

from dataclasses import dataclass

import pytest

pytest.importorskip("PySide6")

from studio.ui.live_session import LiveSession, LiveSessions  # noqa: E402


@dataclass
class Frame:
    id: int
    scratch: str | None


class Recorder:
    """Stores at once (or later, with `hold`), as the panel's writer thread would."""

    def __init__(self) -> None:
        self.frames: list[tuple[object, str]] = []
        self.kept: list[int] = []
        self.held: list = []
        self.hold = False

    def record(self, finished, parent_id=None, scratch=None, on_stored=None) -> None:
        self.frames.append((finished, scratch))
        frame = Frame(len(self.frames), scratch)
        if self.hold:
            self.held.append(lambda: on_stored(frame))
        else:
            on_stored(frame)

    def release(self) -> None:
        for call in self.held:
            call()
        self.held.clear()

    def keep_scratch(self, record_id, on_kept=None) -> None:
        self.kept.append(record_id)
        if on_kept:
            on_kept(Frame(record_id, None))


def _session(qtbot, idle_ms: int = 60_000) -> tuple[LiveSession, Recorder]:
    session = LiveSession("test", idle_ms=idle_ms)
    recorder = Recorder()
    session.attach(recorder)
    return session, recorder


def _render(session: LiveSession, job: int, event: str) -> None:
    session.submitted(job)
    session.on_finished(job, event)


def test_frames_are_scratch_and_keep_takes_the_newest(qtbot):
    session, recorder = _session(qtbot)
    _render(session, 1, "mix 0.2")
    _render(session, 2, "mix 0.5")
    strip = session.strip
    assert [s for _e, s in recorder.frames] == [strip, strip] and recorder.kept == []
    session.on_finished(99, "not a live render")  # other jobs are not ours
    assert len(recorder.frames) == 2 and not session.owns(99) and session.owns(2)
    with qtbot.waitSignal(session.kept, timeout=1000) as kept:
        assert session.keep()
    assert recorder.kept == [2] and kept.args[0].id == 2
    assert not session.keep()  # nothing new since
    _render(session, 3, "mix 0.7")
    assert recorder.frames[-1][1] != strip  # after a keep, a new strip starts


def test_a_pause_keeps_the_frame_and_a_move_postpones_it(qtbot):
    session, recorder = _session(qtbot, idle_ms=150)
    _render(session, 1, "mix 0.2")
    qtbot.wait(80)
    session.moved()  # the hand moves again before the pause is long enough
    qtbot.wait(200)
    assert recorder.kept == []
    _render(session, 2, "mix 0.4")
    qtbot.waitUntil(lambda: recorder.kept == [2], timeout=2000)
    session.auto_keep = False
    _render(session, 3, "mix 0.6")
    qtbot.wait(300)
    assert recorder.kept == [2]  # the box off: only Keep keeps


def test_keep_before_the_frame_is_stored_keeps_it_once_stored(qtbot):
    session, recorder = _session(qtbot)
    recorder.hold = True
    _render(session, 1, "mix 0.1")
    _render(session, 2, "mix 0.3")
    assert session.keep() and recorder.kept == []
    recorder.release()  # frame 1 lands first: it must not be the one kept
    assert recorder.kept == [2]


def test_the_window_keep_takes_the_session_with_the_newest_frame(qtbot):
    sessions = LiveSessions()
    blend, blend_recorder = _session(qtbot)
    text, text_recorder = _session(qtbot)
    sessions.add(blend)
    sessions.add(text)
    assert not sessions.keep_latest()
    _render(blend, 1, "blend frame")
    _render(text, 1, "text frame")
    assert sessions.keep_latest()
    assert text_recorder.kept == [1] and blend_recorder.kept == []
    assert sessions.keep_latest() and blend_recorder.kept == [1]


def test_without_a_gallery_nothing_is_recorded(qtbot):
    session = LiveSession("alone")
    _render(session, 1, "frame")
    assert not session.has_frame() and not session.keep()
