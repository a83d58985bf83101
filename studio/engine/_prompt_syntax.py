"""The attention syntax artists type in other tools: `(word:1.3)`, `(word)`, `[word]`, `BREAK`.

Parsing only; no torch. `parse_prompt` turns a prompt into sections (split at BREAK) of text
fragments, each with the weight its brackets give it:

- `(text)` multiplies the weight by 1.1, `[text]` divides it by 1.1, and groups nest;
- `(text:1.3)` sets the group's factor to 1.3 instead of 1.1;
- `\\(`, `\\)`, `\\[`, `\\]` and `\\\\` are literal characters;
- a closing bracket that matches no open one is literal text; a group left open at the end
  applies to the rest of the prompt (what artists' existing prompts expect);
- `BREAK` (upper case, a whole word) ends the current 75-token chunk early.

compel (installed) has its own syntax (`word++`, `(word)1.3`) and no BREAK, so prompts written
for the tools artists know would silently change meaning; hence this small parser.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

ROUND_FACTOR = 1.1
SQUARE_FACTOR = 1 / 1.1

_WEIGHT_CLOSE = re.compile(r":\s*([+-]?(?:\d+(?:\.\d*)?|\.\d+))\s*\)")
_BREAK = re.compile(r"\bBREAK\b")


@dataclass(frozen=True)
class Fragment:
    text: str
    weight: float


Section = list[Fragment]


def parse_prompt(prompt: str) -> list[Section]:
    """Sections of weighted fragments; never raises, whatever the artist typed."""
    sections: list[list[list]] = [[]]  # mutable [text, weight] pairs while parsing
    stack: list[tuple[str, int, int]] = []  # (bracket, section index, fragment index) of each open group
    text: list[str] = []

    def flush() -> None:
        if text:
            sections[-1].append(["".join(text), 1.0])
            text.clear()

    def close_group(factor: float) -> None:
        _, section_index, start = stack.pop()
        for index in range(section_index, len(sections)):
            first = start if index == section_index else 0
            for pair in sections[index][first:]:
                pair[1] *= factor

    i = 0
    while i < len(prompt):
        char = prompt[i]
        if char == "\\" and i + 1 < len(prompt) and prompt[i + 1] in "()[]\\":
            text.append(prompt[i + 1])
            i += 2
            continue
        if char in "([":
            flush()
            stack.append((char, len(sections) - 1, len(sections[-1])))
            i += 1
            continue
        if char == ":" and stack and stack[-1][0] == "(":
            match = _WEIGHT_CLOSE.match(prompt, i)
            if match:
                flush()
                close_group(float(match.group(1)))
                i = match.end()
                continue
        if char == ")" and stack and stack[-1][0] == "(":
            flush()
            close_group(ROUND_FACTOR)
            i += 1
            continue
        if char == "]" and stack and stack[-1][0] == "[":
            flush()
            close_group(SQUARE_FACTOR)
            i += 1
            continue
        match = _BREAK.match(prompt, i) if char == "B" else None
        if match and (i == 0 or not (prompt[i - 1].isalnum() or prompt[i - 1] == "_")):
            flush()
            sections.append([])
            i = match.end()
            continue
        text.append(char)
        i += 1
    flush()
    while stack:  # groups never closed: apply to the rest, as other tools do
        close_group(ROUND_FACTOR if stack[-1][0] == "(" else SQUARE_FACTOR)
    return [_merge(section) for section in sections]


def _merge(section: list[list]) -> Section:
    """Drop empty fragments and join neighbours of equal weight."""
    out: list[Fragment] = []
    for text, weight in section:
        if not text:
            continue
        if out and out[-1].weight == weight:
            out[-1] = Fragment(out[-1].text + text, weight)
        else:
            out.append(Fragment(text, weight))
    return out


def plain_text(sections: list[Section]) -> str | None:
    """The prompt as plain text if parsing changed nothing that matters (one section, all weights 1)."""
    if len(sections) != 1 or any(f.weight != 1.0 for f in sections[0]):
        return None
    return "".join(f.text for f in sections[0])
