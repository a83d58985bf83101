"""`studio gallery`: list, search, show and export what has been generated."""

from __future__ import annotations

import argparse
import json
import sys
from datetime import datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from studio.cli._output import EXIT_BAD_INPUT, EXIT_ERROR, CliError, error, folder_to_fill, warning

if TYPE_CHECKING:
    from studio.gallery import Record


def add_parser(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "gallery", help="list, search, show and export generated images",
        description="Browse the gallery of generated images from the terminal.",
    )
    sub = parser.add_subparsers(dest="gallery_command", metavar="ACTION", required=True)

    def listing(p: argparse.ArgumentParser) -> None:
        p.add_argument("--limit", type=int, default=50, help="how many entries (default 50)")
        p.add_argument("--offset", type=int, default=0, help="skip this many newest entries")
        p.add_argument("--favourites", action="store_true", help="only favourites")
        p.add_argument("--model", help="only images from this model name")
        p.add_argument("--mode", choices=["txt2img", "img2img", "inpaint", "outpaint", "blend"], help="only this mode")
        p.add_argument("--tag", help="only images with this tag")
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    listing(sub.add_parser("list", help="newest entries first"))
    search = sub.add_parser("search", help="full-text search over prompts, negatives and tags")
    search.add_argument("query", help="words to find (the last one may be a prefix)")
    listing(search)
    show = sub.add_parser("show", help="every parameter of one entry")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true", help="print JSON")
    export = sub.add_parser("export", help="write entries as image files with embedded parameters")
    export.add_argument("ids", type=int, nargs="+", metavar="ID")
    export.add_argument("--to", required=True, type=Path, metavar="DIR",
                        help="destination folder (made if only its last level is missing)")
    export.add_argument("--format", choices=["png", "jpg", "webp"], default="png")
    export.add_argument("--pattern", default=None,
                        help="file-name pattern, default {date}_{seed}_{prompt:40}; fields: date, id, "
                        "seed, prompt, negative, steps, cfg, width, height, scheduler, model, mode")
    export.add_argument("--json", action="store_true", help="print the written paths as JSON")
    sub.add_parser("check", help="check the database and the image files; repair what is damaged",
                   description="Runs SQLite's integrity check; a damaged database is rebuilt from what "
                   "it still holds and from the image files (the damaged file is kept). Also adds back "
                   "image files the gallery does not list and reports entries whose file is missing "
                   "or changed. Exit status 0: all is well or was repaired; 1: something needs you.")


def record_dict(record: Record) -> dict[str, Any]:
    """A JSON-friendly view of a record (the request in full)."""
    return {
        "id": record.id,
        "created": datetime.fromtimestamp(record.created).isoformat(timespec="seconds"),
        "mode": record.mode,
        "model": record.model_name,
        "model_hash": record.model_hash,
        "path": str(record.path),
        "sha256": record.sha256,
        "favourite": record.favourite,
        "tags": list(record.tags),
        "parent_id": record.parent_id,
        "grid": record.info.get("grid"),  # columns, rows and z of a sweep's grid; None otherwise
        "deleted": record.deleted,
        "timings": record.timings,
        "request": record.request.to_dict(),
    }


def _row(record: Record) -> str:
    from studio.gallery.grids import grid_shape  # the gallery package loads only once it is used

    when = datetime.fromtimestamp(record.created).strftime("%Y-%m-%d %H:%M")
    req = record.request
    star = "*" if record.favourite else " "
    prompt = " ".join(req.prompt.split())
    prompt = prompt if len(prompt) <= 50 else prompt[:49] + "…"
    shape = grid_shape(record)
    if shape is not None:  # a sweep's grid: say so, and how many cells, not the base's mode and size
        kind, size = "grid", f"{shape[0]}x{shape[1]} cells"
    else:
        kind, size = record.mode, f"{req.width}x{req.height}"
    return (f"{record.id:>6}{star} {when}  {kind:<7} {size:<9} "
            f"seed {req.seed:<10} {record.model_name[:18]:<18} {prompt}")


def run(args: argparse.Namespace) -> int:
    from studio.core.metadata import format_parameters
    from studio.gallery import Filters, Gallery, GalleryError

    if args.gallery_command == "export":  # before the gallery opens: a typo costs nothing
        try:
            folder_to_fill(args.to, "--to")
        except CliError as exc:
            return error(exc, EXIT_BAD_INPUT)
    try:
        gallery = Gallery.open()
    except GalleryError as exc:
        return error(exc, EXIT_ERROR)
    if gallery.notice and args.gallery_command != "check":  # check prints it among its findings
        warning(gallery.notice)
    try:
        action = args.gallery_command
        if action in ("list", "search"):
            filters = Filters(text=getattr(args, "query", ""), favourites_only=args.favourites,
                              model=args.model, mode=args.mode, tag=args.tag, stacks=False)
            records = gallery.list(max(0, args.offset), max(0, args.limit), filters)
            if args.json:
                print(json.dumps([record_dict(r) for r in records], indent=2, ensure_ascii=False))
            else:
                for record in records:
                    print(_row(record))
                total = gallery.count(filters)
                print(f"{len(records)} of {total} shown", file=sys.stderr)
            return 0
        if action == "show":
            record = gallery.get(args.id)
            if args.json:
                print(json.dumps(record_dict(record), indent=2, ensure_ascii=False))
            else:
                print(_row(record))
                print(f"file: {record.path}")
                if record.parent_id is not None:
                    print(f"made from: {record.parent_id}")
                if record.tags:
                    print(f"tags: {', '.join(record.tags)}")
                print()
                print(format_parameters(record.request, record.info))
            return 0
        if action == "export":
            from studio.gallery.export import DEFAULT_PATTERN, export_record

            written = []
            for record_id in args.ids:
                path = export_record(gallery, record_id, args.to, args.format,
                                     args.pattern or DEFAULT_PATTERN)
                written.append(str(path))
                if not args.json:
                    print(path)
            if args.json:
                print(json.dumps(written, indent=2, ensure_ascii=False))
            return 0
        if action == "check":
            findings = gallery.check()
            for line in findings:
                print(line)
            print(f"gallery checked: {gallery.count(Filters(stacks=False))} pictures, "
                  f"{gallery.count(Filters(deleted=True))} in the bin"
                  + ("" if findings else "; no problems found"))
            return 1 if any("missing or changed" in line for line in findings) else 0
        raise AssertionError(action)
    except GalleryError as exc:
        return error(exc, EXIT_ERROR)
    finally:
        gallery.close()
