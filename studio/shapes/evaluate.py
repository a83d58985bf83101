"""Prompt-fidelity evaluation of the shapes model, measured from pixels.

    python -m studio.shapes.evaluate --model resources/models/studio-shapes --n 200 --steps 20 --guidance 5

For held-out captions (never seen verbatim in training) it generates images and
checks colour, shape and position with a small pixel classifier. The classifier
is first validated on ground-truth dataset renders (it should score ~100%).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections import deque
from pathlib import Path
from typing import Any

import numpy as np
import torch
from PIL import Image, ImageDraw, ImageFont

from studio.core.paths import subdir
from studio.engine._schedulers import applied_guidance_rescale
from studio.shapes import dataset as ds

PALETTE_NAMES = list(ds.COLORS)
PALETTE = np.array([ds.COLORS[c] for c in PALETTE_NAMES], dtype=np.float32)
_TPL = 32  # template resolution for shape matching


def _templates() -> dict[str, np.ndarray]:
    # Each shape rendered big, cropped to its own bounding box and squashed to 32x32,
    # so a detected blob can be compared after stretching its bbox the same way.
    out = {}
    for shape in ds.SHAPES:
        img = Image.new("L", (256, 256), 0)
        ds.draw_shape(ImageDraw.Draw(img), shape, 128, 128, 100, 255)
        m = np.asarray(img) > 127
        ys, xs = np.nonzero(m)
        crop = Image.fromarray((m[ys.min():ys.max() + 1, xs.min():xs.max() + 1] * 255).astype(np.uint8))
        out[shape] = np.asarray(crop.resize((_TPL, _TPL), Image.BILINEAR)) > 127
    return out


TEMPLATES = _templates()


def _components(mask: np.ndarray) -> list[np.ndarray]:
    """4-connected components as index arrays, largest first (plain BFS; images are small)."""
    h, w = mask.shape
    seen = np.zeros_like(mask, dtype=bool)
    comps = []
    for y0, x0 in zip(*np.nonzero(mask), strict=True):
        if seen[y0, x0]:
            continue
        seen[y0, x0] = True
        q, pix = deque([(y0, x0)]), []
        while q:
            y, x = q.popleft()
            pix.append((y, x))
            for ny, nx in ((y - 1, x), (y + 1, x), (y, x - 1), (y, x + 1)):
                if 0 <= ny < h and 0 <= nx < w and mask[ny, nx] and not seen[ny, nx]:
                    seen[ny, nx] = True
                    q.append((ny, nx))
        comps.append(np.array(pix))
    return sorted(comps, key=len, reverse=True)


def _hull_area(pts: np.ndarray) -> float:
    # Andrew's monotone chain + shoelace; pts are pixel centres (y, x).
    p = sorted({(float(x), float(y)) for y, x in pts})
    if len(p) < 3:
        return 0.0

    def half(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
        h: list[tuple[float, float]] = []
        for q in points:
            while len(h) >= 2 and ((h[-1][0] - h[-2][0]) * (q[1] - h[-2][1])
                                   - (h[-1][1] - h[-2][1]) * (q[0] - h[-2][0])) <= 0:
                h.pop()
            h.append(q)
        return h

    hull = half(p)[:-1] + half(p[::-1])[:-1]
    xs, ys = np.array([q[0] for q in hull]), np.array([q[1] for q in hull])
    return 0.5 * abs(float(np.dot(xs, np.roll(ys, 1)) - np.dot(ys, np.roll(xs, 1))))


def solidity(pix: np.ndarray) -> float:
    """Blob area over convex-hull area (pixel squares): ~0.6 for a star, ~1 for the others."""
    y0, x0 = pix.min(0)
    m = np.zeros(tuple(pix.max(0) - pix.min(0) + 1), dtype=bool)
    m[pix[:, 0] - y0, pix[:, 1] - x0] = True
    # Hull of pixel corners (not centres) so small convex blobs still score ~1.
    corners = np.concatenate([pix + d for d in ((0, 0), (0, 1), (1, 0), (1, 1))])
    return len(pix) / max(1.0, _hull_area(corners))


def _best_template(pix: np.ndarray, shapes: tuple[str, ...]) -> str:
    y0, x0 = pix.min(0)
    y1, x1 = pix.max(0)
    m = np.zeros((y1 - y0 + 1, x1 - x0 + 1), dtype=np.uint8)
    m[pix[:, 0] - y0, pix[:, 1] - x0] = 255
    m = np.asarray(Image.fromarray(m).resize((_TPL, _TPL), Image.BILINEAR)) > 127
    ious = {s: (m & TEMPLATES[s]).sum() / max(1, (m | TEMPLATES[s]).sum()) for s in shapes}
    return max(ious, key=ious.get)


def classify_shape(pix: np.ndarray) -> str:
    """Best template IoU after stretching the bbox to a square; a clearly non-convex blob is
    a star or a triangle, whichever template fits it better.

    The convexity test is robust to the soft edges of decoded images, where template IoU alone
    tends to read a blurred star as a circle. Non-convex blobs still go through the templates
    because generated triangles often have concave sides (a tent): by eye a triangle, by
    convexity alone a star (7 of 7 such cases in a by-eye audit of 80 generated images).
    """
    if solidity(pix) < 0.85:
        return _best_template(pix, ("star", "triangle"))
    return _best_template(pix, ds.SHAPES)


def classify_position(pix: np.ndarray, size: int = ds.IMAGE_SIZE) -> str:
    # Bounding-box centre, not centroid: a triangle's centroid sits low in its box.
    cy, cx = (pix.min(0) + pix.max(0)) / 2.0
    col = 0 if cx < size / 3 else (2 if cx > 2 * size / 3 else 1)
    row = 0 if cy < size / 3 else (2 if cy > 2 * size / 3 else 1)
    return next(p for p, g in ds.POSITIONS.items() if g == (col, row))


def classify_size(pix: np.ndarray) -> str:
    extent = float((pix.max(0) - pix.min(0) + 1).max())
    # Thresholds halfway between the nominal extents of the three sizes (~26, 40, 56 px).
    return "small" if extent < 33 else ("medium" if extent < 48 else "large")


def analyse(img: Image.Image, max_objects: int = 2, min_pixels: int = 40) -> dict[str, Any]:
    """Detect background and up to max_objects foreground blobs with colour/shape/position."""
    a = np.asarray(img.convert("RGB"), dtype=np.float32)
    border = np.concatenate([a[:3].reshape(-1, 3), a[-3:].reshape(-1, 3), a[:, :3].reshape(-1, 3),
                             a[:, -3:].reshape(-1, 3)])
    bg_rgb = np.median(border, axis=0)
    bg = int(np.argmin(((PALETTE - bg_rgb) ** 2).sum(1)))
    nearest = np.argmin(((a[:, :, None, :] - PALETTE) ** 2).sum(-1), axis=-1)
    far_from_bg = np.sqrt(((a - bg_rgb) ** 2).sum(-1)) > 60
    fg = far_from_bg & (nearest != bg)
    objects = []
    for pix in _components(fg)[:max_objects]:
        if len(pix) < min_pixels:
            break
        counts = np.bincount(nearest[pix[:, 0], pix[:, 1]], minlength=len(PALETTE))
        color = int(counts.argmax())
        # Re-threshold the blob halfway between its colour and the background (the 50% point of
        # a blurred edge), so soft decoder edges don't fill in a star's notches.
        vals = a[pix[:, 0], pix[:, 1]]
        closer = ((vals - PALETTE[color]) ** 2).sum(1) < ((vals - bg_rgb) ** 2).sum(1)
        core = pix[closer] if closer.sum() >= min_pixels // 2 else pix
        objects.append({"color": PALETTE_NAMES[color], "shape": classify_shape(core),
                        "position": classify_position(core), "size": classify_size(core), "pixels": len(pix)})
    return {"background": PALETTE_NAMES[bg], "objects": objects}


def score(label: dict[str, Any], found: dict[str, Any]) -> dict[str, list[bool]]:
    """Per named attribute, did the image show it? Objects are matched by colour first."""
    res: dict[str, list[bool]] = {"color": [], "shape": [], "position": [], "size": [], "background": [],
                                  "all": []}
    said = label.get("said", {})
    det = list(found["objects"])
    for i, obj in enumerate(label["objects"]):
        osaid = said["objects"][i] if said else {"color": True, "size": False, "position": True}
        match = next((d for d in det if d["color"] == obj["color"]), None)
        if match is None and len(label["objects"]) == 1 and det:
            match = det[0]  # single object in the wrong colour: still judge its shape/position
        ok_color = match is not None and match["color"] == obj["color"]
        ok_shape = match is not None and match["shape"] == obj["shape"]
        ok_pos = match is not None and match["position"] == obj["position"]
        res["color"].append(ok_color)
        res["shape"].append(ok_shape)
        res["position"].append(ok_pos)
        if osaid.get("size"):
            res["size"].append(match is not None and match["size"] == obj["size"])
        res["all"].append(ok_color and ok_shape and ok_pos)
        if match is not None:
            det.remove(match)
    if not said or said.get("background"):
        res["background"].append(found["background"] == label["background"])
    return res


def _summary(scores: list[dict[str, list[bool]]]) -> dict[str, float]:
    out = {}
    for k in ("color", "shape", "position", "size", "background", "all"):
        vals = [v for s in scores for v in s[k]]
        if vals:
            out[k] = round(100.0 * sum(vals) / len(vals), 1)
    return out


def validate_classifier(n: int = 400, seed: int = 99) -> dict[str, dict[str, float]]:
    """Classifier accuracy on ground-truth renders (all attributes scored, single and two-object)."""
    rng = random.Random(seed)
    out = {}
    for name, two in (("single", 0.0), ("two", 1.0)):
        scores = []
        for _ in range(n):
            label = ds.sample_scene(rng, two)
            full = dict(label, said={"objects": [{"color": True, "size": True, "position": True}
                                                 for _ in label["objects"]], "background": True})
            scores.append(score(full, analyse(ds.render(label))))
        out[name] = _summary(scores)
    return out


def load_pipeline(model: str, scheduler: str = "default"):
    from diffusers import (
        DDIMScheduler,
        DPMSolverMultistepScheduler,
        EulerAncestralDiscreteScheduler,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UniPCMultistepScheduler,
    )

    pipe = StableDiffusionPipeline.from_pretrained(model)
    classes = {"euler": EulerDiscreteScheduler, "euler_a": EulerAncestralDiscreteScheduler,
               "dpmpp_2m": DPMSolverMultistepScheduler, "ddim": DDIMScheduler, "unipc": UniPCMultistepScheduler}
    if scheduler != "default":
        pipe.scheduler = classes[scheduler].from_config(pipe.scheduler.config)
    pipe.set_progress_bar_config(disable=True)
    return pipe


def generate(pipe, captions: list[str], steps: int, guidance: float, seed: int, batch: int = 8,
             rescale: float = 0.0) -> list[Image.Image]:
    images = []
    for i in range(0, len(captions), batch):
        chunk = captions[i:i + batch]
        gens = [torch.Generator().manual_seed(seed + i + j) for j in range(len(chunk))]
        images += pipe(chunk, num_inference_steps=steps, guidance_scale=guidance, guidance_rescale=rescale,
                       generator=gens, height=ds.IMAGE_SIZE, width=ds.IMAGE_SIZE).images
    return images


def contact_sheet(images: list[Image.Image], captions: list[str], oks: list[bool], path: Path,
                  cols: int = 6, rows: int = 4) -> None:
    """Grid of samples, caption under each; green frame = colour+shape+position all right."""
    cell, text_h = 256, 46
    sheet = Image.new("RGB", (cols * cell, rows * (cell + text_h)), (255, 255, 255))
    draw = ImageDraw.Draw(sheet)
    font = ImageFont.load_default()
    for k, (img, cap, ok) in enumerate(list(zip(images, captions, oks, strict=True))[: cols * rows]):
        x, y = (k % cols) * cell, (k // cols) * (cell + text_h)
        sheet.paste(img.resize((cell - 8, cell - 8), Image.NEAREST), (x + 4, y + 4))
        draw.rectangle((x + 1, y + 1, x + cell - 2, y + cell - 2), outline=(0, 160, 0) if ok else (200, 0, 0),
                       width=3)
        words, lines, line = cap.split(), [], ""
        for w in words:
            if len(line) + len(w) + 1 > 40:
                lines.append(line)
                line = w
            else:
                line = f"{line} {w}".strip()
        lines.append(line)
        for j, ln in enumerate(lines[:3]):
            draw.text((x + 4, y + cell + 2 + 14 * j), ln, fill=(0, 0, 0), font=font)
    path.parent.mkdir(parents=True, exist_ok=True)
    sheet.save(path, optimize=True)


def evaluate(pipe, n: int, n_two: int, steps: int, guidance: float, seed: int = 0, rescale: float = 0.0
             ) -> tuple[dict[str, Any], list[tuple[Image.Image, str, bool]]]:
    results: dict[str, Any] = {}
    samples = []
    for name, count, two in (("single", n, 0.0), ("two", n_two, 1.0)):
        if count <= 0:
            continue
        items = ds.heldout_captions(count, seed=1234 + int(two), two_prob=two)
        caps = [c for c, _ in items]
        t0 = time.time()
        imgs = generate(pipe, caps, steps, guidance, seed, rescale=rescale)
        scores = [score(lab, analyse(im)) for im, (_, lab) in zip(imgs, items, strict=True)]
        results[name] = dict(_summary(scores), n=count, seconds_per_image=round((time.time() - t0) / count, 3))
        samples += [(im, c, all(s["all"])) for im, c, s in zip(imgs, caps, scores, strict=True)]
    return results, samples


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resources/models/studio-shapes")
    p.add_argument("--n", type=int, default=200, help="held-out single-object captions")
    p.add_argument("--n-two", type=int, default=60, help="held-out two-object captions")
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--guidance", type=float, default=5.0)
    p.add_argument("--compare-guidance", type=float, default=1.0, help="second run for contrast; <0 to skip")
    p.add_argument("--guidance-rescale", type=float, default=None,
                   help="0-1 (default: the model's own, as the app applies it; for this zero-SNR model "
                        "0 at guidance 2 rising to 0.7 at 5)")
    p.add_argument("--scheduler", default="default", choices=["default", "euler", "euler_a", "dpmpp_2m", "ddim",
                                                             "unipc"])
    p.add_argument("--sheet", default=None,
                   help="contact sheet PNG (default: samples.png in the report folder; the README's is "
                        "resources/models/studio-shapes-samples.png, written only when named here)")
    p.add_argument("--report", default=None,
                   help="folder for JSON/markdown (default: STUDIO_HOME/training/studio-shapes-eval)")
    p.add_argument("--threads", type=int, default=2)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)

    out = Path(args.report) if args.report else subdir("training") / "studio-shapes-eval"
    out.mkdir(parents=True, exist_ok=True)
    sheet = Path(args.sheet) if args.sheet else out / "samples.png"
    report: dict[str, Any] = {"model": args.model, "steps": args.steps, "scheduler": args.scheduler}
    report["classifier_on_ground_truth"] = validate_classifier()
    print("classifier on ground truth:", report["classifier_on_ground_truth"], flush=True)
    pipe = load_pipeline(args.model, args.scheduler)
    runs, rescales = {}, {}
    for g in [args.guidance] + ([args.compare_guidance] if args.compare_guidance >= 0 else []):
        # The engine's own rule: the asked-for value, else the model's own; none without guidance.
        rescale = applied_guidance_rescale(pipe, args.guidance_rescale, g, pipe.scheduler.config)
        res, samples = evaluate(pipe, args.n, args.n_two, args.steps, g, rescale=rescale)
        runs[f"guidance_{g:g}"], rescales[f"guidance_{g:g}"] = res, rescale
        print(f"guidance {g:g}:", json.dumps(res), flush=True)
        if g == args.guidance:
            # Mix single and two-object samples on the sheet: 18 single, 6 two-object.
            single, two = samples[: args.n], samples[args.n:]
            pick = single[:18] + two[:6] if two else single[:24]
            contact_sheet([s[0] for s in pick], [s[1] for s in pick], [s[2] for s in pick], sheet)
    report["runs"], report["guidance_rescale"] = runs, rescales
    (out / "report.json").write_text(json.dumps(report, indent=1))
    lines = [f"{args.steps} steps, {args.scheduler} scheduler.", "",
             "| guidance | rescale | set | n | color % | shape % | position % | size % | background % | all three % |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    for g, res in runs.items():
        for name, r in res.items():
            lines.append(f"| {g.split('_')[1]} | {rescales[g]:g} | {name} | {r['n']} | {r.get('color')} | {r.get('shape')} | "
                         f"{r.get('position')} | {r.get('size', '-')} | {r.get('background', '-')} | {r.get('all')} |")
    (out / "report.md").write_text("\n".join(lines) + "\n")
    print("\n".join(lines))


if __name__ == "__main__":
    main()
