"""Text diffs (issue 26): how faithful each inversion method is, and whether edits do what they say.

For every edit (source caption -> target caption that differs in one attribute: colour, shape or
position), the source is drawn by the bundled model from its caption (Euler, guidance 4, 20 steps,
as the app draws it), inverted under that caption by each method in studio/engine/_inversion.py,
and sampled back:

* amount 0: PSNR against the source (the VAE round trip alone is printed as the ceiling);
* amount 1: judged from pixels by the bundled model's evaluator (studio/shapes/evaluate.py): the
  edit "worked" when the named attribute now shows the target value while the other two
  attributes (of colour, shape, position) and the background stay what the evaluator saw in the
  source. Sources the evaluator misjudges are redrawn with the next seed (counted);
* cost: seconds of the inversion, and of one slider move (one sampling pass, inversion cached).

A tiny random SD pipeline (tests' kind) is measured for reconstruction and cost only (it draws
noise, so there is nothing to judge). Timings on a loaded machine are rough.

    python benchmarks/bench_textdiff.py [--edits 45] [--steps 30] [--methods direct,...] [--quick]
"""

from __future__ import annotations

import argparse
import itertools
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from studio.core.paths import bundled_model_path, bundled_model_present
from studio.engine import _inversion as inv
from studio.engine._sampler import decode_latents
from studio.shapes import evaluate as ev

COLOURS = ("red", "green", "yellow", "purple", "orange", "white")
SHAPES = ("circle", "square", "triangle", "star")
POSITIONS = ("on the left", "on the right", "at the top", "at the bottom", "in the center")
GUIDANCE = 4.0  # the app's for the bundled model; --guidance for the edits' own


def caption(colour: str, shape: str, position: str) -> str:
    return f"a {colour} {shape} {position} on a blue background"


def edits(count: int) -> list[tuple[str, tuple[str, str, str], tuple[str, str, str]]]:
    """(kind, source attributes, target attributes), the three kinds taking turns."""
    combos = list(itertools.product(COLOURS, SHAPES, POSITIONS))
    rng = np.random.default_rng(26)
    out = []
    for i in range(count):
        kind = ("color", "shape", "position")[i % 3]
        colour, shape, position = combos[int(rng.integers(len(combos)))]
        pool = {"color": COLOURS, "shape": SHAPES, "position": POSITIONS}[kind]
        current = {"color": colour, "shape": shape, "position": position}[kind]
        new = str(rng.choice([v for v in pool if v != current]))
        target = (new if kind == "color" else colour, new if kind == "shape" else shape,
                  new if kind == "position" else position)
        out.append((kind, (colour, shape, position), target))
    return out


def psnr(a: Image.Image, b: Image.Image) -> float:
    x, y = (np.asarray(i.convert("RGB"), dtype=np.float64) for i in (a, b))
    mse = float(((x - y) ** 2).mean())
    return 99.0 if mse == 0 else 10 * np.log10(255**2 / mse)


def position_name(phrase: str) -> str:
    return phrase.split(" ", 2)[-1] if phrase.startswith(("on the", "at the", "in the")) else phrase


def seen(image: Image.Image) -> dict | None:
    found = ev.analyse(image, max_objects=1)
    return found["objects"][0] | {"background": found["background"]} if found["objects"] else None


def judged(image: Image.Image, colour: str, shape: str, position: str) -> bool:
    obj = seen(image)
    return obj is not None and (obj["color"], obj["shape"], obj["position"], obj["background"]) == (
        colour, shape, position_name(position), "blue")


def rescale_at(guidance: float) -> float:
    return round(0.7 * min(1.0, max(0.0, (guidance - 2.0) / 3.0)), 3)  # the model's own (_schedulers)


def conditioning(pipe, source: str, target: str, guidance: float) -> inv.Conditioning:  # noqa: ANN001
    def enc(text: str) -> torch.Tensor:
        return pipe.encode_prompt(text, pipe.device, 1, False)[0]

    return inv.Conditioning(enc(source), enc(target), enc(""), guidance, rescale_at(guidance))


def bundled(args: argparse.Namespace, methods: list[str]) -> None:
    pipe = ev.load_pipeline(str(bundled_model_path()))
    rescale = rescale_at(GUIDANCE)
    schedule = inv.Schedule(pipe.scheduler.config, args.steps)
    rows = {m: {"psnr": [], "ok": {"color": [], "shape": [], "position": []}, "inv": [], "move": []} for m in methods}
    vae, redrawn = [], 0
    for number, (kind, src, tgt) in enumerate(edits(args.edits)):
        seed = 1000 * number
        while True:  # a source the evaluator reads correctly, so a change can be judged
            image = ev.generate(pipe, [caption(*src)], 20, GUIDANCE, seed, rescale=rescale)[0]
            if judged(image, *src) or seed >= 1000 * number + 5:
                break
            seed, redrawn = seed + 1, redrawn + 1
        before = seen(image)
        cond = conditioning(pipe, caption(*src), caption(*tgt), args.guidance)
        latent = inv.encode_image(pipe, image)
        vae.append(psnr(image, decode_latents(pipe, latent)))
        for method in methods:
            inversion = inv.invert(pipe.unet, schedule, latent, cond, method)
            start = time.perf_counter()
            back = decode_latents(pipe, inv.sample(pipe.unet, schedule, inversion, cond, 0.0))
            move = time.perf_counter() - start
            edited = decode_latents(pipe, inv.sample(pipe.unet, schedule, inversion, cond, 1.0))
            after = seen(edited)
            ok = before is not None and after is not None and after["background"] == before["background"]
            for attribute, value in zip(("color", "shape", "position"), tgt, strict=True):
                wanted = position_name(value) if attribute == "position" else value
                expected = wanted if attribute == kind else before and before[attribute]
                ok = ok and after[attribute] == expected
            row = rows[method]
            row["psnr"].append(psnr(image, back))
            row["ok"][kind].append(bool(ok))
            row["inv"].append(inversion.seconds)
            row["move"].append(move)
            print(f"edit {number + 1} {kind} {method}: {row['psnr'][-1]:.1f} dB, ok={bool(ok)}, "
                  f"invert {inversion.seconds:.1f} s, move {move:.1f} s", file=sys.stderr, flush=True)
            if args.sheet and number < 12:
                Image.fromarray(np.hstack([np.asarray(i) for i in (image, back, edited)])).save(
                    Path(args.sheet) / f"{number:02d}-{method}.png")
    print(f"\nbundled model, {args.edits} edits, {args.steps} steps, edit guidance {args.guidance:g} "
          f"(VAE round trip alone: {statistics.mean(vae):.1f} dB; {redrawn} sources redrawn)")
    print(f"{'method':16} {'PSNR@0 mean':>11} {'min':>6} {'colour ok':>10} {'shape ok':>9} {'position ok':>12} "
          f"{'all':>6} {'invert s':>9} {'move s':>7}")
    for method, row in rows.items():
        ok = row["ok"]
        every = ok["color"] + ok["shape"] + ok["position"]
        print(f"{method:16} {statistics.mean(row['psnr']):11.1f} {min(row['psnr']):6.1f} "
              f"{_rate(ok['color']):>10} {_rate(ok['shape']):>9} {_rate(ok['position']):>12} {_rate(every):>6} "
              f"{statistics.median(row['inv']):9.2f} {statistics.median(row['move']):7.2f}")


def _rate(values: list[bool]) -> str:
    return f"{sum(values)}/{len(values)}" if values else "-"


def tiny(args: argparse.Namespace, methods: list[str]) -> None:
    from studio.engine.tiny import ensure_tiny_model

    with tempfile.TemporaryDirectory() as folder:
        pipe = ev.load_pipeline(str(ensure_tiny_model(Path(folder) / "tiny")))
        schedule = inv.Schedule(pipe.scheduler.config, args.steps)
        rng = np.random.default_rng(0)
        image = Image.fromarray(rng.integers(0, 255, (64, 64, 3), dtype=np.uint8)).resize((64, 64))
        cond = conditioning(pipe, "a red circle", "a green circle", 5.0)
        cond = inv.Conditioning(cond.source, cond.target, cond.negative, 5.0, 0.0)
        latent = inv.encode_image(pipe, image)
        reference = decode_latents(pipe, latent)  # the VAE's own round trip: what inversion can reach
        print(f"\ntiny SD pipeline (random weights), 64 px, {args.steps} steps, guidance 5: PSNR against the "
              "VAE round trip")
        for method in methods:
            inversion = inv.invert(pipe.unet, schedule, latent, cond, method)
            start = time.perf_counter()
            back = decode_latents(pipe, inv.sample(pipe.unet, schedule, inversion, cond, 0.0))
            print(f"{method:16} PSNR@0 {psnr(reference, back):6.1f} dB  invert {inversion.seconds:6.2f} s  "
                  f"move {time.perf_counter() - start:5.2f} s")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--edits", type=int, default=45)
    parser.add_argument("--steps", type=int, default=30)
    parser.add_argument("--methods", default=",".join(inv.METHODS))
    parser.add_argument("--guidance", type=float, default=GUIDANCE, help="guidance of inversion and edit")
    parser.add_argument("--sheet", default="", help="a folder for source | amount 0 | amount 1 images")
    parser.add_argument("--quick", action="store_true", help="CI size: 3 edits, 10 steps")
    args = parser.parse_args()
    if args.quick:
        args.edits, args.steps = 3, 10
    torch.manual_seed(0)
    methods = [m for m in args.methods.split(",") if m]
    tiny(args, methods)
    if bundled_model_present():
        bundled(args, methods)
    else:
        print("\n(no bundled model: the edit table needs it)")


if __name__ == "__main__":
    main()
