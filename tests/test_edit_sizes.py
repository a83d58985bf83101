"""An edit records its picture's real size, and replaying the recorded request gives the picture.

Issue 20: "the size recorded for an outpainted or varied image is the source's (128x128 recorded for
a 176x128 picture)": the request came from the prompt panel, whose size an edit does not use.
"""

from __future__ import annotations

import numpy as np
import pytest
from job_support import job_events
from PIL import Image, ImageDraw

from studio.cli import main
from studio.core.events import Finished, Started
from studio.core.metadata import request_from_image_info
from studio.core.request import GenerationRequest
from studio.engine import imageops
from studio.engine.backend import DiffusersBackend
from studio.engine.jobs import JobQueue
from studio.gallery import Gallery
from studio.gallery.export import read_image_parameters


@pytest.fixture(scope="module")
def engine():
    queue = JobQueue(DiffusersBackend())
    yield queue
    assert queue.shutdown(timeout=60)


def _run(engine: JobQueue, request: GenerationRequest) -> list:
    events = job_events(engine, request)
    assert isinstance(events[-1], Finished), events[-1]
    return events


def _noise(path, size, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB").save(path)
    return path


def _outpaint_inputs(tmp_path):
    """A 64x64 picture extended 32 px to the right, as the Edit panel's outpaint makes it."""
    picture = Image.open(_noise(tmp_path / "picture.png", (64, 64))).convert("RGB")
    canvas, mask = imageops.outpaint_canvas(picture, (0, 0, 32, 0))
    canvas.save(tmp_path / "canvas.png")
    mask.save(tmp_path / "mask.png")
    return tmp_path / "canvas.png", tmp_path / "mask.png"


@pytest.mark.parametrize("masked_only", [False, True])
def test_outpaint_records_the_output_size_and_replays_to_the_same_picture(engine, tiny_model_dir, tmp_path,
                                                                          masked_only):
    canvas, mask = _outpaint_inputs(tmp_path)
    # The prompt panel still says 64x64 (the picture's size before it was extended).
    request = GenerationRequest("a green triangle", model=str(tiny_model_dir), seed=3, steps=3, width=64,
                                height=64, init_image=str(canvas), mask_image=str(mask), strength=1.0,
                                masked_only=masked_only, masked_padding=8)
    events = _run(engine, request)
    finished = events[-1]
    assert finished.image.size == (96, 64)
    assert (finished.request.width, finished.request.height) == (96, 64)
    started = next(e for e in events if isinstance(e, Started))
    assert (started.request.width, started.request.height) == (96, 64)
    # Only the size changed; replaying what was recorded gives the picture again, bit for bit.
    assert finished.request.replace(width=64, height=64) == request
    replayed = _run(engine, GenerationRequest.from_json(finished.request.to_json()))[-1]
    assert np.array_equal(np.asarray(replayed.image), np.asarray(finished.image))
    assert replayed.request == finished.request


def test_a_variation_of_an_odd_sized_picture_records_and_replays_that_size(engine, tiny_model_dir, tmp_path):
    source = _noise(tmp_path / "photo.png", (70, 52))
    request = GenerationRequest("a green triangle", model=str(tiny_model_dir), seed=4, steps=4, width=64,
                                height=64, init_image=str(source), strength=0.5)
    finished = _run(engine, request)[-1]
    assert finished.image.size == (70, 52)
    assert (finished.request.width, finished.request.height) == (70, 52)
    recorded = GenerationRequest.from_json(finished.request.to_json()).validate()
    assert np.array_equal(np.asarray(_run(engine, recorded)[-1].image), np.asarray(finished.image))


def test_a_masked_only_inpaint_works_at_the_models_size_whatever_the_panel_says(engine, tiny_model_dir,
                                                                                 tmp_path):
    source = _noise(tmp_path / "src.png", (96, 64))
    mask = Image.new("L", (96, 64), 0)
    ImageDraw.Draw(mask).ellipse((60, 10, 84, 34), fill=255)
    mask.save(tmp_path / "mask.png")
    base = GenerationRequest("a green triangle", model=str(tiny_model_dir), seed=5, steps=3,
                             init_image=str(source), mask_image=str(tmp_path / "mask.png"), strength=1.0,
                             masked_only=True, masked_padding=8)
    images = [_run(engine, base.replace(width=w, height=h))[-1].image for w, h in ((64, 64), (128, 96))]
    assert np.array_equal(np.asarray(images[0]), np.asarray(images[1]))


def test_cli_gallery_and_export_agree_on_an_outpainted_size(tiny_model_dir, tmp_path, capsys):
    source = _noise(tmp_path / "source.png", (72, 48))
    out = tmp_path / "wider.png"
    assert main(["generate", "a green triangle", "--model", str(tiny_model_dir), "--steps", "2", "--seed", "5",
                 "--width", "64", "--height", "64", "--init-image", str(source), "--outpaint", "0,0,24,8",
                 "-o", str(out)]) == 0
    assert Image.open(out).size == (96, 56)
    assert "96x56" in capsys.readouterr().out
    embedded = request_from_image_info(read_image_parameters(out))
    assert (embedded.width, embedded.height) == (96, 56)
    with Gallery.open() as gallery:
        [record] = gallery.list()
        assert (record.request.width, record.request.height) == (96, 56)
        record_id = record.id
    exported = tmp_path / "exported"
    assert main(["gallery", "export", str(record_id), "--to", str(exported)]) == 0
    [file] = list(exported.iterdir())
    assert "Size: 96x56" in read_image_parameters(file)["parameters"]
