"""`studio inspect FILE... [--json]`: what Studio reads from image files, without importing them.

For each file: the prompt, negative prompt, seed, steps, guidance, size, sampler, model and the
tool that wrote it, or one line `studio: error: FILE: ...`; then the next file. Exit 0 when every
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
        "tools writing its layout), InvokeAI or ComfyUI. Nothing is imported or changed.",
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
    """One file's entry: `file` and either the fields read or `error` (the one-line reason)."""
    from studio.core.metadata import MetadataError, model_name
    from studio.gallery.export import parameters_from_file

    try:
        found = parameters_from_file(name)
    except MetadataError as exc:
        return {"file": name, "error": exc.reason}
    request = found["request"]
    entry = {
        "file": name,
        "tool": _tool(found),
        "prompt": request.prompt,
        "negative_prompt": request.negative_prompt,
        "seed": request.seed,
        "steps": request.steps,
        "guidance": request.guidance_scale,
        "width": request.width,
        "height": request.height,
        "sampler": request.scheduler,
        # Another tool's model is only a name (Studio reuses the chosen model for it).
        "model": found.get("model_name") or (model_name(request) if found["source"] == "studio" else None),
    }
    if found.get("missing"):  # sources named by hash that this machine does not have
        entry["missing"] = list(found["missing"])
    return entry


def _tool(found: dict[str, Any]) -> str:
    """Which tool wrote the parameters, as far as the file says."""
    from studio.core.metadata import COMFYUI_KEY, INVOKEAI_KEY, PARAMETERS_KEY, STUDIO_KEY

    source = found.get("source")
    if source == STUDIO_KEY:
        return "Studio"
    if source == INVOKEAI_KEY:
        return "InvokeAI"
    if source == COMFYUI_KEY:
        return "ComfyUI"
    version = str(found.get("settings", {}).get("Version", ""))
    if source == PARAMETERS_KEY and version.lower().startswith("studio"):
        return f"Studio ({version})"
    return f"AUTOMATIC1111 layout ({version})" if version else "AUTOMATIC1111 layout"


def _describe(entry: dict[str, Any]) -> str:
    rows = [
        ("tool", entry["tool"]),
        ("prompt", entry["prompt"]),
        ("negative", entry["negative_prompt"]),
        ("seed", entry["seed"]),
        ("steps", entry["steps"]),
        ("guidance", f"{entry['guidance']:g}"),
        ("size", f"{entry['width']}x{entry['height']}"),
        ("sampler", entry["sampler"]),
        ("model", entry["model"] or "(not recorded)"),
    ]
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
