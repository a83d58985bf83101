"""Procedural, captioned world of flat shapes used to train Studio's default model.

Every scene is fully described by a structured label; captions are *sampled*
from the label with random wording and random omissions, so a single image can
be trained with many captions. A fixed hash bucket of caption strings is never
emitted for training, which gives a held-out caption set for free.
"""

from __future__ import annotations

import math
import random
import zlib
from typing import Any

import numpy as np
from PIL import Image, ImageDraw

IMAGE_SIZE = 128

COLORS: dict[str, tuple[int, int, int]] = {
    "red": (220, 40, 40),
    "orange": (245, 140, 20),
    "yellow": (240, 225, 40),
    "green": (40, 170, 60),
    "blue": (40, 80, 220),
    "purple": (140, 50, 180),
    "white": (245, 245, 245),
    "black": (20, 20, 20),
}
SHAPES = ("circle", "square", "triangle", "star")
SIZES = ("small", "medium", "large")
# Radius (of the circumscribed circle, roughly) in pixels for each size word.
SIZE_RADIUS = {"small": 13, "medium": 20, "large": 28}

# 3x3 grid; centres are kept far enough in that a large shape stays on canvas.
_GRID = (34, 64, 94)
POSITIONS: dict[str, tuple[int, int]] = {
    "top left": (0, 0),
    "top": (1, 0),
    "top right": (2, 0),
    "left": (0, 1),
    "center": (1, 1),
    "right": (2, 1),
    "bottom left": (0, 2),
    "bottom": (1, 2),
    "bottom right": (2, 2),
}
POSITION_PHRASE = {
    "left": "on the left",
    "right": "on the right",
    "top": "at the top",
    "bottom": "at the bottom",
    "center": "in the center",
    "top left": "in the top left",
    "top right": "in the top right",
    "bottom left": "in the bottom left",
    "bottom right": "in the bottom right",
}
JITTER = 4

# Every word any caption can contain; the tokenizer gives each one a token.
VOCAB_WORDS: tuple[str, ...] = tuple(
    sorted(
        set(COLORS)
        | set(SHAPES)
        | set(SIZES)
        | {w for p in POSITION_PHRASE.values() for w in p.split()}
        | {"a", "an", "and", "of", "picture", "image", "there", "is", "background", "with", ","}
    )
)

HELDOUT_MOD = 8  # captions whose crc32 % HELDOUT_MOD == 0 are held out


def is_heldout(caption: str) -> bool:
    """True when a caption string belongs to the held-out (never trained) bucket."""
    return zlib.crc32(caption.encode("utf-8")) % HELDOUT_MOD == 0


# --------------------------------------------------------------------------- drawing


def _shape_polygon(shape: str, cx: float, cy: float, r: float) -> list[tuple[float, float]]:
    if shape == "square":
        s = r * 0.85  # shrink so a square's area is comparable to the circle's
        return [(cx - s, cy - s), (cx + s, cy - s), (cx + s, cy + s), (cx - s, cy + s)]
    if shape == "triangle":
        h = r * 0.9
        return [(cx, cy - h), (cx + r, cy + h), (cx - r, cy + h)]
    if shape == "star":
        outer, inner = r * 1.1, r * 1.1 * 0.45
        pts = []
        for i in range(10):
            rad = outer if i % 2 == 0 else inner
            ang = -math.pi / 2 + i * math.pi / 5  # first point straight up
            pts.append((cx + rad * math.cos(ang), cy + 0.1 * r + rad * math.sin(ang)))
        return pts
    raise ValueError(shape)


def draw_shape(draw: ImageDraw.ImageDraw, shape: str, cx: float, cy: float, r: float,
               fill: tuple[int, int, int] | int) -> None:
    """Draw one flat upright shape centred at (cx, cy) with radius r."""
    if shape == "circle":
        draw.ellipse((cx - r, cy - r, cx + r, cy + r), fill=fill)
    else:
        draw.polygon(_shape_polygon(shape, cx, cy, r), fill=fill)


def render(label: dict[str, Any], size: int = IMAGE_SIZE) -> Image.Image:
    """Render a structured scene label to an RGB image (aliased, flat colours)."""
    img = Image.new("RGB", (size, size), COLORS[label["background"]])
    draw = ImageDraw.Draw(img)
    k = size / IMAGE_SIZE
    for obj in label["objects"]:
        draw_shape(draw, obj["shape"], obj["cx"] * k, obj["cy"] * k, obj["r"] * k, COLORS[obj["color"]])
    return img


def object_mask(label: dict[str, Any], size: int = IMAGE_SIZE) -> np.ndarray:
    """Float mask (size x size, 0..1) of where the label's objects are drawn."""
    img = Image.new("L", (IMAGE_SIZE, IMAGE_SIZE), 0)
    draw = ImageDraw.Draw(img)
    for obj in label["objects"]:
        draw_shape(draw, obj["shape"], obj["cx"], obj["cy"], obj["r"], 255)
    if size != IMAGE_SIZE:
        img = img.resize((size, size), Image.BOX)  # area average: partial cover stays fractional
    return np.asarray(img, dtype=np.float32) / 255.0


# --------------------------------------------------------------------------- scenes


def _place(rng: random.Random, position: str) -> tuple[int, int]:
    gx, gy = POSITIONS[position]
    return _GRID[gx] + rng.randint(-JITTER, JITTER), _GRID[gy] + rng.randint(-JITTER, JITTER)


def _far_apart(p: str, q: str) -> bool:
    # Two cells apart on some axis, so two medium shapes can never overlap.
    (ax, ay), (bx, by) = POSITIONS[p], POSITIONS[q]
    return abs(ax - bx) == 2 or abs(ay - by) == 2


def sample_scene(rng: random.Random, two_prob: float = 0.3) -> dict[str, Any]:
    """Sample a complete scene (everything decided, nothing about wording)."""
    two = rng.random() < two_prob
    objects = []
    if two:
        while True:
            p1, p2 = rng.sample(list(POSITIONS), 2)
            if _far_apart(p1, p2):
                break
        c1, c2 = rng.sample(list(COLORS), 2)
        for color, pos in ((c1, p1), (c2, p2)):
            size = rng.choice(("small", "medium"))  # large pairs would collide
            objects.append({"color": color, "shape": rng.choice(SHAPES), "size": size, "position": pos})
    else:
        objects.append({"color": rng.choice(list(COLORS)), "shape": rng.choice(SHAPES),
                        "size": rng.choice(SIZES), "position": rng.choice(list(POSITIONS))})
    used = {o["color"] for o in objects}
    background = rng.choice([c for c in COLORS if c not in used])
    for o in objects:
        o["cx"], o["cy"] = _place(rng, o["position"])
        o["r"] = SIZE_RADIUS[o["size"]]
    return {"objects": objects, "background": background}


# --------------------------------------------------------------------------- captions


def _article(next_word: str) -> str:
    return "an" if next_word[0] in "aeiou" else "a"


def _noun_phrase(obj: dict[str, Any], said: dict[str, bool], article: bool) -> str:
    words = []
    if said["size"]:
        words.append(obj["size"])
    if said["color"]:
        words.append(obj["color"])
    words.append(obj["shape"])
    np_ = " ".join(words)
    if article:
        np_ = f"{_article(np_)} {np_}"
    if said["position"]:
        np_ += " " + POSITION_PHRASE[obj["position"]]
    return np_


def _sample_said(rng: random.Random, obj: dict[str, Any]) -> dict[str, bool]:
    # Medium is the default size: small/large are nearly always named, medium rarely.
    size_said = rng.random() < (0.2 if obj["size"] == "medium" else 0.92)
    return {"color": rng.random() < 0.9, "size": size_said, "position": rng.random() < 0.75}


def compose_caption(label: dict[str, Any], said: list[dict[str, bool]], bg_said: bool,
                    template: int) -> str:
    """Build a caption from a label, per-object 'said' flags and a template index (0..4)."""
    objs = label["objects"]
    article = template != 1
    body = " and ".join(_noun_phrase(o, s, article) for o, s in zip(objs, said, strict=True))
    bg = label["background"]
    if template == 0:
        return body + (f" on {_article(bg)} {bg} background" if bg_said else "")
    if template == 1:
        return body + (f", {bg} background" if bg_said else "")
    if template == 2:
        return "a picture of " + body + (f" on {_article(bg)} {bg} background" if bg_said else "")
    if template == 3:
        return "there is " + body + (f" on {_article(bg)} {bg} background" if bg_said else "")
    return (f"{bg} background , " if bg_said else "") + body  # e.g. "blue background, a red star"


N_TEMPLATES = 5


def describe(label: dict[str, Any], rng: random.Random) -> tuple[str, dict[str, Any]]:
    """Sample a caption for a label; returns (caption, what-was-said dict)."""
    said = [_sample_said(rng, o) for o in label["objects"]]
    bg_said = rng.random() < 0.6
    template = rng.randrange(N_TEMPLATES)
    caption = compose_caption(label, said, bg_said, template).replace(" , ", ", ")
    return caption, {"objects": said, "background": bg_said, "template": template}


def sample(rng: random.Random, two_prob: float = 0.3) -> tuple[Image.Image, str, dict[str, Any]]:
    """One training example: (image, caption, structured label).

    The label holds the full scene plus ``said`` (which parts the caption names),
    so evaluation code knows the ground truth. Held-out captions are never returned.
    """
    label = sample_scene(rng, two_prob)
    for _ in range(50):
        caption, said = describe(label, rng)
        if not is_heldout(caption):
            break
    else:  # pragma: no cover - practically unreachable
        return sample(rng, two_prob)
    label = dict(label, said=said, caption=caption)
    return render(label), caption, label


def generate(seed: int, n: int, two_prob: float = 0.3) -> list[tuple[Image.Image, str, dict[str, Any]]]:
    """Deterministic list of n examples for a seed."""
    rng = random.Random(seed)
    return [sample(rng, two_prob) for _ in range(n)]


def image_to_array(img: Image.Image) -> np.ndarray:
    """PIL RGB -> float32 CHW in [-1, 1] (the VAE's input range)."""
    return np.asarray(img, dtype=np.float32).transpose(2, 0, 1) / 127.5 - 1.0


def heldout_captions(n: int, seed: int = 1234, two_prob: float = 0.0) -> list[tuple[str, dict[str, Any]]]:
    """n distinct held-out captions (never produced for training) with their labels.

    Colour, shape and position are always named so every attribute can be scored.
    """
    rng = random.Random(seed)
    out: list[tuple[str, dict[str, Any]]] = []
    seen: set[str] = set()
    while len(out) < n:
        label = sample_scene(rng, two_prob)
        said = []
        for o in label["objects"]:
            size_said = o["size"] != "medium" or rng.random() < 0.2
            said.append({"color": True, "size": size_said, "position": True})
        bg_said = rng.random() < 0.5
        template = rng.randrange(N_TEMPLATES)
        caption = compose_caption(label, said, bg_said, template).replace(" , ", ", ")
        if caption in seen or not is_heldout(caption):
            continue
        seen.add(caption)
        out.append((caption, dict(label, said={"objects": said, "background": bg_said}, caption=caption)))
    return out
