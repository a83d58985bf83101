"""Every event survives the wire: decode(encode(e)) == e, pictures pixel for pixel."""

from __future__ import annotations

import pytest
from PIL import Image

from studio.core import events as ev
from studio.core.request import GenerationRequest
from studio.core.wire import WireError, decode, encode


def _image(mode: str, size: tuple[int, int]) -> Image.Image:
    image = Image.new(mode, size)
    image.putdata([(i * 7) % 256 if mode == "L" else tuple((i * k) % 256 for k in (3, 5, 7, 11)[: len(mode)])
                   for i in range(size[0] * size[1])])
    return image


REQ = GenerationRequest(prompt="a red fox, (snow:1.2)", seed=42, loras=(("a.safetensors", 0.5),),
                        blend_prompts=("b",), blend_weights=(0.3,))

EVENTS = [
    ev.Queued(1, REQ, 2),
    ev.Loading(1, "loading model", 0.5),
    ev.Loading(1, "loading model"),
    ev.Started(1, REQ, 20),
    ev.Progress(1, 3, 20, 1.25, 7.5),
    ev.Preview(1, 3, _image("RGB", (9, 7))),
    ev.Finished(1, REQ, _image("RGBA", (13, 5)), {"load": 0.1, "total": 2.5},
                {"model": "tiny", "nested": {"x": [1, 2]}}),
    ev.Cancelled(2),
    ev.Cancelled(2, _image("L", (4, 6))),
    ev.Failed(3, "out of memory", "Traceback..."),
    ev.JobWarning(4, "LoRA ignored"),
    ev.EngineNotice(0, "the engine stopped (signal 9); restarting"),
]


@pytest.mark.parametrize("event", EVENTS, ids=lambda e: type(e).__name__)
def test_every_event_round_trips(event):
    header, blobs = encode(event)
    back = decode(header, list(blobs))
    assert type(back) is type(event)
    for name in vars(event):
        a, b = getattr(event, name), getattr(back, name)
        if isinstance(a, Image.Image):
            assert (b.mode, b.size, b.tobytes()) == (a.mode, a.size, a.tobytes())
        else:
            assert a == b, name


def test_pictures_travel_as_raw_pixels_not_in_the_header():
    image = _image("RGB", (64, 64))
    header, blobs = encode(ev.Preview(1, 1, image))
    assert blobs == [image.tobytes()]
    assert len(header) < 200


def test_a_damaged_frame_is_one_clear_error():
    with pytest.raises(WireError):
        decode(b'{"kind": "Nope", "fields": {}}', [])
    with pytest.raises(WireError):
        decode(b"not json", [])
    header, _ = encode(ev.Preview(1, 1, _image("RGB", (4, 4))))
    with pytest.raises(WireError):
        decode(header, [])
