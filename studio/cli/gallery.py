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
    from studio.gallery import Gallery, Record

SORTS = ("date", "rating", "prompt", "model", "size")  # as studio.gallery.query.SORTS (not loaded here)


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
        choosing(p)
        p.add_argument("--sort", choices=list(SORTS), default="date",
                       help="order: date, rating or size (largest first), prompt or model (A to Z)")
        p.add_argument("--stacks", action="store_true",
                       help="list a grid, batch or chain of edits as its first picture only")
        p.add_argument("--json", action="store_true", help="print JSON instead of a table")

    def choosing(p: argparse.ArgumentParser) -> None:
        p.add_argument("--board", metavar="NAME", help="only images on this board")
        p.add_argument("--min-rating", type=int, default=0, metavar="N", choices=range(6),
                       help="only images rated N (0-5) or more")

    listing(sub.add_parser("list", help="newest entries first"))
    search = sub.add_parser("search", help="full-text search over prompts, negatives and tags")
    search.add_argument("query", help="words to find (the last one may be a prefix)")
    listing(search)
    show = sub.add_parser("show", help="every parameter of one entry")
    show.add_argument("id", type=int)
    show.add_argument("--json", action="store_true", help="print JSON")
    export = sub.add_parser("export", help="write entries as image files with embedded parameters")
    export.add_argument("ids", type=int, nargs="*", metavar="ID",
                        help="entries to export (with --board: these and the board's)")
    choosing(export)
    export.add_argument("--to", required=True, type=Path, metavar="DIR",
                        help="destination folder (made if only its last level is missing)")
    export.add_argument("--format", choices=["png", "jpg", "webp"], default="png")
    export.add_argument("--pattern", default=None,
                        help="file-name pattern, default {date}_{seed}_{prompt:40}; fields: date, id, "
                        "seed, prompt, negative, steps, cfg, width, height, scheduler, model, mode")
    export.add_argument("--json", action="store_true", help="print the written paths as JSON")
    sub.add_parser("boards", help="list the boards and how many pictures each holds")
    board = sub.add_parser("board", help="put pictures on a board or take them off")
    board.add_argument("board_action", choices=["add", "remove"], metavar="add|remove")
    board.add_argument("name", metavar="NAME", help="the board (add makes it if missing)")
    board.add_argument("ids", type=int, nargs="+", metavar="ID")
    rate = sub.add_parser("rate", help="rate pictures from 0 (unrated) to 5",
                          description="studio gallery rate ID... N: give each picture the rating N (0-5).")
    rate.add_argument("ids_and_rating", type=int, nargs="+", metavar="ID... N")
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
        "rating": record.rating,
        "tags": list(record.tags),
        "boards": list(record.boards),
        "stack_id": record.stack_id,  # the head of its stack (a grid, a batch's first, an edit's source)
        "stack_size": record.stack_size,
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
    star = ("*" if record.favourite else " ") + (str(record.rating) if record.rating else " ")
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
        if not args.ids and not args.board:
            return error("nothing to export: give entry ids or --board NAME", EXIT_BAD_INPUT)
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
            _known_board(gallery, args.board)
            filters = Filters(text=getattr(args, "query", ""), favourites_only=args.favourites,
                              model=args.model, mode=args.mode, tag=args.tag, board=args.board,
                              min_rating=args.min_rating, sort=args.sort,
                              descending=args.sort not in ("prompt", "model"), stacks=args.stacks)
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
                if record.boards:
                    print(f"boards: {', '.join(record.boards)}")
                if record.rating:
                    print(f"rating: {record.rating}/5")
                print()
                print(format_parameters(record.request, record.info))
            return 0
        if action == "export":
            from studio.gallery.export import DEFAULT_PATTERN, export_record

            written = []
            for record_id in _to_export(gallery, args):
                path = export_record(gallery, record_id, args.to, args.format,
                                     args.pattern or DEFAULT_PATTERN)
                written.append(str(path))
                if not args.json:
                    print(path)
            if args.json:
                print(json.dumps(written, indent=2, ensure_ascii=False))
            return 0
        if action in ("boards", "board", "rate"):
            return _choosing(gallery, args)
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


def _known_board(gallery: Gallery, name: str | None) -> None:
    """GalleryError (one line) for a board that does not exist: an empty list would hide the typo."""
    from studio.gallery import GalleryError
    from studio.gallery.boards import board_name

    if name is not None and board_name(name).casefold() not in {b.casefold() for b, _ in gallery.boards()}:
        raise GalleryError(f"there is no board named {name!r} (studio gallery boards lists them)")


def _to_export(gallery: Gallery, args: argparse.Namespace) -> list[int]:
    """The ids `export` writes: those given, then the board's, less those rated below --min-rating."""
    from studio.gallery import GalleryError

    ids = list(dict.fromkeys([*args.ids, *(gallery.board_ids(args.board) if args.board else [])]))
    if not ids:
        raise GalleryError(f"the board {args.board!r} is empty")
    if args.min_rating:
        ids = [i for i in ids if gallery.get(i).rating >= args.min_rating]
        if not ids:
            raise GalleryError(f"none of these entries is rated {args.min_rating} or more")
    return ids


def _choosing(gallery: Gallery, args: argparse.Namespace) -> int:
    """`boards`, `board add|remove NAME ID...` and `rate ID... N`."""
    if args.gallery_command == "boards":
        boards = gallery.boards()
        for name, count in boards:
            print(f"{count:>6}  {name}")
        if not boards:
            print("no boards yet (studio gallery board add NAME ID... makes one)", file=sys.stderr)
        return 0
    if args.gallery_command == "board":
        if args.board_action == "add":
            done = gallery.add_to_board(args.name, args.ids)
            print(f"{done} added to {args.name!r} ({len(args.ids) - done} already on it)")
        else:
            done = gallery.remove_from_board(args.name, args.ids)
            print(f"{done} removed from {args.name!r}")
        return 0
    *ids, rating = args.ids_and_rating
    if not ids:
        return error("give the entries to rate, then the rating: studio gallery rate ID... N", EXIT_BAD_INPUT)
    gallery.set_rating(ids, rating)
    print(f"{len(ids)} rated {rating}")
    return 0
