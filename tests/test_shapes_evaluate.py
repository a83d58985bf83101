"""The fidelity evaluator's pixel classifier (studio.shapes.evaluate): no model needed."""

from __future__ import annotations

import json
import math
import random

import numpy as np
import pytest
from PIL import Image, ImageDraw

from studio.core.paths import bundled_model_path
from studio.shapes import dataset as ds
from studio.shapes import evaluate as ev


def _blob(draw_fn) -> np.ndarray:
    img = Image.new("L", (128, 128), 0)
    draw_fn(ImageDraw.Draw(img))
    ys, xs = np.nonzero(np.asarray(img) > 127)
    return np.stack([ys, xs], axis=1)


def test_classifier_reads_ground_truth_renders() -> None:
    res = ev.validate_classifier(n=60, seed=5)
    for name in ("single", "two"):
        assert res[name]["color"] == 100.0
        assert res[name]["shape"] == 100.0
        assert res[name]["position"] == 100.0


def test_each_shape_template_reads_back() -> None:
    for shape in ds.SHAPES:
        pix = _blob(lambda d, s=shape: ds.draw_shape(d, s, 64, 64, 30, 255))
        assert ev.classify_shape(pix) == shape


def test_concave_sided_triangle_is_a_triangle_not_a_star() -> None:
    # A "tent": apex up, flat base, sides bowed inwards (how generated triangles often look).
    # It is clearly non-convex (solidity < 0.85), which alone used to make it a star.
    apex, left, right = (64.0, 20.0), (24.0, 100.0), (104.0, 100.0)
    cx, cy = 64.0, 73.0  # the triangle's centroid

    def side(a, b, bow):
        pts = []
        for i in range(21):
            t = i / 20
            x, y = a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t
            # Push towards the centroid, most in the middle of the side.
            k = bow * math.sin(math.pi * t)
            pts.append((x + (cx - x) * k, y + (cy - y) * k))
        return pts

    poly = side(left, apex, 0.35) + side(apex, right, 0.35)
    pix = _blob(lambda d: d.polygon(poly, fill=255))
    assert ev.solidity(pix) < 0.85
    assert ev.classify_shape(pix) == "triangle"


def test_analyse_finds_colour_and_position() -> None:
    rng = random.Random(3)
    label = ds.sample_scene(rng, 0.0)
    found = ev.analyse(ds.render(label))
    obj = label["objects"][0]
    assert found["background"] == label["background"]
    assert found["objects"][0]["color"] == obj["color"]
    assert found["objects"][0]["position"] == obj["position"]


def test_evaluation_runs_end_to_end_with_the_models_own_rescale(tmp_path):
    """The CLI on the bundled model, two captions: the report says which rescale it used (the
    app's own for this zero-SNR model at guidance 4) and scores every field."""
    if not (bundled_model_path() / "model_index.json").is_file():
        pytest.skip("bundled model not present")
    shipped_sheet = bundled_model_path().parent / "studio-shapes-samples.png"
    before = shipped_sheet.read_bytes() if shipped_sheet.is_file() else None
    ev.main(["--model", str(bundled_model_path()), "--n", "2", "--n-two", "1", "--steps", "4",
             "--guidance", "4", "--compare-guidance", "-1", "--report", str(tmp_path)])
    report = json.loads((tmp_path / "report.json").read_text())
    # The app's own rescale for a zero-SNR model, as the README states it: none at guidance 2,
    # rising linearly to 0.7 at guidance 5, so two thirds of the way at 4.
    own_at_4 = 0.7 * (4 - 2) / (5 - 2)
    assert set(report["guidance_rescale"]) == {"guidance_4"}
    assert report["guidance_rescale"]["guidance_4"] == pytest.approx(own_at_4, abs=1e-3)
    run = report["runs"]["guidance_4"]
    assert run["single"]["n"] == 2 and run["two"]["n"] == 1
    assert {"color", "shape", "position", "all"} <= set(run["single"])
    assert (tmp_path / "samples.png").is_file()  # beside the report: the README's picture is left alone
    assert (shipped_sheet.read_bytes() if shipped_sheet.is_file() else None) == before
    rows = [[cell.strip() for cell in line.strip("|").split("|")]
            for line in (tmp_path / "report.md").read_text().splitlines() if line.startswith("| 4 |")]
    single = next(row for row in rows if row[2] == "single")
    assert float(single[1]) == pytest.approx(own_at_4, abs=1e-3) and single[3] == "2"
