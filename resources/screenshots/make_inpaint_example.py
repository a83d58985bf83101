"""Make the README's inpainting example: a red circle painted over and regenerated as a green triangle.

Runs the real engine on the bundled model (or --model PATH): generates a picture with a red circle,
masks the circle (found by colour, grown a little; when no seed gives a clear circle, the source is
a red circle drawn by the training-data renderer instead), inpaints the mask with the new prompt for a few
seeds, keeps the seed whose masked area turned most green and least red, and writes source | mask |
result side by side. Everything outside the feathered mask is the source, pixel for pixel (checked).

    python resources/screenshots/make_inpaint_example.py [-o resources/screenshots/inpaint-example.png] [--model PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from studio.core.events import Failed, Finished
from studio.core.request import GenerationRequest, default_guidance
from studio.engine import imageops
from studio.engine.backend import DiffusersBackend, native_size
from studio.engine.jobs import JobQueue

SOURCE_PROMPT = "a large red circle on a blue background"
EDIT_PROMPT = "a green triangle on a blue background"
OUT = Path("resources/screenshots/inpaint-example.png")


def run(engine: JobQueue, request: GenerationRequest) -> Image.Image:
    outcome: list = []
    unsubscribe = engine.subscribe(lambda e: outcome.append(e) if isinstance(e, (Finished, Failed)) else None)
    engine.submit(request)
    engine.wait_idle()
    unsubscribe()
    if not outcome or isinstance(outcome[-1], Failed):
        raise SystemExit(f"generation failed: {outcome[-1].message if outcome else 'no result'}")
    return outcome[-1].image


def red_share(pixels: np.ndarray) -> np.ndarray:
    r, g, b = (pixels[..., i].astype(int) for i in range(3))
    return (r > 150) & (g < 110) & (b < 110)


def green_share(pixels: np.ndarray) -> np.ndarray:
    r, g, b = (pixels[..., i].astype(int) for i in range(3))
    return (g > 120) & (r < 120) & (b < 120)


def circle_mask(image: Image.Image, grow: int) -> Image.Image | None:
    red = red_share(np.asarray(image))
    if red.sum() < 30:
        return None
    mask = Image.fromarray((red * 255).astype(np.uint8), "L")
    return mask.filter(ImageFilter.MaxFilter(2 * grow + 1))


def drawn_red_circle(size: int) -> Image.Image:
    from studio.shapes.dataset import SIZE_RADIUS, render

    label = {"background": "blue", "objects": [
        {"shape": "circle", "color": "red", "cx": 48, "cy": 64, "r": SIZE_RADIUS["large"]}]}
    return render(label, size)


def labelled(images: list[Image.Image], labels: list[str], scale: int) -> Image.Image:
    width, height = images[0].width * scale, images[0].height * scale
    gap, text_h = 8, 22
    sheet = Image.new("RGB", (len(images) * (width + gap) - gap, height + text_h), (30, 31, 34))
    draw = ImageDraw.Draw(sheet)
    for i, (image, label) in enumerate(zip(images, labels, strict=True)):
        x = i * (width + gap)
        sheet.paste(image.resize((width, height), Image.Resampling.NEAREST), (x, text_h))
        draw.text((x + 4, 5), label, fill=(230, 230, 230))
    return sheet


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("-o", "--output", type=Path, default=OUT)
    parser.add_argument("--model", default="", help="model folder (default: the bundled model)")
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--tries", type=int, default=8, help="seeds to try for the source and the edit")
    args = parser.parse_args()

    size = native_size(args.model)
    engine = JobQueue(DiffusersBackend())
    base = GenerationRequest(SOURCE_PROMPT, model=args.model, steps=args.steps, width=size, height=size,
                             guidance_scale=default_guidance(args.model))
    try:
        source = mask = None
        for seed in range(args.tries):  # a source where the circle came out clearly
            candidate = run(engine, base.replace(seed=seed))
            mask = circle_mask(candidate, grow=max(2, size // 32))
            if mask is not None:
                source = candidate
                print(f"source: seed {seed}")
                break
        if source is None or mask is None:  # fall back to a drawn picture of the same scene
            source = drawn_red_circle(size)
            mask = circle_mask(source, grow=max(2, size // 32))
            print("source: drawn (no seed gave a clear red circle)")
        source_path = imageops.save_input(source, "source")
        mask_path = imageops.save_input(mask, "mask")
        feather = max(2, size // 32)
        best = None
        for seed in range(args.tries):
            edit = base.replace(prompt=EDIT_PROMPT, seed=seed, init_image=str(source_path),
                                mask_image=str(mask_path), strength=1.0, mask_feather=feather)
            result = run(engine, edit)
            inside = np.asarray(mask) > 0
            pixels = np.asarray(result)
            score = green_share(pixels)[inside].mean() - red_share(pixels)[inside].mean()
            print(f"edit seed {seed}: green-minus-red in the mask {score:+.2f}")
            if best is None or score > best[0]:
                best = (score, seed, result)
    finally:
        engine.shutdown()

    score, seed, result = best
    soft = np.asarray(imageops.feather_mask(mask, feather))
    same = np.array_equal(np.asarray(result)[soft == 0], np.asarray(source)[soft == 0])
    print(f"kept edit seed {seed} (score {score:+.2f}); outside the mask identical: {same}")
    tint = Image.new("RGB", source.size, (0, 235, 160))
    overlay = Image.composite(Image.blend(source, tint, 0.6), source, mask)
    sheet = labelled([source, overlay, result],
                     ["source", "mask (painted over the circle)", f'"{EDIT_PROMPT}"'], scale=max(1, 256 // size))
    args.output.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(args.output)
    print(f"wrote {args.output} ({sheet.width}x{sheet.height})")
    return 0 if same else 1


if __name__ == "__main__":
    sys.exit(main())
