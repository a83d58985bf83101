"""A queue that survives restart: jobs still waiting when the window closes are offered at the next
launch (Resume / Discard); a job that ended is never offered again (offscreen Qt, fake engine)."""

from __future__ import annotations

import pytest
from PIL import Image

from studio.core.jobspec import JobSpec
from studio.core.request import GenerationRequest
from studio.engine.fake import fake_engine
from studio.gallery.pending import PendingJobs
from studio.ui.main_window import MainWindow
from studio.ui.resume_offer import offer_text

pytestmark = pytest.mark.usefixtures("qapp")

SLOW = 2.0  # seconds per step: nothing finishes while the first window is open


def open_window(qtbot, step_delay: float) -> MainWindow:
    window = MainWindow(engine_factory=lambda: fake_engine(step_delay=step_delay))
    qtbot.addWidget(window)
    window.show()
    qtbot.waitUntil(window.isVisible, timeout=5000)
    return window


def queue(window: MainWindow, prompt: str, steps: int = 3) -> int:
    panel = window.prompt_panel
    panel.prompt_edit.setPlainText(prompt)
    panel.steps_spin.setValue(steps)
    panel.set_size(64, 64)
    job = window.generate()
    assert job is not None
    return job


def stored_prompts() -> list[str]:
    store = PendingJobs.open()
    try:
        return [spec.request.prompt for spec in store.pending()]
    finally:
        store.close()


def close(window: MainWindow) -> None:
    window.shutdown_timeout = 10.0
    window.close()


def test_jobs_waiting_at_close_are_offered_and_resume_runs_them_into_the_gallery(qtbot):
    first = open_window(qtbot, SLOW)
    queue(first, "a red cube")
    queue(first, "a blue sphere")
    first.parts.pending.wait()
    assert stored_prompts() == ["a red cube", "a blue sphere"]
    close(first)
    assert stored_prompts() == ["a red cube", "a blue sphere"]  # closing is not cancelling

    second = open_window(qtbot, 0.001)
    offer = second.parts.resume_offer
    qtbot.waitUntil(offer.isVisible, timeout=5000)
    assert offer.label.text() == "2 pictures were waiting when Studio closed (first: “a red cube”)."
    assert not second.bridge.engine_started or not second.bridge.jobs()  # nothing runs unasked
    with qtbot.waitSignals([second.bridge.finished, second.bridge.finished], timeout=20000):
        offer.resume_button.click()
    assert not offer.isVisible()
    gallery = second.gallery_panel
    gallery.wait_recorded()
    records = gallery.gallery.list()
    assert sorted(r.request.prompt for r in records) == ["a blue sphere", "a red cube"]
    qtbot.waitUntil(lambda: second.parts.pending.wait() or stored_prompts() == [], timeout=5000)
    # finished: never offered again
    close(second)

    third = MainWindow(engine_factory=lambda: fake_engine(step_delay=0.001))
    qtbot.addWidget(third)
    with qtbot.waitSignal(third.parts.pending.loaded, timeout=5000) as loaded:
        third.show()
    assert loaded.args == [[]]
    assert not third.parts.resume_offer.isVisible()
    close(third)


def test_discard_empties_the_store_but_keeps_jobs_queued_since(qtbot):
    first = open_window(qtbot, SLOW)
    queue(first, "old one")
    queue(first, "old two")
    close(first)

    second = open_window(qtbot, SLOW)
    offer = second.parts.resume_offer
    qtbot.waitUntil(offer.isVisible, timeout=5000)
    queue(second, "new one")  # queued before the artist answers the bar
    offer.discard_button.click()
    assert not offer.isVisible()
    second.parts.pending.wait()
    assert stored_prompts() == ["new one"]
    close(second)


def test_finished_cancelled_and_failed_jobs_leave_the_store(qtbot):
    window = open_window(qtbot, 0.001)
    with qtbot.waitSignal(window.bridge.finished, timeout=10000):
        queue(window, "finishes")
    with qtbot.waitSignal(window.bridge.failed, timeout=10000):
        queue(window, "FAIL please")  # the fake engine refuses prompts containing FAIL
    window.parts.pending.wait()
    assert stored_prompts() == []

    window.bridge.ensure_engine()._backend.step_delay = SLOW
    job = queue(window, "cancelled", steps=50)
    with qtbot.waitSignal(window.bridge.cancelled, timeout=10000):
        window.bridge.cancel(job)
    window.parts.pending.wait()
    assert stored_prompts() == []
    close(window)


def test_a_resumed_inpaint_runs_on_the_pictures_it_was_queued_with(qtbot, tmp_path, studio_home):
    source, mask = tmp_path / "source.png", tmp_path / "mask.png"
    Image.new("RGB", (64, 64), (10, 200, 10)).save(source)
    Image.new("L", (64, 64), 255).save(mask)
    request = GenerationRequest("fix the sky", seed=3, steps=2, width=64, height=64, init_image=str(source),
                                mask_image=str(mask))
    spec = JobSpec.from_request(request)
    store = PendingJobs.open()
    store.add(spec)
    store.close()
    Image.new("L", (64, 64), 0).save(mask)  # the editor rewrote the mask after the job was queued
    source.unlink()  # and the source is gone

    window = open_window(qtbot, 0.001)
    offer = window.parts.resume_offer
    qtbot.waitUntil(offer.isVisible, timeout=5000)
    with qtbot.waitSignal(window.bridge.finished, timeout=10000) as finished:
        offer.resume_button.click()
    ran = finished.args[2].request
    assert open(ran.mask_image, "rb").read() == spec.inputs["mask_image"]
    assert open(ran.init_image, "rb").read() == spec.inputs["init_image"]
    close(window)


def test_a_damaged_queue_file_leaves_a_working_window_and_says_so(qtbot, studio_home):
    (studio_home / "gallery").mkdir()
    (studio_home / "gallery" / "queue.db").write_bytes(b"garbage" * 200)
    window = open_window(qtbot, 0.001)
    assert "list of waiting pictures was damaged" in window.banner.text()
    with qtbot.waitSignal(window.bridge.finished, timeout=10000):
        queue(window, "still works")
    close(window)


def test_the_offer_names_the_count_and_the_first_prompt_in_one_line():
    one = JobSpec.from_request(GenerationRequest("  a   cat\non a mat "))
    long = JobSpec.from_request(GenerationRequest("x" * 200))
    assert offer_text([one]) == "1 picture was waiting when Studio closed (“a cat on a mat”)."
    text = offer_text([long, one, one])
    assert text.startswith("3 pictures were waiting") and "…" in text and len(text) < 140


def test_a_queue_file_that_cannot_open_leaves_a_working_window_and_says_so(qtbot, monkeypatch):
    from studio.gallery import GalleryError

    def refuse(cls, home=None):
        raise GalleryError("cannot create the folder /nowhere (Permission denied)")

    monkeypatch.setattr(PendingJobs, "open", classmethod(refuse))
    window = open_window(qtbot, 0.001)
    assert window.parts.pending is None
    assert window.banner.text() == ("Waiting pictures will not be kept if Studio closes: cannot create the "
                                    "folder /nowhere (Permission denied)")
    with qtbot.waitSignal(window.bridge.finished, timeout=10000):
        queue(window, "still works")
    close(window)


def test_a_finished_job_leaves_the_store_only_once_its_picture_is_on_disk(qtbot, monkeypatch):
    import threading

    window = open_window(qtbot, 0.001)
    gallery = window.gallery_panel
    release = threading.Event()
    real_add = gallery.gallery.add

    def slow_add(*args, **kwargs):  # a slow disk: the picture is not stored yet
        assert release.wait(10)
        return real_add(*args, **kwargs)

    monkeypatch.setattr(gallery.gallery, "add", slow_add)
    with qtbot.waitSignal(window.bridge.finished, timeout=10000):
        queue(window, "a slow save")
    for _ in range(20):  # plenty of chances for an early removal to happen
        qtbot.wait(10)
        window.parts.pending.wait()
    assert stored_prompts() == ["a slow save"]  # a kill now would offer it again, not lose it
    release.set()
    gallery.wait_recorded()
    qtbot.waitUntil(lambda: window.parts.pending.wait() or stored_prompts() == [], timeout=5000)
    assert [r.request.prompt for r in gallery.gallery.list()] == ["a slow save"]
    close(window)
