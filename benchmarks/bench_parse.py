"""Metadata parsing cost on untrusted input (issue 19: imports that cannot hang or crash).

    python benchmarks/bench_parse.py              # time per KB of adversarial input, 10 KB .. ~1 MB
    python benchmarks/bench_parse.py --fuzz 2000  # `studio inspect` over 2,000 fuzzed files

Sizes: for each adversarial A1111 line and JSON document, the best of a few runs at each size,
printed as microseconds per KB, and the ratio of the largest size's per-KB time to the smallest's
(linear time => about 1; the old A1111 pattern was quadratic, ~70 s at 200 KB).

Fuzz: derives the files from the corpus in tests/fuzz/ with tests/fuzz_support.py into a temp
folder, reads each as `studio inspect` does, and reports the count, tracebacks (must be 0),
files over 5 s (must be 0) and the slowest file.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import traceback
import warnings
from collections import Counter
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests")]

from fuzz_support import mutated_files  # noqa: E402

from studio.cli.inspect import inspect_file  # noqa: E402
from studio.core.metadata import MetadataError, parse_comfyui, parse_invokeai, parse_parameters  # noqa: E402

SIZES_KB = (10, 30, 100, 300, 950)  # the readers refuse text over 1,000,000 characters


def _fill(unit: str, size: int, head: str = "", tail: str = "") -> str:
    return head + unit * max(1, (size - len(head) - len(tail)) // len(unit)) + tail


# name -> (parser, builder of about `size` characters)
CASES: dict[str, tuple[Callable[[str], object], Callable[[int], str]]] = {
    "A1111: spaces inside a key": (parse_parameters, lambda n: _fill(" ", n, "p\nA", "x")),
    "A1111: spaces after a colon": (parse_parameters, lambda n: _fill(" ", n, "p\nSteps: 20, A:", "x")),
    "A1111: unclosed escaped quote": (parse_parameters, lambda n: _fill('\\"', n, 'p\nSteps: 20, A: "')),
    "A1111: long quoted value": (parse_parameters,
                                 lambda n: _fill('a\\"b, ', n, 'p\nSteps: 20, Seed: 1, Model: "', '"')),
    "A1111: many prompt lines": (parse_parameters,
                                 lambda n: _fill("word, Negative prompt: x\n", n, "", "Steps: 2, Seed: 1, Size: 64x64")),
    "JSON: wide object": (parse_invokeai,
                          lambda n: _fill('"k": 1, ', n, '{"positive_prompt": "p", ', '"seed": 1}')),
    "JSON: long escaped string": (parse_invokeai, lambda n: _fill("\\u00e9\\\"", n, '{"positive_prompt": "', '"}')),
    "JSON: deep nests side by side": (parse_invokeai,
                                      lambda n: _fill("[" * 150 + "]" * 150 + ",", n, '{"a": [', "0]}")),
    "JSON: ComfyUI graph": (parse_comfyui, lambda n: _comfy_graph(n)),
}


def _comfy_graph(size: int) -> str:
    nodes = {"1": {"class_type": "KSampler", "inputs": {"seed": 1, "positive": ["2", 0], "model": ["3", 0]}},
             "2": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox"}}}
    index = 3
    while len(json.dumps(nodes)) < size:
        nodes[str(index)] = {"class_type": "LoraLoader", "inputs": {"model": [str(index + 1), 0]}}
        index += 1
    return json.dumps(nodes)


def _best(parse: Callable[[str], object], text: str, repeats: int) -> tuple[float, bool]:
    """The best time of `repeats` parses, and whether the parser refused the text."""
    best, refused = float("inf"), False
    for _ in range(repeats):
        start = time.perf_counter()
        try:
            parse(text)
        except MetadataError:
            refused = True  # over a cap: refusing fast is the point
        best = min(best, time.perf_counter() - start)
    return best, refused


def bench_sizes() -> None:
    print(f"{'input':<32}" + "".join(f"{kb:>9} KB" for kb in SIZES_KB) + "   largest/smallest")
    for name, (parse, build) in CASES.items():
        per_kb, cells = [], []
        for kb in SIZES_KB:
            text = build(kb * 1000)
            seconds, refused = _best(parse, text, repeats=5 if kb <= 100 else 3)
            per_kb.append(seconds / (len(text) / 1000))
            cells.append(f"{per_kb[-1] * 1e6:>9.2f}{'*' if refused else ' '}us")
        print(f"{name:<32}{''.join(cells)}   {per_kb[-1] / per_kb[0]:>6.2f}")
    print("(microseconds per KB of input, best of 3-5; the ratio is ~1 for linear time;"
          " * = refused as over a cap)")


def bench_fuzz(count: int) -> int:
    warnings.simplefilter("ignore")  # Pillow's notes on damaged EXIF and big images
    outcomes: Counter[str] = Counter()
    tracebacks: list[str] = []
    slow, slowest = 0, (0.0, "")
    with tempfile.TemporaryDirectory() as folder:
        start_all = time.perf_counter()
        files = list(mutated_files(Path(folder), count))
        made = time.perf_counter() - start_all
        inspect_file(str(ROOT / "tests" / "fuzz" / "studio.png"))  # first-use imports, not per file
        start_all = time.perf_counter()
        for path in files:
            start = time.perf_counter()
            try:
                entry = inspect_file(str(path))
                outcomes["refused" if "error" in entry else "read"] += 1
            except Exception:  # what must never happen: report it
                tracebacks.append(f"{path.name}: {traceback.format_exc()}")
            seconds = time.perf_counter() - start
            slow += seconds > 5.0
            slowest = max(slowest, (seconds, path.name))
        total = time.perf_counter() - start_all
    print(f"files: {count} (made in {made:.1f} s from tests/fuzz/), read: {outcomes['read']}, "
          f"refused with one line: {outcomes['refused']}")
    print(f"tracebacks: {len(tracebacks)}, files over 5 s: {slow}, "
          f"slowest: {slowest[0] * 1000:.1f} ms ({slowest[1]}), all: {total:.2f} s")
    for text in tracebacks[:5]:
        print(text)
    return 1 if tracebacks or slow else 0


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--fuzz", type=int, metavar="N", help="read N fuzzed files instead")
    args = parser.parse_args()
    if args.fuzz:
        return bench_fuzz(args.fuzz)
    bench_sizes()
    return 0


if __name__ == "__main__":
    sys.exit(main())
