"""Strip frames say where they stand on the walk, in the filmstrip and in exported files.

Issue 20: "every frame of a blend strip is captioned with prompt A only and records no blend
weights". A frame is captioned "A→B 40%" (B's share of the prompt mix); exported PNG frames carry
their own request (weights, seed mix) and that caption; animations say which walk they show.
"""

from __future__ import annotations

import pytest
from PIL import Image

from studio.cli import main
from studio.core.request import GenerationRequest
from studio.engine.fake import fake_engine
from studio.engine.strip import (
    export_strip,
    frame_caption,
    frame_description,
    render_strip_events,
    strip_requests,
)
from studio.gallery.export import read_image_parameters, request_from_file

BASE = GenerationRequest("a red circle", seed=5, steps=2, width=64, height=64, scheduler="Euler")


def test_captions_give_the_place_on_the_walk():
    requests = strip_requests(BASE, "a blue square", 5, seed_b=9)
    assert [frame_caption(r) for r in requests] == ["A→B 0%", "A→B 25%", "A→B 50%", "A→B 75%", "A→B 100%"]
    text = frame_description(requests[1], 1, 5)
    assert text.startswith("frame 2 of 5, A→B 25%")
    assert '"a red circle" 75%' in text and '"a blue square" 25%' in text
    assert "seed 5 → 9 at 25%" in text
    # Outside strips: a seed mix of its own is named, and more prompts get a weight each.
    assert frame_caption(BASE.replace(blend_prompts=("b",), blend_weights=(0.4,), seed_b=2, seed_mix=0.8)) \
        == "A→B 40% · seed 80%"
    assert frame_caption(BASE.replace(blend_prompts=("b", "c"), blend_weights=(0.3, 0.2))) == "A 50% · B 30% · C 20%"
    assert frame_caption(BASE.replace(seed_b=2, seed_mix=0.25)) == "seed A→B 25%"


def _frames(n: int) -> list[Image.Image]:
    return [Image.new("RGB", (16, 16), (i * 40, 90, 200)) for i in range(n)]


def test_exported_png_frames_carry_their_own_request_and_caption(tmp_path):
    requests = strip_requests(BASE, "a blue square", 3, seed_b=9)
    infos = [{"model": "studio-shapes", "model_hash": "abc123"}] * 3
    paths = export_strip(_frames(3), tmp_path / "frames", requests=requests, infos=infos)
    for path, request in zip(paths, requests, strict=True):
        assert request_from_file(path) == request  # its own weights and seed mix, exactly
    with Image.open(paths[1]) as middle:
        assert middle.info["Description"].startswith("frame 2 of 3, A→B 50%")
    assert "Model hash: abc123" in read_image_parameters(paths[1])["parameters"]


@pytest.mark.parametrize("suffix", [".gif", ".webp", ".png"])
def test_animations_and_the_sheet_say_which_walk_they_show(tmp_path, suffix):
    requests = strip_requests(BASE, "a blue square", 3)
    [path] = export_strip(_frames(3), tmp_path / f"strip{suffix}", requests=requests)
    with Image.open(path) as image:
        if suffix == ".gif":
            text = image.info["comment"].decode("utf-8")
        elif suffix == ".webp":
            text = image.getexif()[0x010E]
        else:
            text = image.info["Description"]
    assert '3 frames from "a red circle" to "a blue square"' in text
    assert "0%, 50%, 100%" in text


def test_rendered_frames_record_their_weights(tmp_path):
    engine = fake_engine(step_delay=0.0)
    try:
        finished = render_strip_events(engine, strip_requests(BASE, "a blue square", 3, seed_b=9))
    finally:
        engine.shutdown()
    assert [(e.request.blend_weights, e.request.seed_mix) for e in finished] == [
        ((0.0,), 0.0), ((0.5,), 0.5), ((1.0,), 1.0)]


def test_cli_strip_frames_reopen_as_their_own_requests(tiny_model_dir, tmp_path, capsys):
    folder = tmp_path / "frames"
    assert main(["strip", "a red circle", "--to-prompt", "a blue square", "--frames", "3", "--steps", "1",
                 "--seed", "4", "--seed-b", "8", "--model", str(tiny_model_dir), "-o", str(folder)]) == 0
    capsys.readouterr()
    middle = request_from_file(folder / "frame-002.png")
    assert (middle.blend_prompts, middle.blend_weights, middle.seed_b, middle.seed_mix) == (
        ("a blue square",), (0.5,), 8, 0.5)
    with Image.open(folder / "frame-002.png") as image:
        assert "A→B 50%" in image.info["Description"]


# ---- the window ------------------------------------------------------------------------------------
@pytest.mark.usefixtures("qapp")
def test_filmstrip_cells_are_captioned_and_the_gallery_keeps_each_frames_weights(qtbot, tmp_path):
    from studio.ui.gallery_model import RecordRole
    from studio.ui.main_window import MainWindow

    window = MainWindow(engine_factory=lambda: fake_engine(step_delay=0.001))
    qtbot.addWidget(window)
    try:
        panel = window.blend_panel
        panel.live_check.setChecked(False)  # only the strip's frames: no live render of the edits
        window.prompt_panel.prompt_edit.setPlainText("a violet ring")
        panel.prompt_b.setText("a grey cloud")
        panel.seed_a.setText("3")
        panel.seed_b.setText("4")
        panel.strip.walk_seeds_check.setChecked(True)
        panel.strip.frames_spin.setValue(3)
        assert len(panel.render_strip()) == 3
        strip = panel.strip
        assert [strip.caption(i) for i in range(3)] == ["1 · A→B 0%", "2 · A→B 50%", "3 · A→B 100%"]
        tip = strip.filmstrip.item(1).toolTip()
        assert '"a violet ring" 50%' in tip and '"a grey cloud" 50%' in tip and "3 → 4" in tip
        gallery = window.gallery_panel
        # The frames are stacked under the first: one tile of 3 (every picture with stacks off).
        qtbot.waitUntil(lambda: len(strip.frames()) == 3 and gallery.model.total() == 1
                        and gallery.model.index(0).data(RecordRole).stack_size == 3, timeout=10000)
        assert gallery.model.index(0).data(RecordRole).request.blend_weights == (0.0,)
        gallery.stacks_button.setChecked(False)
        assert gallery.model.total() == 3
        recorded = sorted((gallery.model.index(i).data(RecordRole).request for i in range(3)),
                          key=lambda r: r.blend_weights)
        assert [(r.blend_weights, r.seed_b, r.seed_mix) for r in recorded] == [
            ((0.0,), 4, 0.0), ((0.5,), 4, 0.5), ((1.0,), 4, 1.0)]
        paths = strip.export_to(tmp_path / "frames")
        assert [request_from_file(p).blend_weights for p in paths] == [(0.0,), (0.5,), (1.0,)]
    finally:
        window.close()
