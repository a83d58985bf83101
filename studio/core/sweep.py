"""Sweeps: one base request varied along up to three axes (X, Y, and Z = one grid per value).

A sweep is plain data: it expands into one ordinary GenerationRequest per cell, which any executor
runs as a job, so a cell's pixels depend only on its own request. Values are written as artists
type them: `seed=1-8`, `guidance=3-9:4` (four evenly spaced values), `sampler=Euler,DDIM`,
`size=512,512x768`, and `prompt=red,blue,green` (search and replace: the first value is the text
looked for in the prompt, every value in turn replaces it).
"""

from __future__ import annotations

import csv
import math
import re
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from studio.core.request import MAX_SEED, SCHEDULERS, GenerationRequest, RequestError

MAX_VALUES = 64  # on one axis
MAX_CELLS = 512  # in one sweep: 8 grids of 8 x 8
AXIS_NAMES: tuple[str, ...] = (
    "seed", "steps", "guidance", "sampler", "strength", "size", "model", "lora", "blend", "prompt",
)
AXIS_HELP: dict[str, str] = {
    "seed": "noise seeds, e.g. 1-8 or 3,17,42",
    "steps": "denoising steps, e.g. 10,20,30",
    "guidance": "guidance scale, e.g. 3-9:4",
    "sampler": f"sampler names: {', '.join(SCHEDULERS)}",
    "strength": "how far an edit moves from its source (0-1), e.g. 0.3-0.9:4",
    "size": "pixels, e.g. 512,768 or 512x768",
    "model": "model folders or files; 'default' is the bundled model",
    "lora": "the weight of the request's LoRAs, e.g. 0-1:5",
    "blend": "the weight of the blend prompts, e.g. 0-1:5",
    "prompt": "search and replace: the first value is found in the prompt, each value replaces it",
}
_INTEGER = {"seed", "steps"}
_NUMBER = {"guidance", "strength", "lora", "blend"}
_RANGE = re.compile(r"^\s*(-?\d+(?:\.\d+)?)\s*-\s*(-?\d+(?:\.\d+)?)\s*(?::\s*(\d+)\s*)?$")
_SIZE = re.compile(r"^\s*(\d+)\s*(?:[x×*]\s*(\d+)\s*)?$", re.IGNORECASE)

Value = int | float | str | tuple[int, int]


@dataclass(frozen=True)
class Axis:
    """One axis: what varies and the values it takes, in order."""

    name: str
    values: tuple[Value, ...]

    @classmethod
    def parse(cls, text: str) -> Axis:
        """`NAME=VALUES` as typed on the command line or in the Grid panel; RequestError, one line."""
        name, sep, rest = text.partition("=")
        if not sep:
            raise RequestError(f"{text!r}: write an axis as NAME=VALUES, e.g. seed=1-4 or prompt=red,blue")
        return cls.from_text(name, rest)

    @classmethod
    def from_text(cls, name: str, values: str) -> Axis:
        name = name.strip().lower()
        if name not in AXIS_NAMES:
            raise RequestError(f"unknown axis {name!r}; choose one of {', '.join(AXIS_NAMES)}")
        items = _split(values)
        if not items:
            raise RequestError(f"the {name} axis has no values; {AXIS_HELP[name]}")
        parsed: list[Value] = []
        for item in items:
            parsed.extend(_parse_item(name, item))
            if len(parsed) > MAX_VALUES:
                raise RequestError(f"the {name} axis has more than {MAX_VALUES} values; sweep fewer")
        if name == "prompt" and len(parsed) < 2:
            raise RequestError("a prompt axis needs the text to find and at least one more, e.g. prompt=red,blue")
        return cls(name, tuple(parsed))

    def __len__(self) -> int:
        return len(self.values)

    # ---- applying ------------------------------------------------------------------------------
    def apply(self, request: GenerationRequest, index: int) -> GenerationRequest:
        """The request with this axis at its `index`-th value (not yet validated)."""
        value = self.values[index]
        name = self.name
        if name == "seed":
            return request.replace(seed=value)
        if name == "steps":
            return request.replace(steps=value)
        if name == "guidance":
            return request.replace(guidance_scale=value)
        if name == "sampler":
            return request.replace(scheduler=value)
        if name == "strength":
            if not request.init_image:
                raise RequestError("a strength axis needs a source picture (an edit or variation)")
            return request.replace(strength=value)
        if name == "size":
            width, height = value  # type: ignore[misc]
            return request.replace(width=width, height=height)
        if name == "model":
            return request.replace(model=value)
        if name == "lora":
            if not request.loras:
                raise RequestError("a lora axis needs a LoRA in the request to weigh")
            return request.replace(loras=tuple((path, float(value)) for path, _ in request.loras))
        if name == "blend":
            if not request.blend_prompts:
                raise RequestError("a blend axis needs a blend prompt to weigh")
            return request.replace(blend_weights=tuple(float(value) for _ in request.blend_prompts))
        # prompt: search and replace, in the prompt and the negative prompt (as A1111's Prompt S/R)
        find = str(self.values[0])
        if find not in request.prompt and find not in request.negative_prompt:
            raise RequestError(f"the prompt has no {find!r} to replace; the first prompt value must be in it")
        return request.replace(
            prompt=request.prompt.replace(find, str(value)),
            negative_prompt=request.negative_prompt.replace(find, str(value)),
        )

    # ---- words ---------------------------------------------------------------------------------
    def label(self, index: int) -> str:
        """The value as the grid's edge shows it: 'seed 3', 'guidance 4.5', or the prompt's words."""
        value = self.values[index]
        if self.name == "prompt":
            return str(value)
        if self.name == "size":
            width, height = value  # type: ignore[misc]
            return f"{width}×{height}"
        if self.name == "model":
            return Path(str(value)).name or "default model" if value else "default model"
        return f"{self.name} {_number(value)}"

    def value_text(self, index: int) -> str:
        value = self.values[index]
        if self.name == "size":
            width, height = value  # type: ignore[misc]
            return f"{width}x{height}"
        if self.name == "model":
            return str(value) or "default"
        return _number(value) if isinstance(value, (int, float)) else str(value)

    def text(self) -> str:
        """NAME=VALUES, which parse() reads back to this axis."""
        return f"{self.name}={_join(self.value_text(i) for i in range(len(self)))}"

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "values": [self.value_text(i) for i in range(len(self))]}

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Axis:
        return cls.from_text(str(data["name"]), _join(str(v) for v in data["values"]))


@dataclass(frozen=True)
class Cell:
    """One picture of a sweep: where it sits (x, y, z indices) and what it asks for."""

    x: int
    y: int
    z: int
    request: GenerationRequest

    @property
    def index(self) -> tuple[int, int, int]:
        return (self.x, self.y, self.z)


@dataclass(frozen=True)
class Sweep:
    base: GenerationRequest
    x: Axis
    y: Axis | None = None
    z: Axis | None = None

    @classmethod
    def batch(cls, base: GenerationRequest, count: int) -> Sweep:
        """`count` pictures of one request, seeds counting up from its own: the one-axis sweep."""
        if not 1 <= count <= MAX_VALUES:
            raise RequestError(f"the count must be between 1 and {MAX_VALUES}")
        seeds = tuple((base.seed + i) % (MAX_SEED + 1) for i in range(count))
        return cls(base, Axis("seed", seeds))

    @property
    def axes(self) -> tuple[Axis, ...]:
        return tuple(a for a in (self.x, self.y, self.z) if a is not None)

    @property
    def shape(self) -> tuple[int, int, int]:
        """Columns, rows, grids."""
        return (len(self.x), len(self.y) if self.y else 1, len(self.z) if self.z else 1)

    @property
    def count(self) -> int:
        columns, rows, grids = self.shape
        return columns * rows * grids

    def validate(self) -> Sweep:
        """The sweep if every cell can run; RequestError naming the first cell that cannot."""
        names = [a.name for a in self.axes]
        for name in set(names):
            if names.count(name) > 1:
                raise RequestError(f"the {name} axis is there twice; vary it on one axis only")
        if self.count > MAX_CELLS:
            raise RequestError(f"{self.count} cells is more than {MAX_CELLS}; sweep fewer values")
        self.cells()
        return self

    def cells(self) -> list[Cell]:
        """Every cell's validated request, grid by grid, row by row (the order they run in)."""
        columns, rows, grids = self.shape
        cells = []
        for z in range(grids):
            for y in range(rows):
                for x in range(columns):
                    cells.append(Cell(x, y, z, self.cell_request(x, y, z)))
        return cells

    def cell_request(self, x: int, y: int = 0, z: int = 0) -> GenerationRequest:
        request = self.base
        places = []
        for axis, index in ((self.x, x), (self.y, y), (self.z, z)):
            if axis is not None:
                request = axis.apply(request, index)
                places.append(axis.label(index))
        try:
            return request.validate()
        except RequestError as exc:
            raise RequestError(f"cell {', '.join(places)}: {exc}") from None

    def title(self, z: int) -> str:
        """The heading of grid `z`: the Z value, or the prompt when there is no Z axis."""
        return self.z.label(z) if self.z else self.base.prompt

    def arguments(self) -> str:
        """The --x/--y/--z options of `studio grid` that make this sweep again."""
        parts = []
        for flag, axis in (("--x", self.x), ("--y", self.y), ("--z", self.z)):
            if axis is not None:
                parts.append(f"{flag} {_quote(axis.text())}")
        return " ".join(parts)

    def to_dict(self) -> dict[str, Any]:
        data: dict[str, Any] = {"base": self.base.to_dict()}
        for key in ("x", "y", "z"):
            axis = getattr(self, key)
            if axis is not None:
                data[key] = axis.to_dict()
        return data

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Sweep:
        """RequestError (one line) for a dict that is not a sweep."""
        try:
            base = GenerationRequest.from_dict(data["base"])
            axes = {k: Axis.from_dict(data[k]) for k in ("x", "y", "z") if data.get(k)}
            return cls(base, axes["x"], axes.get("y"), axes.get("z"))
        except (KeyError, TypeError, AttributeError) as exc:
            raise RequestError(f"this sweep description is damaged ({type(exc).__name__})") from None


# ---- parsing helpers ----------------------------------------------------------------------------
def _split(values: str) -> list[str]:
    """Comma-separated, with CSV quoting for values that hold commas: prompt="red, glossy",blue."""
    rows = list(csv.reader([values], skipinitialspace=True))
    return [item.strip() for item in (rows[0] if rows else []) if item.strip()]


def _join(values: Any) -> str:
    out = []
    for value in values:
        text = str(value)
        out.append('"' + text.replace('"', '""') + '"' if any(c in text for c in ',"') or text != text.strip() else text)
    return ",".join(out)


def _quote(text: str) -> str:
    return "'" + text.replace("'", "'\\''") + "'"


def _number(value: Any) -> str:
    return f"{value:g}" if isinstance(value, float) else str(value)


def _parse_item(name: str, item: str) -> list[Value]:
    if name in _INTEGER or name in _NUMBER:
        found = _RANGE.match(item)
        if found:
            return _range(name, float(found[1]), float(found[2]), found[3])
        try:
            number = float(item)
        except ValueError:
            raise RequestError(f"{item!r} is not a number for the {name} axis; {AXIS_HELP[name]}") from None
        if name in _INTEGER:
            if number != int(number):
                raise RequestError(f"{item!r}: the {name} axis takes whole numbers")
            return [int(number)]
        return [number]
    if name == "sampler":
        for scheduler in SCHEDULERS:
            if scheduler.lower() == item.lower():
                return [scheduler]
        raise RequestError(f"unknown sampler {item!r}; choose from {', '.join(SCHEDULERS)}")
    if name == "size":
        found = _SIZE.match(item)
        if not found:
            raise RequestError(f"{item!r} is not a size; write 512 or 512x768")
        width = int(found[1])
        return [(width, int(found[2]) if found[2] else width)]
    if name == "model":
        return ["" if item.lower() in ("default", "bundled") else str(Path(item).expanduser())]
    return [item]  # prompt


def _range(name: str, start: float, stop: float, count: str | None) -> list[Value]:
    if count is None:  # every whole step from start to stop, either way
        if start != int(start) or stop != int(stop):
            raise RequestError(f"{start:g}-{stop:g}: say how many values, e.g. {start:g}-{stop:g}:4")
        step = 1 if stop >= start else -1
        numbers = [float(v) for v in range(int(start), int(stop) + step, step)]
    else:
        n = int(count)
        if n < 1:
            raise RequestError(f"{name}: a range needs at least one value")
        if n > MAX_VALUES:
            raise RequestError(f"the {name} axis has more than {MAX_VALUES} values; sweep fewer")
        numbers = [start] if n == 1 else [start + (stop - start) * i / (n - 1) for i in range(n)]
    if len(numbers) > MAX_VALUES:
        raise RequestError(f"the {name} axis has more than {MAX_VALUES} values; sweep fewer")
    if name in _INTEGER:
        return [int(math.floor(v + 0.5)) for v in numbers]
    return [round(v, 4) for v in numbers]
