"""Fit the fast latent->RGB preview map used for live previews during sampling.

    python -m studio.shapes.fit_preview --model resources/models/studio-shapes

Least squares from (scaled) latents of dataset images to the images downsampled to
latent resolution in [-1, 1]; writes ``preview_map.json`` into the model folder as
``{"weights": [[w_r, w_g, w_b] per latent channel], "bias": [b_r, b_g, b_b]}``.
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

import numpy as np
import torch
from diffusers import AutoencoderKL
from PIL import Image

from studio.shapes import dataset as ds


def fit_preview_map(vae: AutoencoderKL, n: int = 512, seed: int = 5) -> tuple[np.ndarray, np.ndarray, float]:
    """Return (weights C x 3, bias 3, R^2) for rgb = latent . weights + bias."""
    rng = random.Random(seed)
    xs, ys = [], []
    with torch.no_grad():
        for _ in range(0, n, 32):
            imgs = [ds.sample(rng)[0] for _ in range(32)]
            x = torch.from_numpy(np.stack([ds.image_to_array(im) for im in imgs]))
            # Latents exactly as the pipeline sees them while sampling (already scaled).
            lat = vae.encode(x).latent_dist.mean * vae.config.scaling_factor
            h, w = lat.shape[-2:]
            small = np.stack([ds.image_to_array(im.resize((w, h), Image.BOX)) for im in imgs])
            xs.append(lat.permute(0, 2, 3, 1).reshape(-1, lat.shape[1]).numpy())
            ys.append(small.transpose(0, 2, 3, 1).reshape(-1, 3))
    X, Y = np.concatenate(xs), np.concatenate(ys)
    A = np.concatenate([X, np.ones((len(X), 1), np.float32)], axis=1)
    sol, *_ = np.linalg.lstsq(A, Y, rcond=None)
    pred = A @ sol
    r2 = 1.0 - ((Y - pred) ** 2).sum() / ((Y - Y.mean(0)) ** 2).sum()
    return sol[:-1], sol[-1], float(r2)


def write_preview_map(model_dir: str | Path, n: int = 512) -> float:
    """Fit on the model's VAE and write preview_map.json; returns R^2."""
    vae = AutoencoderKL.from_pretrained(Path(model_dir) / "vae").eval()
    w, b, r2 = fit_preview_map(vae, n)
    data = {"weights": [[round(float(v), 6) for v in row] for row in w], "bias": [round(float(v), 6) for v in b]}
    (Path(model_dir) / "preview_map.json").write_text(json.dumps(data, indent=1) + "\n")
    return r2


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--model", default="resources/models/studio-shapes")
    p.add_argument("--n", type=int, default=512, help="dataset images to fit on")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    r2 = write_preview_map(args.model, args.n)
    print(f"preview map written to {Path(args.model) / 'preview_map.json'}; R^2 = {r2:.4f}")


if __name__ == "__main__":
    main()
