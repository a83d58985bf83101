"""The stored queue (queue.db beside the gallery): round trip, order, damaged rows and files, kills."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import sys
import time

import pytest
from PIL import Image

from studio.core.jobspec import JobSpec
from studio.core.request import GenerationRequest
from studio.gallery.pending import PendingJobs


def spec(prompt: str, **fields) -> JobSpec:
    return JobSpec.from_request(GenerationRequest(prompt, seed=7, steps=3, **fields))


def test_jobs_come_back_whole_and_in_the_order_submitted(studio_home, tmp_path):
    source = tmp_path / "source.png"
    Image.new("RGB", (64, 48), (200, 10, 10)).save(source)
    jobs = [spec("first"), spec("second", init_image=str(source), strength=0.5), spec("third")]
    store = PendingJobs.open()
    for job in jobs:
        store.add(job)
    store.add(jobs[0])  # stored again (a resumed job): keeps its place, no duplicate
    store.close()

    assert (studio_home / "gallery" / "queue.db").is_file()
    again = PendingJobs.open()
    assert again.pending() == jobs
    assert again.pending()[1].inputs["init_image"] == source.read_bytes()
    again.remove(jobs[1].spec_id)
    again.remove("no-such-job")
    assert [j.request.prompt for j in again.pending()] == ["first", "third"]
    again.add(jobs[1])  # a job stored after a removal goes last
    assert [j.request.prompt for j in again.pending()] == ["first", "third", "second"]
    again.clear()
    assert again.pending() == [] and len(again) == 0
    again.close()


def test_a_damaged_row_is_skipped_kept_aside_and_the_others_still_load(studio_home):
    store = PendingJobs.open()
    good, bad, last = spec("good"), spec("bad"), spec("last")
    for job in (good, bad, last):
        store.add(job)
    store.close()
    conn = sqlite3.connect(studio_home / "gallery" / "queue.db")
    blob = conn.execute("SELECT spec FROM pending WHERE spec_id = ?", (bad.spec_id,)).fetchone()[0]
    conn.execute("UPDATE pending SET spec = ? WHERE spec_id = ?", (blob[:-5], bad.spec_id))
    conn.commit()
    conn.close()

    store = PendingJobs.open()
    assert [j.request.prompt for j in store.pending()] == ["good", "last"]
    assert len(store) == 2  # no longer offered...
    store.close()
    conn = sqlite3.connect(studio_home / "gallery" / "queue.db")
    kept = conn.execute("SELECT spec_id, length(spec) FROM damaged").fetchall()
    conn.close()
    assert kept == [(bad.spec_id, len(blob) - 5)]  # ...but kept, not deleted


@pytest.mark.parametrize("damage", [b"this is not a database at all" * 100, b""])
def test_a_damaged_file_is_set_aside_and_a_new_queue_starts(studio_home, damage):
    folder = studio_home / "gallery"
    folder.mkdir()
    store = PendingJobs.open()
    store.add(spec("lost"))
    store.close()
    path = folder / "queue.db"
    if damage:
        path.write_bytes(damage)
        for side in ("queue.db-wal", "queue.db-shm"):
            (folder / side).unlink(missing_ok=True)
    else:  # a torn header: the first page overwritten
        with path.open("r+b") as f:
            f.write(b"\x00" * 100)

    store = PendingJobs.open()
    assert store.pending() == []
    assert store.notice and "kept as queue.db.corrupt-" in store.notice
    store.add(spec("new"))
    assert [j.request.prompt for j in store.pending()] == ["new"]
    store.close()
    aside = [p for p in folder.iterdir() if p.name.startswith("queue.db.corrupt-") and "-wal" not in p.name]
    assert len(aside) == 1 and aside[0].read_bytes()[:16] == (damage or b"\x00" * 100)[:16]


def test_a_newer_schema_is_refused_in_one_line(studio_home):
    PendingJobs.open().close()
    conn = sqlite3.connect(studio_home / "gallery" / "queue.db")
    conn.execute("PRAGMA user_version = 99")
    conn.close()
    from studio.gallery import GalleryError

    with pytest.raises(GalleryError, match="newer Studio") as caught:
        PendingJobs.open()
    assert "\n" not in str(caught.value)


_KILLED_WRITER = """
import os, sys
from studio.core.jobspec import JobSpec
from studio.core.request import GenerationRequest
from studio.gallery.pending import PendingJobs
store = PendingJobs.open()
n = 0
while True:
    store.add(JobSpec.from_request(GenerationRequest(f"job {n}", seed=n, steps=3)))
    n += 1
    if n == 20:
        print("ready", flush=True)
"""


def test_a_kill_in_the_middle_of_writing_leaves_every_committed_job_readable(studio_home):
    env = {**os.environ, "STUDIO_HOME": str(studio_home), "PYTHONPATH": os.getcwd()}
    proc = subprocess.Popen([sys.executable, "-c", _KILLED_WRITER], env=env, stdout=subprocess.PIPE)
    try:
        assert proc.stdout.readline().strip() == b"ready"
        time.sleep(0.05)  # let it be mid-write when killed
    finally:
        proc.kill()
        proc.wait(timeout=30)
    store = PendingJobs.open()
    prompts = [j.request.prompt for j in store.pending()]
    store.close()
    assert len(prompts) >= 20
    assert prompts == [f"job {n}" for n in range(len(prompts))]  # none lost in between, none torn


def test_adding_a_job_is_cheap(studio_home):
    store = PendingJobs.open()
    jobs = [spec(f"job {n}") for n in range(200)]
    store.add(jobs[0])  # the first opens the connection
    start = time.perf_counter()
    for job in jobs[1:]:
        store.add(job)
    per_add = (time.perf_counter() - start) / (len(jobs) - 1)
    store.close()
    assert per_add < 0.01, f"{per_add * 1000:.2f} ms per add"  # budget 2 ms; slack for a busy CI
