"""Phase 3 of training (after the VAE and its decoder): teach the small CLIP text encoder to
*parse* captions before the UNet trains.

Trained jointly from scratch through the diffusion loss, the text encoder and the UNet chase
each other: after 1000 UNet steps the model followed the caption's background but placed
objects at random. Here the encoder first learns, with a plain classification loss on its
pooled output, what each caption says: how many objects, each one's colour, shape, size and
position (or that it is unsaid), and the background. That takes a minute on a CPU; the UNet
then trains against fixed, already meaningful embeddings (the encoder stays frozen, as SD's
CLIP does).
"""

from __future__ import annotations

import random
from typing import Any

import torch
import torch.nn.functional as F
from transformers import CLIPTextModel, CLIPTokenizer

from studio.shapes import dataset as ds

COLORS = list(ds.COLORS)
POSITIONS = list(ds.POSITIONS)
UNSAID, ABSENT = "unsaid", "absent"
# Per object slot (first and second object named in the caption), the classes of each attribute.
SLOT_CLASSES: dict[str, list[str]] = {
    "color": COLORS + [UNSAID, ABSENT],
    "shape": list(ds.SHAPES) + [ABSENT],
    "size": list(ds.SIZES) + [UNSAID, ABSENT],
    "position": POSITIONS + [UNSAID, ABSENT],
}
BACKGROUND_CLASSES = COLORS + [UNSAID]


def targets(label: dict[str, Any], said: dict[str, Any]) -> list[int]:
    """Class indices, in head order: background, then color/shape/size/position for slots 0, 1."""
    out = [BACKGROUND_CLASSES.index(label["background"] if said["background"] else UNSAID)]
    for slot in range(2):
        obj = label["objects"][slot] if slot < len(label["objects"]) else None
        osaid = said["objects"][slot] if obj is not None else {}
        for attr, classes in SLOT_CLASSES.items():
            if obj is None:
                value = ABSENT
            elif attr == "shape" or osaid.get(attr):
                value = obj[attr]
            else:
                value = UNSAID
            out.append(classes.index(value))
    return out


def _head_sizes() -> list[int]:
    return [len(BACKGROUND_CLASSES)] + [len(c) for _ in range(2) for c in SLOT_CLASSES.values()]


def _batch(rng: random.Random, n: int) -> tuple[list[str], torch.Tensor]:
    captions, ys = [], []
    while len(captions) < n:
        label = ds.sample_scene(rng)
        caption, said = ds.describe(label, rng)
        if ds.is_heldout(caption):
            continue  # held-out captions stay unseen by every part of the model
        captions.append(caption)
        ys.append(targets(label, said))
    return captions, torch.tensor(ys)


def pretrain_text_encoder(te: CLIPTextModel, tok: CLIPTokenizer, steps: int, batch: int = 256,
                          lr: float = 2e-3, seed: int = 0, device: torch.device | None = None,
                          log=None) -> dict[str, float]:
    """Train `te` in place to parse captions; returns held-in accuracy per head group."""
    device = device or torch.device("cpu")
    sizes = _head_sizes()
    heads = torch.nn.Linear(te.config.hidden_size, sum(sizes)).to(device)
    opt = torch.optim.AdamW(list(te.parameters()) + list(heads.parameters()), lr=lr, weight_decay=1e-2)
    rng = random.Random(seed)
    te.train()

    def forward(captions: list[str]) -> list[torch.Tensor]:
        ids = tok(captions, padding="max_length", max_length=tok.model_max_length, truncation=True,
                  return_tensors="pt").input_ids.to(device)
        # Mean over all positions, not only the pooled EOS: the UNet reads every token.
        hidden = te(ids).last_hidden_state.mean(dim=1)
        return list(heads(hidden).split(sizes, dim=1))

    for step in range(steps):
        for g in opt.param_groups:
            g["lr"] = lr * min(1.0, (step + 1) / 50) * (0.1 + 0.9 * (1 - step / steps))
        captions, y = _batch(rng, batch)
        logits = forward(captions)
        y = y.to(device)
        loss = sum(F.cross_entropy(lg, y[:, i]) for i, lg in enumerate(logits))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if log is not None:
            log.write(f"text\t{step + 1}\t{loss.item():.5f}\n")
    te.eval()
    with torch.no_grad():
        captions, y = _batch(random.Random(seed + 999), 512)
        logits = forward(captions)
        correct = [(lg.argmax(1).cpu() == y[:, i]).float().mean().item() for i, lg in enumerate(logits)]
    names = ["background"] + [f"{a}{s}" for s in range(2) for a in SLOT_CLASSES]
    return {n: round(100 * c, 1) for n, c in zip(names, correct, strict=True)}
