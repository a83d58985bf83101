"""Strips: the frames' requests, rendering through a queue, and export to WebP/GIF/PNG."""

from __future__ import annotations

import pytest
from PIL import Image, ImageSequence

from studio.core.request import GenerationRequest, RequestError
from studio.engine.fake import fake_engine
from studio.engine.jobs import UserError
from studio.engine.strip import (
    contact_sheet,
    export_strip,
    render_strip,
    strip_positions,
    strip_requests,
)

BASE = GenerationRequest("a red circle", seed=5, steps=2, width=64, height=64)


def frames(n: int) -> list[Image.Image]:
    return [Image.new("RGB", (32, 24), (i * 30 % 256, 100, 200 - i * 20)) for i in range(n)]


def test_positions_hit_both_ends_exactly():
    assert strip_positions(2) == [0.0, 1.0]
    positions = strip_positions(8)
    assert positions[0] == 0.0 and positions[-1] == 1.0 and positions == sorted(positions)
    with pytest.raises(RequestError, match="between 2 and"):
        strip_positions(1)


def test_requests_walk_the_prompt_mix_and_optionally_the_seed():
    requests = strip_requests(BASE, "a blue square", 5)
    assert [r.blend_weights for r in requests] == [(0.0,), (0.25,), (0.5,), (0.75,), (1.0,)]
    assert all(r.blend_prompts == ("a blue square",) and r.seed == 5 and r.seed_b is None for r in requests)
    with_seed = strip_requests(BASE, "a blue square", 3, seed_b=9)
    assert [(r.seed_b, r.seed_mix) for r in with_seed] == [(9, 0.0), (9, 0.5), (9, 1.0)]
    with pytest.raises(RequestError, match="second prompt"):
        strip_requests(BASE, "  ", 3)


def test_render_strip_returns_frames_in_order():
    engine = fake_engine(step_delay=0.0)
    seen = []
    try:
        requests = strip_requests(BASE, "a blue square", 4)
        images = render_strip(engine, requests, lambda frame, event: seen.append(frame))
    finally:
        engine.shutdown()
    assert len(images) == 4 and all(image.size == (64, 64) for image in images)
    assert sorted(set(seen)) == [0, 1, 2, 3]


def test_render_strip_reports_a_failed_frame_and_stops_the_rest():
    engine = fake_engine(step_delay=0.01)
    try:
        requests = [BASE.replace(steps=30), BASE, BASE.replace(prompt="please FAIL"), BASE]
        with pytest.raises(UserError, match="frame 3 failed"):
            render_strip(engine, requests)
        assert engine.wait_idle(5)
    finally:
        engine.shutdown()


@pytest.mark.parametrize("suffix", [".webp", ".gif"])
def test_animated_export_has_every_frame(tmp_path, suffix):
    target = tmp_path / f"strip{suffix}"
    assert export_strip(frames(6), target, fps=10) == [target]
    with Image.open(target) as animation:
        assert animation.is_animated and animation.n_frames == 6
        assert animation.size == (32, 24)
        assert animation.info.get("loop") == 0
        durations, reds = [], []
        for frame in ImageSequence.Iterator(animation):
            frame.load()  # WebP fills in a frame's info when it is decoded
            durations.append(frame.info.get("duration"))
            reds.append(frame.convert("RGB").getpixel((5, 5))[0])
    assert durations == [100] * 6
    assert reds == sorted(reds) and reds[0] < 10 < reds[-1]  # the frames in order, not one repeated


def test_png_frames_into_a_folder_and_side_by_side(tmp_path):
    paths = export_strip(frames(3), tmp_path / "frames")
    assert [p.name for p in paths] == ["frame-001.png", "frame-002.png", "frame-003.png"]
    with Image.open(paths[2]) as third:
        assert third.getpixel((0, 0)) == (60, 100, 160)
    sheet_path = tmp_path / "sheet.png"
    export_strip(frames(3), sheet_path)
    with Image.open(sheet_path) as sheet:
        assert sheet.size == (96, 24)
        assert sheet.getpixel((70, 5)) == (60, 100, 160)
    assert contact_sheet(frames(2), gap=4).size == (68, 24)


def test_export_errors_are_one_line(tmp_path):
    with pytest.raises(UserError, match="unsupported strip format"):
        export_strip(frames(2), tmp_path / "strip.bmp")
    with pytest.raises(UserError, match="no frames"):
        export_strip([], tmp_path / "strip.gif")
    blocker = tmp_path / "file"
    blocker.write_text("x")
    with pytest.raises(UserError, match="cannot write"):
        export_strip(frames(2), blocker / "strip.gif")
    assert not list(tmp_path.glob(".*.tmp"))


def test_every_frame_is_filed_as_a_blend_whatever_its_base_said():
    base = GenerationRequest("a red circle", mode="txt2img")
    frames = strip_requests(base, "a blue square", 3)
    assert [frame.mode for frame in frames] == ["blend"] * 3
