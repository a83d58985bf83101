"""imageops: masks, feathering, crops, compositing and outpaint canvases, with exact-pixel checks."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from PIL import Image

from studio.engine import imageops
from studio.engine.jobs import UserError


def _noise(width: int, height: int, seed: int) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (height, width, 3), dtype=np.uint8), "RGB")


def _ellipse_mask(size: tuple[int, int], box: tuple[int, int, int, int]) -> Image.Image:
    from PIL import ImageDraw

    mask = Image.new("L", size, 0)
    ImageDraw.Draw(mask).ellipse(box, fill=255)
    return mask


def _chebyshev_distance_to(mask: np.ndarray) -> np.ndarray:
    """Chebyshev distance of every pixel to the nearest non-zero one (brute force; small masks)."""
    ys, xs = np.nonzero(mask)
    yy, xx = np.mgrid[: mask.shape[0], : mask.shape[1]]
    d = np.full(mask.shape, 10**9)
    for y, x in zip(ys, xs, strict=True):
        d = np.minimum(d, np.maximum(abs(yy - y), abs(xx - x)))
    return d


# ---- compositing ------------------------------------------------------------------------------
@settings(max_examples=30, deadline=None)
@given(
    w=st.integers(8, 48), h=st.integers(8, 48), seed=st.integers(0, 2**16), feather=st.integers(0, 24)
)
def test_composite_is_exact_where_the_feathered_mask_is_zero(w, h, seed, feather):
    source, generated = _noise(w, h, seed), _noise(w, h, seed + 1)
    rng = np.random.default_rng(seed)
    hard = np.zeros((h, w), np.uint8)
    x0, y0 = rng.integers(0, w), rng.integers(0, h)
    hard[y0 : y0 + rng.integers(1, 12), x0 : x0 + rng.integers(1, 12)] = 255
    m = imageops.feather_mask(Image.fromarray(hard), feather)
    out = np.asarray(imageops.composite(source, generated, m))
    mm = np.asarray(m)
    src, gen = np.asarray(source), np.asarray(generated)
    assert np.array_equal(out[mm == 0], src[mm == 0])
    assert np.array_equal(out[mm == 255], gen[mm == 255])
    # In between, a true blend: each value lies between the two inputs.
    lo, hi = np.minimum(src, gen), np.maximum(src, gen)
    assert np.all((out >= lo) & (out <= hi))


@pytest.mark.parametrize("feather", [0, 1, 3, 8, 13, 32])
def test_feather_band_has_a_known_finite_reach(feather):
    mask = _ellipse_mask((96, 80), (30, 20, 61, 45))
    soft = np.asarray(imageops.feather_mask(mask, feather))
    distance = _chebyshev_distance_to(np.asarray(mask))
    reach = imageops.feather_reach(feather)
    assert soft[distance > reach].max(initial=0) == 0
    assert reach <= feather // 2 + 2  # the band is about `feather` wide, centred on the edge
    if feather:
        # The edge really is softened: some values strictly between 0 and 255.
        assert ((soft > 0) & (soft < 255)).sum() > 0
        # Deep inside the painted area the mask is still fully on (when the band fits inside it).
        if feather < 20:
            assert soft[32, 45] == 255
    else:
        assert np.array_equal(soft, np.asarray(mask))


@pytest.mark.parametrize(
    ("size", "ellipse", "padding"),
    [
        ((200, 120), (150, 10, 190, 40), 16),  # near the top-right corner
        ((90, 300), (5, 200, 40, 290), 32),  # tall image, bottom-left, padding clipped by edges
        ((257, 131), (100, 60, 130, 70), 0),  # odd sizes, thin wide mask, no padding
    ],
)
@pytest.mark.parametrize("feather", [0, 4, 12])
def test_masked_only_crop_and_paste_back_keeps_outside_pixels(size, ellipse, padding, feather):
    source = _noise(*size, seed=7)
    mask = imageops.feather_mask(_ellipse_mask(size, ellipse), feather)
    box = imageops.bounding_box(mask, padding)
    assert box is not None
    crop_w, crop_h = box[2] - box[0], box[3] - box[1]
    gen_size = imageops.working_size((crop_w, crop_h), 64 * 64)
    # A "model" that returns something unrelated at the working size.
    generated = _noise(*gen_size, seed=99)
    out = imageops.paste_back(source, generated, box, mask)
    assert out.size == source.size
    m = np.asarray(mask)
    assert np.array_equal(np.asarray(out)[m == 0], np.asarray(source)[m == 0])
    inside = m > 128
    assert inside.any()
    assert not np.array_equal(np.asarray(out)[inside], np.asarray(source)[inside])


def test_bounding_box_pads_and_clamps():
    mask = Image.new("L", (100, 50), 0)
    mask.paste(255, (10, 5, 20, 15))
    assert imageops.bounding_box(mask) == (10, 5, 20, 15)
    assert imageops.bounding_box(mask, 8) == (2, 0, 28, 23)
    assert imageops.bounding_box(Image.new("L", (10, 10), 0), 4) is None


@pytest.mark.parametrize("crop", [(40, 40), (300, 70), (33, 517), (4000, 4000), (9, 9)])
def test_working_size_keeps_aspect_and_multiple_of_8(crop):
    w, h = imageops.working_size(crop, 512 * 512)
    assert w % 8 == 0 and h % 8 == 0
    assert 8 <= w <= 4096 and 8 <= h <= 4096
    assert abs(w / h - crop[0] / crop[1]) / (crop[0] / crop[1]) < 0.1
    assert 0.8 < (w * h) / (512 * 512) < 1.25


def test_pad_to_multiple_repeats_edges_and_crops_back():
    image = _noise(61, 43, seed=3)
    padded = imageops.pad_to_multiple(image)
    assert padded.size == (64, 48)
    assert np.array_equal(np.asarray(padded.crop((0, 0, 61, 43))), np.asarray(image))
    assert np.array_equal(np.asarray(padded)[:43, 63], np.asarray(image)[:, 60])
    same = _noise(64, 32, seed=3)
    assert imageops.pad_to_multiple(same) is same


# ---- loading ----------------------------------------------------------------------------------
def test_load_image_messages_are_one_line(tmp_path):
    with pytest.raises(UserError, match="cannot find the image file") as err:
        imageops.load_image(tmp_path / "missing.png")
    assert "\n" not in str(err.value)
    junk = tmp_path / "junk.png"
    junk.write_bytes(b"this is not a picture")
    with pytest.raises(UserError, match="cannot read the image file junk.png: not a picture"):
        imageops.load_image(junk)
    truncated = tmp_path / "cut.png"
    _noise(64, 64, 1).save(truncated)
    truncated.write_bytes(truncated.read_bytes()[:200])
    with pytest.raises(UserError, match="cannot read the image file cut.png") as err:
        imageops.load_image(truncated)
    assert "\n" not in str(err.value)
    with pytest.raises(UserError, match="is a folder"):
        imageops.load_image(tmp_path)
    tiny = tmp_path / "tiny.png"
    Image.new("RGB", (4, 30)).save(tiny)
    with pytest.raises(UserError, match="too small"):
        imageops.load_image(tiny)


def test_load_image_converts_to_rgb(tmp_path):
    path = tmp_path / "a.png"
    Image.new("RGBA", (20, 10), (1, 2, 3, 4)).save(path)
    image = imageops.load_image(path)
    assert image.mode == "RGB" and image.size == (20, 10)
    assert image.getpixel((0, 0)) == (1, 2, 3)


def test_load_mask_wrong_aspect_names_both_sizes(tmp_path):
    path = tmp_path / "mask.png"
    Image.new("L", (300, 200), 255).save(path)
    with pytest.raises(UserError) as err:
        imageops.load_mask(path, (512, 512))
    assert "300×200" in str(err.value) and "512×512" in str(err.value)


def test_load_mask_same_aspect_is_scaled_with_a_warning(tmp_path):
    path = tmp_path / "mask.png"
    Image.new("L", (64, 32), 255).save(path)
    mask, warning = imageops.load_mask(path, (128, 64))
    assert mask.size == (128, 64)
    assert warning and "64×32" in warning and "128×64" in warning
    same, none = imageops.load_mask(path, (64, 32))
    assert none is None and same.size == (64, 32)


def test_mask_from_transparent_paint_uses_alpha(tmp_path):
    layer = Image.new("RGBA", (16, 16), (255, 0, 0, 0))
    layer.paste((255, 0, 0, 255), (4, 4, 8, 8))
    mask = imageops.mask_from_picture(layer)
    assert mask.getpixel((5, 5)) == 255 and mask.getpixel((0, 0)) == 0
    rgb = Image.new("RGB", (16, 16), (255, 255, 255))
    assert imageops.mask_from_picture(rgb).getextrema() == (255, 255)


def test_coverage():
    assert imageops.coverage(Image.new("L", (8, 8), 0)) == "empty"
    assert imageops.coverage(Image.new("L", (8, 8), 255)) == "full"
    partial = Image.new("L", (8, 8), 0)
    partial.putpixel((1, 1), 30)
    assert imageops.coverage(partial) == "partial"


# ---- outpainting ------------------------------------------------------------------------------
def test_outpaint_canvas_keeps_old_pixels_and_masks_new_area():
    image = _noise(40, 30, seed=5)
    canvas, mask = imageops.outpaint_canvas(image, (16, 0, 8, 24), overlap=4)
    assert canvas.size == mask.size == (64, 54)
    old = np.asarray(canvas)[0:30, 16:56]
    assert np.array_equal(old, np.asarray(image))
    m = np.asarray(mask)
    assert (m[:, :16] == 255).all() and (m[:, 56:] == 255).all() and (m[30:, :] == 255).all()
    # Overlap reaches 4 px into the old picture on the extended sides only.
    assert (m[0:26, 20:52] == 0).all()
    assert (m[0:30, 16:20] == 255).all() and (m[26:30, 16:56] == 255).all()
    assert m[0, 30] == 0  # the top was not extended: no overlap there
    # The new area continues the picture's edge colours (not black).
    assert np.asarray(canvas)[10, 0].sum() > 0


def test_outpaint_canvas_refuses_oversized_result():
    with pytest.raises(UserError, match="at most 4096"):
        imageops.outpaint_canvas(_noise(16, 16, 1), (0, 0, 5000, 0))


@pytest.mark.parametrize(
    ("text", "expected"),
    [("0,0,64,0", (0, 0, 64, 0)), ("32", (32, 32, 32, 32)), (" 8, 16 ,24,32", (8, 16, 24, 32))],
)
def test_parse_margins(text, expected):
    assert imageops.parse_margins(text) == expected


@pytest.mark.parametrize("text", ["1,2,3", "a,b,c,d", "-8,0,0,0", "0,0,0,0"])
def test_parse_margins_rejects_bad_text(text):
    with pytest.raises(ValueError):
        imageops.parse_margins(text)


def test_save_input_is_content_addressed(studio_home):
    image = _noise(16, 16, seed=1)
    first = imageops.save_input(image, "source")
    second = imageops.save_input(image.copy(), "source")
    assert first == second and first.parent == studio_home / "inputs"
    assert first.name.startswith("source-") and first.suffix == ".png"
    assert np.array_equal(np.asarray(Image.open(first)), np.asarray(image))
    other = imageops.save_input(_noise(16, 16, seed=2), "source")
    assert other != first


@settings(max_examples=25, deadline=None)
@given(
    w=st.integers(8, 64), h=st.integers(8, 64), seed=st.integers(0, 2**16), feather=st.integers(1, 40)
)
def test_fast_paths_match_whole_image_references(w, h, seed, feather):
    """feather_mask and composite work on the mask's box only; results equal the plain formulas."""
    from PIL import ImageFilter

    rng = np.random.default_rng(seed)
    hard = np.zeros((h, w), np.uint8)
    x0, y0 = rng.integers(0, w), rng.integers(0, h)
    hard[y0 : y0 + rng.integers(1, 20), x0 : x0 + rng.integers(1, 20)] = rng.integers(1, 256)
    mask = Image.fromarray(hard)
    blur = ImageFilter.BoxBlur(feather / 4)
    reference = mask.filter(blur).filter(blur)
    soft = imageops.feather_mask(mask, feather)
    assert np.array_equal(np.asarray(soft), np.asarray(reference))

    source, generated = _noise(w, h, seed), _noise(w, h, seed + 7)
    m = np.asarray(soft, dtype=np.uint32)[..., None]
    expected = (np.asarray(source, np.uint32) * (255 - m) + np.asarray(generated, np.uint32) * m + 127) // 255
    assert np.array_equal(np.asarray(imageops.composite(source, generated, soft)), expected.astype(np.uint8))
