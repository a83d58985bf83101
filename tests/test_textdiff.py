"""Text diffs (issue 26): the request's fields, and the textdiff mode end to end through the real
engine, on the tiny random pipeline (plumbing: reconstruction, cache, cancel, one-line errors) and
on the bundled model (the edit changes the colour and keeps the place and the background)."""

from __future__ import annotations

import numpy as np
import pytest
from job_support import job_events
from PIL import Image

from studio.core.events import Cancelled, Failed, Finished, Progress, Started
from studio.core.jobspec import JobSpec
from studio.core.paths import bundled_model_present
from studio.core.request import GenerationRequest, RequestError
from studio.engine import _inversion
from studio.engine.backend import DiffusersBackend
from studio.engine.jobs import JobQueue
from studio.engine.modes.textdiff import edit_request, strip_amounts


@pytest.fixture(scope="module")
def engine():
    queue = JobQueue(DiffusersBackend())
    yield queue
    queue.shutdown()


def _noise_png(path, size=(64, 64), seed=0):
    rng = np.random.default_rng(seed)
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8), "RGB").save(path)
    return path


def _edit(model, source, amount=1.0, **changes) -> GenerationRequest:
    base = GenerationRequest(prompt="", model=str(model), init_image=str(source), steps=6,
                             width=64, height=64, guidance_scale=5.0, **changes)
    return edit_request(base, "a red circle", "a green square", amount)


def _finished(events) -> Finished:
    assert isinstance(events[-1], Finished), events[-1]
    return events[-1]


def psnr(a, b) -> float:
    x, y = (np.asarray(i.convert("RGB"), dtype=np.float64) for i in (a, b))
    return float(10 * np.log10(255**2 / max(((x - y) ** 2).mean(), 1e-12)))


# ---- the request ---------------------------------------------------------------------------------
def test_textdiff_request_round_trips_as_plain_data(tmp_path):
    source = _noise_png(tmp_path / "src.png")
    request = edit_request(GenerationRequest(prompt="x", init_image=str(source)), "old", "new", 1.5)
    assert (request.mode, request.prompt, request.source_prompt, request.target_prompt, request.edit_amount) == (
        "textdiff", "new", "old", "new", 1.5)
    assert GenerationRequest.from_json(request.to_json()) == request
    assert JobSpec.of(request).request_in(tmp_path).edit_amount == 1.5


@pytest.mark.parametrize("changes, words", [
    ({"source_prompt": " "}, "--from"),
    ({"target_prompt": ""}, "--to"),
    ({"init_image": None}, "source image"),
    ({"edit_amount": 3.5}, "between 0 and 3"),
    ({"edit_amount": -0.1}, "between 0 and 3"),
])
def test_bad_textdiff_requests_say_what_to_fix_in_one_line(tmp_path, changes, words):
    good = GenerationRequest(prompt="b", init_image=str(tmp_path / "a.png"), mode="textdiff",
                             source_prompt="a", target_prompt="b")
    good.validate()
    with pytest.raises(RequestError) as caught:
        good.replace(**changes).validate()
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_edit_amount_must_be_a_number_in_files():
    with pytest.raises(RequestError, match="edit amount must be a number"):
        GenerationRequest.from_dict({"prompt": "a", "edit_amount": "1"})


def test_strip_amounts_run_from_zero_to_the_amount():
    assert strip_amounts(1.5, 4) == [0.0, 0.5, 1.0, 1.5]


# ---- the engine on the tiny model ----------------------------------------------------------------
def test_amount_zero_gives_the_source_back_through_the_vae(engine, tiny_model_dir, tmp_path):
    from diffusers import StableDiffusionPipeline

    from studio.engine._sampler import decode_latents

    source = _noise_png(tmp_path / "src.png")
    back = _finished(job_events(engine, _edit(tiny_model_dir, source, amount=0.0))).image
    pipe = StableDiffusionPipeline.from_pretrained(tiny_model_dir)
    round_trip = decode_latents(pipe, _inversion.encode_image(pipe, Image.open(source)))
    assert psnr(back, round_trip) > 40  # exact but for float rounding: inversion loses nothing
    edited = _finished(job_events(engine, _edit(tiny_model_dir, source, amount=1.0))).image
    assert psnr(edited, round_trip) < 35  # the description's change changes pixels


def test_moving_the_amount_reuses_the_inversion(engine, tiny_model_dir, tmp_path):
    source = _noise_png(tmp_path / "src.png", seed=5)
    first = job_events(engine, _edit(tiny_model_dir, source, amount=0.5))
    second = job_events(engine, _edit(tiny_model_dir, source, amount=0.7))
    totals = [next(e for e in events if isinstance(e, Started)).total_steps for events in (first, second)]
    assert totals[1] == 6 < totals[0]  # one sampling pass only
    assert _finished(second).timings["invert"] == 0.0 < _finished(first).timings["invert"]
    other = job_events(engine, _edit(tiny_model_dir, source, amount=0.7, negative_prompt="blur"))
    assert _finished(other).timings["invert"] > 0  # another negative: another inversion


def test_result_keeps_the_source_size_and_records_the_edit(engine, tiny_model_dir, tmp_path):
    source = _noise_png(tmp_path / "src.png", size=(70, 61))
    done = _finished(job_events(engine, _edit(tiny_model_dir, source, amount=1.2)))
    assert done.image.size == (70, 61)
    assert (done.request.width, done.request.height) == (70, 61)
    assert (done.request.source_prompt, done.request.target_prompt, done.request.edit_amount) == (
        "a red circle", "a green square", 1.2)


def test_cancel_stops_a_textdiff(engine, tiny_model_dir, tmp_path):
    source = _noise_png(tmp_path / "src.png", seed=9)
    request = _edit(tiny_model_dir, source).replace(steps=40)
    events: list = []

    def cancel_on_progress(event):
        events.append(event)
        if isinstance(event, Progress) and event.step == 2:
            engine.cancel(event.job_id)

    unsubscribe = engine.subscribe(cancel_on_progress)
    engine.submit(request)
    assert engine.wait_idle(timeout=300)
    unsubscribe()
    assert isinstance(events[-1], Cancelled)
    assert max(e.step for e in events if isinstance(e, Progress)) < 10


def test_a_missing_source_fails_in_one_line(engine, tiny_model_dir, tmp_path):
    events = job_events(engine, _edit(tiny_model_dir, tmp_path / "gone.png"))
    assert isinstance(events[-1], Failed)
    assert "gone.png" in events[-1].message and "\n" not in events[-1].message


# ---- the bundled model: the edit does what the descriptions say -----------------------------------
@pytest.mark.skipif(not bundled_model_present(), reason="the bundled model is not in this checkout")
def test_red_circle_turns_green_in_place(engine, tmp_path):
    from studio.shapes.evaluate import analyse

    red = "a red circle in the center on a blue background"
    made = _finished(job_events(engine, GenerationRequest(prompt=red, seed=3, steps=20, width=128, height=128,
                                                          guidance_scale=4.0)))
    source = tmp_path / "pic.png"
    made.image.save(source)
    base = GenerationRequest(prompt="", init_image=str(source), steps=20, width=128, height=128, guidance_scale=4.0)
    green = red.replace("red", "green")
    back = _finished(job_events(engine, edit_request(base, red, green, 0.0))).image
    edited = _finished(job_events(engine, edit_request(base, red, green, 1.0))).image
    assert psnr(back, made.image) >= 30
    found = analyse(edited, max_objects=1)
    assert found["background"] == "blue"
    assert [(o["color"], o["position"]) for o in found["objects"]] == [("green", "center")]


def test_the_parameters_text_of_an_edit_names_it_and_claims_no_strength():
    """Other tools read the A1111 text: a text diff says what it was edited from and how far, and
    does not claim an img2img denoising strength it never used."""
    from studio.core.metadata import format_parameters, parse_parameters
    from studio.engine.modes.textdiff import edit_request

    base = GenerationRequest("x", init_image="sha256:" + "0" * 64, strength=0.75)
    text = format_parameters(edit_request(base, "a red circle, left", "a green circle, left", 0.6))
    assert text.splitlines()[0] == "a green circle, left"
    assert "Denoising strength" not in text
    found = parse_parameters(text)
    assert found.get("strength") is None
    assert 'Edit from: "a red circle, left"' in text and "Edit amount: 0.6" in text
