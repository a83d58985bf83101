"""`studio inspect FILE... [--json]`: what Studio reads from image files, without importing them.

For each file: the prompt, negative prompt, seed, steps, guidance, size, sampler, model and the
tool that wrote it, as the file holds them (studio/gallery/image_reader.py, the reader import
uses too), or one line `studio: error: FILE: ...`; then the next file. Exit 0 when every
file was read, 1 when any was not, 2 for bad usage. A closed pipe (`| head`) ends quietly.
"""

from __future__ import annotations

import argparse
import json
import sys
import warnings
from typing import Any

from studio.cli._output import end_on_closed_pipe

EXIT_OK, EXIT_FAILED = 0, 1


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "inspect",
        help="show the generation parameters embedded in image files",
        description="Show what Studio reads from image files made by Studio, AUTOMATIC1111 (and "
        "tools writing its layout: Forge, SD.Next, Civitai), ComfyUI, Fooocus, InvokeAI, NovelAI, "
        "SwarmUI, Easy Diffusion or Draw Things, stealth pnginfo included. Nothing is imported or "
        "changed; fields a file does not hold show as not recorded (null in --json).",
    )
    parser.add_argument("files", nargs="+", metavar="FILE", help="image files (.png, .jpg, .webp, ...)")
    parser.add_argument("--json", action="store_true", help="print a JSON list, one object per file")


def run(args: argparse.Namespace) -> int:
    from PIL import Image

    # Text is read without decoding pixels, so a big image is no danger here; Pillow's warning
    # would only add noise (its hard limit still turns real bombs into one-line errors).
    warnings.simplefilter("ignore", Image.DecompressionBombWarning)
    failed, shown = False, 0
    try:
        if args.json:
            _write("[")
        for name in args.files:
            entry = inspect_file(name)
            if "error" in entry:
                failed = True
                _error(f"studio: error: {name}: {entry['error']}")
            if args.json:
                # ASCII escapes where stdout cannot take UTF-8: the output stays valid JSON.
                text = json.dumps(entry, indent=2, ensure_ascii=not _is_utf8(sys.stdout))
                _write(("," if shown else "") + "\n" + "\n".join("  " + line for line in text.split("\n")))
                shown += 1
            elif "error" not in entry:
                _write(("\n" if shown else "") + _describe(entry) + "\n")
                shown += 1
        if args.json:
            _write("\n]\n")
        sys.stdout.flush()
    except BrokenPipeError:
        end_on_closed_pipe()
    return EXIT_FAILED if failed else EXIT_OK


def inspect_file(name: str) -> dict[str, Any]:
    """One file's entry: `file` and either the fields read or `error` (the one-line reason).
    Fields the file does not hold are None: nothing is filled in from Studio's defaults."""
    from studio.core.metadata import MetadataError, model_name
    from studio.gallery.image_reader import read_file_fields
    from studio.gallery.sources import resolve_sources

    try:
        found = read_file_fields(name)
    except MetadataError as exc:
        return {"file": name, "error": exc.reason}
    request = found.get("request")
    model = found.get("model_name") or (model_name(request) if request is not None else None)
    entry: dict[str, Any] = {"file": name, "source": _tool(found)}
    entry.update({key: found.get(key) for key in _FIELDS})
    entry.update(model=model, model_hash=found.get("model_hash"))
    if found.get("strength") is not None:
        entry["strength"] = found["strength"]
    if request is not None:  # Studio's own file: sources named by hash that this machine lacks
        try:
            missing = resolve_sources(request, found.get("refs"))[1]
        except MetadataError:
            missing = ()
        if missing:
            entry["missing"] = list(missing)
    return entry


_FIELDS = ("prompt", "negative_prompt", "seed", "steps", "guidance_scale", "sampler", "width", "height")


def _tool(found: dict[str, Any]) -> str:
    """Which tool wrote the parameters, as far as the file says."""
    return str(found.get("tool") or "unknown")


def _describe(entry: dict[str, Any]) -> str:
    def shown(value: Any) -> str:
        return "(not recorded)" if value is None or value == "" else str(value)

    size = "(not recorded)" if entry["width"] is None or entry["height"] is None else \
        f"{entry['width']}x{entry['height']}"
    guidance = entry["guidance_scale"]
    rows = [
        ("tool", entry["source"]),
        ("prompt", shown(entry["prompt"])),
        ("negative", entry["negative_prompt"] or ""),
        ("seed", shown(entry["seed"])),
        ("steps", shown(entry["steps"])),
        ("guidance", shown(None if guidance is None else f"{guidance:g}")),
        ("size", size),
        ("sampler", shown(entry["sampler"])),
        ("model", shown(entry["model"])),
    ]
    if entry.get("strength") is not None:
        rows.append(("strength", f"{entry['strength']:g}"))
    rows += [("missing", line) for line in entry.get("missing", ())]
    lines = [entry["file"]]
    for key, value in rows:
        # Continuation lines of a multi-line prompt stay indented under their value.
        text = str(value).replace("\n", "\n" + " " * 12)
        lines.append(f"  {key + ':':<10}{text}")
    return "\n".join(lines)


def _write(text: str) -> None:
    sys.stdout.write(_printable(text, sys.stdout))


def _error(text: str) -> None:
    try:
        print(_printable(text, sys.stderr), file=sys.stderr)
    except (BrokenPipeError, ValueError):
        pass  # nowhere to say it


def _is_utf8(stream: Any) -> bool:
    return (getattr(stream, "encoding", None) or "").lower().replace("-", "") == "utf8"


def _printable(text: str, stream: Any) -> str:
    """`text` as `stream` can encode it: file names from the command line may hold undecodable
    bytes (lone surrogates), which would otherwise crash the print. In JSON the escape that
    comes out (\\udcff) is the JSON escape for that character."""
    encoding = getattr(stream, "encoding", None) or "utf-8"
    return text.encode(encoding, "backslashreplace").decode(encoding)
