"""The round trip (issue 22): generate on the tiny pipeline, export as PNG, JPEG and WebP, open the
file with Studio's reader, generate again from what it read, and get the very same pixels. Once
from Studio's own JSON, and once from the A1111 `parameters` text alone, as a file comes back when
another tool kept only that."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from studio.core.events import Failed, Finished
from studio.core.request import GenerationRequest
from studio.core.settings import EngineSettings
from studio.engine.backend import DiffusersBackend
from studio.engine.jobs import JobQueue
from studio.gallery.export import export_image
from studio.gallery.image_reader import request_from_file as read_request

FORMATS = ["png", "jpg", "webp"]


@pytest.fixture(scope="module")
def engine():
    queue = JobQueue(DiffusersBackend(EngineSettings()))
    yield queue
    assert queue.shutdown(timeout=60)


def generate(queue: JobQueue, request: GenerationRequest) -> Finished:
    events: list = []
    unsubscribe = queue.subscribe(events.append)
    try:
        job_id = queue.submit(request)
        assert queue.wait_idle(timeout=120)
    finally:
        unsubscribe()
    mine = [e for e in events if e.job_id == job_id]
    assert not [e for e in mine if isinstance(e, Failed)], mine
    [finished] = [e for e in mine if isinstance(e, Finished)]
    return finished


def pixels(image: Image.Image) -> np.ndarray:
    return np.asarray(image.convert("RGB"))


@pytest.fixture(scope="module")
def first(engine, tiny_model_dir):
    """One picture whose request uses what the A1111 text can say, and a non-default of each."""
    request = GenerationRequest("a lighthouse at dusk, (volumetric light:1.2)", negative_prompt="blurry, lowres",
                                seed=3_000_000_123, steps=3, guidance_scale=6.5, width=64, height=64,
                                scheduler="DPM++ 2M Karras", model=str(tiny_model_dir))
    return generate(engine, request)


def only_parameters(path, fmt: str) -> bytes:
    """The file as a tool that keeps only the A1111 text writes it: Studio's JSON gone."""
    with Image.open(path) as image:
        image.load()
        out = io.BytesIO()
        if fmt == "png":
            text = PngImagePlugin.PngInfo()
            text.add_itxt("parameters", image.info["parameters"])
            image.save(out, format="PNG", pnginfo=text)
        else:
            image.save(out, format="JPEG" if fmt == "jpg" else "WEBP", exif=image.info["exif"])
    return out.getvalue()


@pytest.mark.parametrize("fmt", FORMATS)
def test_an_export_regenerates_the_same_pixels(engine, first, tiny_model_dir, tmp_path, fmt):
    path = export_image(first.image, first.request, first.info, tmp_path, fmt)
    back = read_request(path)
    # The file names the model, never a local folder (issue 20): the artist's copy is used again.
    assert back.model and str(tmp_path) not in back.model and back.model != first.request.model
    assert back.replace(model=first.request.model) == first.request
    again = generate(engine, back.replace(model=str(tiny_model_dir)))
    assert np.array_equal(pixels(again.image), pixels(first.image))


@pytest.mark.parametrize("fmt", FORMATS)
def test_the_a1111_text_alone_regenerates_the_same_pixels(engine, first, tiny_model_dir, tmp_path, fmt):
    exported = export_image(first.image, first.request, first.info, tmp_path, fmt)
    path = tmp_path / f"kept-by-another-tool.{fmt}"
    path.write_bytes(only_parameters(exported, fmt))
    with Image.open(path) as image:
        assert "xmp" not in image.info and "studio" not in image.info  # really the text alone
    back = read_request(path)
    again = generate(engine, back.replace(model=str(tiny_model_dir)))
    assert back.replace(model=first.request.model) == first.request
    assert np.array_equal(pixels(again.image), pixels(first.image))
