"""Dataset generator: determinism, caption/label agreement, held-out split."""

from __future__ import annotations

import random

import numpy as np

from studio.shapes import dataset as ds


def test_same_seed_same_examples() -> None:
    a, b = ds.generate(3, 8), ds.generate(3, 8)
    for (ia, ca, la), (ib, cb, lb) in zip(a, b, strict=True):
        assert ca == cb and la == lb
        assert np.array_equal(np.asarray(ia), np.asarray(ib))
    assert [c for _, c, _ in ds.generate(4, 8)] != [c for _, c, _ in a]


def test_image_format() -> None:
    img, _, _ = ds.sample(random.Random(0))
    assert img.size == (128, 128) and img.mode == "RGB"


def test_captions_mention_said_attributes() -> None:
    for img, cap, label in ds.generate(11, 300):
        words = f" {cap.replace(',', ' ')} "
        assert label["background"] != label["objects"][0]["color"]
        for obj, said in zip(label["objects"], label["said"]["objects"], strict=True):
            assert f" {obj['shape']} " in words
            if said["color"]:
                assert f" {obj['color']} " in words
            if said["size"]:
                assert f" {obj['size']} " in words
            if said["position"]:
                assert ds.POSITION_PHRASE[obj["position"]] in cap
        if label["said"]["background"]:
            assert f"{label['background']} background" in cap
        # the drawn shape colour is actually present in the pixels
        arr = np.asarray(img).reshape(-1, 3)
        assert (arr == np.array(ds.COLORS[label["objects"][0]["color"]])).all(1).sum() > 50


def test_two_object_captions() -> None:
    items = ds.generate(5, 200, two_prob=1.0)
    assert all(len(lab["objects"]) == 2 and " and " in cap for _, cap, lab in items)


def test_heldout_captions_never_in_training() -> None:
    train = {c for _, c, _ in ds.generate(0, 20000)}
    held = ds.heldout_captions(200)
    assert len({c for c, _ in held}) == 200
    assert not train & {c for c, _ in held}
    assert all(ds.is_heldout(c) for c, _ in held)
    two = ds.heldout_captions(20, two_prob=1.0)
    assert all(len(lab["objects"]) == 2 for _, lab in two)


def test_vocabulary_covers_captions() -> None:
    vocab = set(ds.VOCAB_WORDS)
    for _, cap, _ in ds.generate(1, 500):
        assert set(cap.replace(",", " , ").split()) <= vocab
