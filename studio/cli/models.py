"""`studio models list [--json] [--hashes]`, `studio models add PATH [--config CFG]`,
`studio models config PATH [CFG | --clear]`, `studio models remove PATH`,
`studio models download OWNER/NAME`: the model library from the command line.

Errors end in one line, `studio: error: ...`, and exit code 2 (bad input) or 1 (failure).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from studio.cli._output import EXIT_BAD_INPUT, EXIT_ERROR, error
from studio.core.settings import load_settings


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "models",
        help="list, add or download models and LoRAs",
        description="The model library: bundled model, the models folder, added paths and the local "
        "Hugging Face cache.",
    )
    sub = parser.add_subparsers(dest="models_command", metavar="ACTION")
    listing = sub.add_parser("list", help="list models and LoRAs")
    listing.add_argument("--json", action="store_true", help="print JSON instead of a table")
    listing.add_argument("--hashes", action="store_true", help="compute content hashes (reads every file once; cached)")
    add = sub.add_parser("add", help="add a .safetensors file or diffusers folder from where it is (no copy)")
    add.add_argument("path", help="model file, LoRA file or diffusers folder")
    add.add_argument("--config", default=None, metavar="PATH",
                     help="a single file's original .yaml config or a diffusers config folder")
    config = sub.add_parser("config", help="give a single-file model its original .yaml config or a diffusers "
                            "config folder (kept for every later job), or show or clear it")
    config.add_argument("path", help="the model file")
    config.add_argument("config", nargs="?", default=None, help="the .yaml file or diffusers folder (omit to show)")
    config.add_argument("--clear", action="store_true", help="forget the config: the file is read as it is")
    remove = sub.add_parser("remove", help="forget an added path (the file stays)")
    remove.add_argument("path")
    download = sub.add_parser("download", help="download a diffusers model from Hugging Face (safetensors only)")
    download.add_argument("repo_id", help="OWNER/NAME on huggingface.co")


def run(args: argparse.Namespace) -> int:
    from studio.engine.jobs import UserError

    action = getattr(args, "models_command", None) or "list"
    try:
        if action == "list":
            return _list(getattr(args, "json", False), getattr(args, "hashes", False))
        if action == "add":
            return _add(args.path, args.config)
        if action == "config":
            return _config(args.path, args.config, args.clear)
        if action == "remove":
            return _remove(args.path)
        return _download(args.repo_id)
    except UserError as exc:
        return error(exc, EXIT_BAD_INPUT if action in ("add", "remove", "config") else EXIT_ERROR)


def _list(as_json: bool, hashes: bool) -> int:
    from studio.engine.models import list_models

    entries = list_models(load_settings(), hashes=hashes)
    if as_json:
        print(json.dumps([e.to_dict() for e in entries], indent=2, ensure_ascii=False))
        return 0
    if not entries:
        print("no models yet: add one with `studio models add PATH`")
        return 0
    rows = [("NAME", "KIND", "ARCH", "SIZE", "HASH", "SOURCE", "NOTE")]
    for e in entries:
        own_text = f"own {e.context_width}-wide text encoder" if e.own_text_width else ""
        note = e.error or " ".join(x for x in ("inpaint" if e.inpaint else "", e.distilled,
                                               "v-pred" if e.prediction == "v_prediction" else "", own_text,
                                               f"config {Path(e.config).name}" if e.config else "") if x)
        rows.append((e.name, e.kind, e.arch or "?", human_size(e.size), e.short_hash or "-", e.source, note))
    widths = [max(len(row[i]) for row in rows) for i in range(len(rows[0]) - 1)]
    for row in rows:
        print("  ".join(cell.ljust(width) for cell, width in zip(row, widths, strict=False)) + "  " + row[-1])
    return 0


def _add(path: str, config: str | None = None) -> int:
    from studio.engine.models import add_model, set_model_config

    if config is not None:  # first: a file only its config explains is refused without it
        set_model_config(path, config, load_settings())
    entry = add_model(path, load_settings())
    print(f"added {entry.name}: {entry.kind}, {entry.arch or 'unknown architecture'}, {human_size(entry.size)}")
    return 0


def _config(path: str, config: str | None, clear: bool) -> int:
    from studio.engine.jobs import UserError
    from studio.engine.models import set_model_config, stored_config

    if clear and config is not None:
        raise UserError("give a config or --clear, not both")
    if clear:
        set_model_config(path, None, load_settings())
        print(f"{path}: no config (read as it is)")
    elif config is not None:
        entry = set_model_config(path, config, load_settings())
        print(f"{path}: config {config} ({entry.arch_label}{', inpaint' if entry.inpaint else ''}"
              f"{', v-pred' if entry.prediction == 'v_prediction' else ''})")
    else:
        given = stored_config(path)
        print(f"{path}: {f'config {given}' if given else 'no config (read as it is)'}")
    return 0


def _remove(path: str) -> int:
    from studio.engine.jobs import UserError
    from studio.engine.models import remove_model

    if not remove_model(path):
        raise UserError(f"{path} is not an added path (files in the models folder are listed automatically)")
    print(f"removed {path} from the library")
    return 0


def _download(repo_id: str) -> int:
    from studio.engine.models import download_from_hub

    print(f"downloading {repo_id} ...", file=sys.stderr)

    def show(size: int) -> None:
        print(f"\r  {human_size(size)} downloaded", end="", file=sys.stderr, flush=True)

    folder = download_from_hub(repo_id, progress=show)
    print(file=sys.stderr)
    print(f"downloaded {repo_id} to {folder}")
    return 0


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("B", "KB", "MB", "GB"):
        if value < 1024 or unit == "GB":
            return f"{value:.0f} {unit}" if unit == "B" else f"{value:.1f} {unit}"
        value /= 1024
    return f"{value:.1f} GB"
