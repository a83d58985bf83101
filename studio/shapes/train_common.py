"""Small helpers shared by the training phases: progress line, seeding, checkpoints, learning rate."""

from __future__ import annotations

import math
import random
import sys
import time
from pathlib import Path
from typing import Any

import numpy as np
import torch

try:
    from tqdm import tqdm
except ImportError:  # pragma: no cover - tqdm is optional
    tqdm = None


class Progress:
    """tqdm when available, otherwise a printed line every few percent."""

    def __init__(self, total: int, start: int, desc: str) -> None:
        self.total, self.n, self.desc = total, start, desc
        self.bar = tqdm(total=total, initial=start, desc=desc, mininterval=5.0, file=sys.stdout) if tqdm else None
        self._last = time.time()

    def update(self, loss: float) -> None:
        self.n += 1
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            self.bar.update(1)
        elif time.time() - self._last > 10 or self.n == self.total:
            self._last = time.time()
            print(f"{self.desc} {self.n}/{self.total} loss={loss:.4f}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def save_ckpt(path: Path, **state: Any) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # atomic: a kill mid-save never leaves a corrupt checkpoint


def lr_at(step: int, total: int, base: float, warmup: int, time_frac: float = 0.0) -> float:
    """Warmup then cosine to 10%; progress is the larger of step and wall-clock fraction,
    so a time-capped run still anneals instead of stopping at full learning rate."""
    if step < warmup:
        return base * (step + 1) / warmup
    p = max((step - warmup) / max(1, total - warmup), time_frac)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))
