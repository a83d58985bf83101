"""Variations and inpainting end to end through the real engine with tiny random pipelines.

The tiny models paint noise, so these tests check the plumbing that must hold for any model:
exact source pixels outside the feathered mask, strength 0 = the source, the 4- and 9-channel
paths, previews, cancel, and one-line messages for bad input.
"""

from __future__ import annotations

import numpy as np
import pytest
from job_support import job_events
from PIL import Image, ImageDraw

from studio.core.events import Cancelled, Failed, Finished, JobWarning, Preview, Progress, Started
from studio.core.request import GenerationRequest
from studio.engine import imageops
from studio.engine.backend import DiffusersBackend
from studio.engine.jobs import JobQueue


@pytest.fixture(scope="module")
def engine():
    queue = JobQueue(DiffusersBackend())
    yield queue
    queue.shutdown()


@pytest.fixture(scope="session")
def tiny_inpaint_model_dir(tmp_path_factory):
    """The tiny pipeline with a 9-input-channel UNet, as inpainting checkpoints have."""
    from diffusers import UNet2DConditionModel

    from studio.engine._tiny import build_tiny_pipeline

    pipe = build_tiny_pipeline(seed=1)
    config = {**pipe.unet.config, "in_channels": 9}
    pipe.register_modules(unet=UNet2DConditionModel.from_config(config))
    path = tmp_path_factory.mktemp("models") / "tiny-inpaint"
    pipe.save_pretrained(path)
    return path


def _run(engine: JobQueue, request: GenerationRequest) -> list:
    return job_events(engine, request)


def _finished(events: list) -> Finished:
    last = events[-1]
    assert isinstance(last, Finished), last
    return last


def _noise_png(path, size, seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB").save(path)
    return path


def _mask_png(path, size, ellipse):
    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse(ellipse, fill=255)
    mask.save(path)
    return path


def _request(model, source, **changes) -> GenerationRequest:
    base = dict(prompt="a green triangle", model=str(model), init_image=str(source), steps=4,
                strength=0.75, width=64, height=64, seed=3)
    base.update(changes)
    return GenerationRequest(**base)


def _assert_identical_outside(image, source_path, mask_path, feather):
    source = np.asarray(Image.open(source_path).convert("RGB"))
    soft = np.asarray(imageops.feather_mask(Image.open(mask_path).convert("L"), feather))
    out = np.asarray(image)
    assert out.shape == source.shape
    assert np.array_equal(out[soft == 0], source[soft == 0])
    inside = soft == 255
    assert (out[inside] != source[inside]).any(axis=-1).mean() > 0.5  # the model did repaint


# ---- 4-channel UNet (the bundled model, ordinary SD checkpoints) ----------------------------------
@pytest.mark.parametrize("feather", [0, 6, 16])
def test_inpaint_keeps_pixels_outside_the_feathered_mask(engine, tiny_model_dir, tmp_path, feather):
    size = (70, 52)  # not a multiple of 8: the engine pads for the model and crops back
    source = _noise_png(tmp_path / "src.png", size)
    mask = _mask_png(tmp_path / "mask.png", size, (38, 8, 62, 34))
    events = _run(engine, _request(tiny_model_dir, source, mask_image=str(mask), mask_feather=feather))
    _assert_identical_outside(_finished(events).image, source, mask, feather)


@pytest.mark.parametrize(
    ("size", "ellipse"),
    [((160, 96), (120, 6, 150, 30)), ((72, 136), (4, 100, 30, 130))],  # off-centre, non-square
)
def test_masked_only_pastes_back_exactly(engine, tiny_model_dir, tmp_path, size, ellipse):
    source = _noise_png(tmp_path / "src.png", size, seed=1)
    mask = _mask_png(tmp_path / "mask.png", size, ellipse)
    request = _request(tiny_model_dir, source, mask_image=str(mask), masked_only=True,
                       masked_padding=8, mask_feather=8, strength=1.0)
    events = _run(engine, request)
    _assert_identical_outside(_finished(events).image, source, mask, 8)
    # Live previews show the whole picture (the crop composited in), not just the crop.
    preview = [e for e in events if isinstance(e, Preview)][-1].image
    assert abs(preview.width / preview.height - size[0] / size[1]) < 0.1


def test_strength_zero_returns_the_source_without_sampling(engine, tiny_model_dir, tmp_path):
    source = _noise_png(tmp_path / "src.png", (61, 45))
    mask = _mask_png(tmp_path / "mask.png", (61, 45), (10, 10, 30, 30))
    for extra in ({}, {"mask_image": str(mask)}):
        events = _run(engine, _request(tiny_model_dir, source, strength=0.0, **extra))
        assert np.array_equal(np.asarray(_finished(events).image), np.asarray(Image.open(source)))
        assert not any(isinstance(e, (Progress, Preview)) for e in events)


def test_strength_too_low_for_one_step_warns_and_returns_the_source(engine, tiny_model_dir, tmp_path):
    source = _noise_png(tmp_path / "src.png", (64, 64))
    events = _run(engine, _request(tiny_model_dir, source, strength=0.2, steps=4))
    assert np.array_equal(np.asarray(_finished(events).image), np.asarray(Image.open(source)))
    assert any(isinstance(e, JobWarning) and "too low" in e.message for e in events)


def test_variation_is_reproducible_and_runs_the_strength_share_of_steps(engine, tiny_model_dir, tmp_path):
    source = _noise_png(tmp_path / "src.png", (72, 64))
    request = _request(tiny_model_dir, source, strength=0.5, steps=4)
    first, second = _run(engine, request), _run(engine, request)
    a, b = _finished(first).image, _finished(second).image
    assert a.size == (72, 64)
    assert np.array_equal(np.asarray(a), np.asarray(b))
    assert not np.array_equal(np.asarray(a), np.asarray(Image.open(source)))
    started = next(e for e in first if isinstance(e, Started))
    assert started.total_steps == 2
    assert [e.step for e in first if isinstance(e, Progress)] == [1, 2]
    other = _finished(_run(engine, request.replace(seed=4))).image
    assert not np.array_equal(np.asarray(a), np.asarray(other))


def test_cancel_stops_an_inpaint_and_the_queue_goes_on(engine, tiny_model_dir, tmp_path):
    source = _noise_png(tmp_path / "src.png", (64, 64))
    mask = _mask_png(tmp_path / "mask.png", (64, 64), (10, 10, 40, 40))
    request = _request(tiny_model_dir, source, mask_image=str(mask), strength=1.0, steps=30)
    events: list = []

    def cancel_on_first_preview(event):
        events.append(event)
        if isinstance(event, Preview) and event.step == 1:
            engine.cancel(event.job_id)

    unsubscribe = engine.subscribe(cancel_on_first_preview)
    engine.submit(request)
    assert engine.wait_idle(timeout=300)
    unsubscribe()
    assert isinstance(events[-1], Cancelled)
    assert len([e for e in events if isinstance(e, Preview)]) <= 2
    assert isinstance(_run(engine, request.replace(steps=2))[-1], Finished)


# ---- bad input: one line each, and the queue keeps working -------------------------------------
def _failure(engine, request) -> str:
    events = _run(engine, request)
    assert isinstance(events[-1], Failed), events[-1]
    message = events[-1].message
    assert "\n" not in message and "Traceback" not in message
    return message


def test_bad_masks_and_images_give_clear_messages(engine, tiny_model_dir, tmp_path):
    source = _noise_png(tmp_path / "src.png", (64, 48))
    wrong = tmp_path / "wrong.png"
    Image.new("L", (50, 50), 255).save(wrong)
    message = _failure(engine, _request(tiny_model_dir, source, mask_image=str(wrong)))
    assert "50×50" in message and "64×48" in message

    empty = tmp_path / "empty.png"
    Image.new("L", (64, 48), 0).save(empty)
    assert _failure(engine, _request(tiny_model_dir, source, mask_image=str(empty))) == (
        "the mask is empty: paint the area to regenerate"
    )

    junk = tmp_path / "junk.png"
    junk.write_text("not an image")
    assert "cannot read the image file junk.png" in _failure(engine, _request(tiny_model_dir, junk))
    assert "cannot find the image file" in _failure(engine, _request(tiny_model_dir, tmp_path / "no.png"))
    assert "cannot read the mask file junk.png" in _failure(
        engine, _request(tiny_model_dir, source, mask_image=str(junk))
    )


def test_all_white_mask_is_a_whole_image_variation_with_a_warning(engine, tiny_model_dir, tmp_path):
    source = _noise_png(tmp_path / "src.png", (64, 48))
    white = tmp_path / "white.png"
    Image.new("L", (64, 48), 255).save(white)
    events = _run(engine, _request(tiny_model_dir, source, mask_image=str(white)))
    image = _finished(events).image
    assert image.size == (64, 48)
    warnings = [e.message for e in events if isinstance(e, JobWarning)]
    assert any("covers the whole image" in w for w in warnings)
    plain = _finished(_run(engine, _request(tiny_model_dir, source))).image
    assert np.array_equal(np.asarray(image), np.asarray(plain))  # same as asking for a variation


def test_half_size_mask_is_scaled_with_a_warning(engine, tiny_model_dir, tmp_path):
    source = _noise_png(tmp_path / "src.png", (64, 48))
    small = _mask_png(tmp_path / "small.png", (32, 24), (4, 4, 16, 16))
    events = _run(engine, _request(tiny_model_dir, source, mask_image=str(small)))
    assert _finished(events).image.size == (64, 48)
    assert any(isinstance(e, JobWarning) and "scaled" in e.message for e in events)


# ---- 9-channel inpainting UNet ------------------------------------------------------------------
def test_nine_channel_unet_inpaints_and_keeps_outside(engine, tiny_inpaint_model_dir, tmp_path):
    size = (80, 64)
    source = _noise_png(tmp_path / "src.png", size, seed=2)
    mask = _mask_png(tmp_path / "mask.png", size, (8, 30, 40, 60))
    for masked_only in (False, True):
        request = _request(tiny_inpaint_model_dir, source, mask_image=str(mask), strength=1.0,
                           mask_feather=4, masked_only=masked_only)
        events = _run(engine, request)
        _assert_identical_outside(_finished(events).image, source, mask, 4)
        assert any(isinstance(e, Preview) for e in events)
    # A plain variation on an inpainting model runs through the inpaint pipeline with a full mask.
    variation = _finished(_run(engine, _request(tiny_inpaint_model_dir, source, strength=0.5))).image
    assert variation.size == size


def test_path_is_chosen_from_the_unet(tiny_model_dir, tiny_inpaint_model_dir):
    import diffusers

    from studio.core.settings import EngineSettings
    from studio.engine._inpaint import _pipeline
    from studio.engine._loader import ModelLoader

    loader = ModelLoader(EngineSettings())
    job = type("Job", (), {"job_id": 0, "emit": lambda self, e: None})()
    plain = loader.get(str(tiny_model_dir), job)
    assert isinstance(_pipeline(plain, masked=False), diffusers.StableDiffusionImg2ImgPipeline)
    inpaint_pipe = _pipeline(plain, masked=True)
    assert isinstance(inpaint_pipe, diffusers.StableDiffusionInpaintPipeline)
    assert inpaint_pipe.unet is plain.pipe.unet  # from_pipe shares the weights
    nine = loader.get(str(tiny_inpaint_model_dir), job)
    assert isinstance(_pipeline(nine, masked=False), diffusers.StableDiffusionInpaintPipeline)
    # Latents (and so previews) have the VAE's 4 channels, not the 9 the UNet takes in.
    assert nine.latent_channels == 4 and nine.preview_map.channels == 4
    assert nine.preview_map.source == "sd1"


# ---- SDXL ---------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny_sdxl_dir(tmp_path_factory):
    from checkpoint_support import tiny_sdxl

    path = tmp_path_factory.mktemp("models") / "tiny-sdxl"
    tiny_sdxl().save_pretrained(path)
    return path


def test_sdxl_inpaint_and_variation(engine, tiny_sdxl_dir, tmp_path):
    size = (72, 64)
    source = _noise_png(tmp_path / "src.png", size, seed=4)
    mask = _mask_png(tmp_path / "mask.png", size, (30, 10, 60, 40))
    events = _run(engine, _request(tiny_sdxl_dir, source, mask_image=str(mask), strength=1.0, mask_feather=4))
    _assert_identical_outside(_finished(events).image, source, mask, 4)
    variation = _finished(_run(engine, _request(tiny_sdxl_dir, source, strength=0.5))).image
    assert variation.size == size
