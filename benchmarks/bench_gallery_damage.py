"""What each kind of database damage costs the artist: pictures left on disk, pictures listed by
`studio gallery list`, favourites, tags, deletions and lineage kept, and whether search works.

Each case builds the same 12-picture gallery (tests/gallery_damage.py), damages its closed
database, then runs `studio gallery list --json` and `studio gallery search` in-process, as an
artist would after the damage. To measure another version of Studio, run this file with that
version first on PYTHONPATH (e.g. a worktree of an older commit): the cases only use the public
Gallery API and the CLI.

    python benchmarks/bench_gallery_damage.py [--json]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import os
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT / "tests"))


def run_case(damage, base: Path) -> dict:
    from gallery_damage import db_file, make_gallery

    from studio.cli import main as cli_main

    home = base / damage.__name__
    home.mkdir()
    os.environ["STUDIO_HOME"] = str(home)
    made = make_gallery(home)
    damage(db_file(home))
    out, err = io.StringIO(), io.StringIO()
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        try:
            status = cli_main(["gallery", "list", "--json", "--limit", "10000"])
        except Exception as exc:  # noqa: BLE001 - a traceback is a finding here
            status = f"traceback: {type(exc).__name__}"
    seconds = time.perf_counter() - started
    listed = []
    with contextlib.suppress(ValueError):
        listed = json.loads(out.getvalue() or "[]")
    search_out = io.StringIO()
    with contextlib.redirect_stdout(search_out), contextlib.redirect_stderr(io.StringIO()):
        try:
            search_status = cli_main(["gallery", "search", "picture number 3", "--json"])
        except Exception:  # noqa: BLE001
            search_status = "traceback"
    on_disk = {p.name for p in (home / "gallery" / "images").rglob("*.png")}
    by_prompt = {r["request"]["prompt"]: r for r in listed}
    live = set(made.prompts) - made.deleted
    return {
        "case": damage.__name__,
        "exit": status,
        "seconds": round(seconds, 2),
        "files_kept": f"{len(on_disk & made.files)}/{len(made.files)}",
        "listed": f"{len(set(by_prompt) & live)}/{len(live)}",
        "favourites": f"{sum(1 for p in made.favourites if by_prompt.get(p, {}).get('favourite'))}"
                      f"/{len(made.favourites - made.deleted)}",
        "tags": f"{sum(1 for p, t in made.tags.items() if set(by_prompt.get(p, {}).get('tags', [])) == t)}"
                f"/{len([p for p in made.tags if p not in made.deleted])}",
        "lineage": all(by_prompt.get(c, {}).get("parent_id") == by_prompt.get(p, {}).get("id")
                       for c, p in made.child_of.items()),
        "search": search_status == 0 and "picture number 3" in search_out.getvalue(),
        "message": " | ".join(line for line in err.getvalue().splitlines() if "shown" not in line)[:160],
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    from gallery_damage import DAMAGES

    import studio

    results = []
    with tempfile.TemporaryDirectory(prefix="studio-damage-") as tmp:
        for damage in DAMAGES:
            results.append(run_case(damage, Path(tmp)))
    if args.json:
        print(json.dumps(results, indent=2))
        return 0
    print(f"studio from {Path(studio.__file__).parent}")
    print(f"{'case':<24}{'exit':>6}{'files kept':>12}{'listed':>8}{'fav':>6}{'tags':>6}"
          f"{'lineage':>9}{'search':>8}  message")
    for r in results:
        print(f"{r['case']:<24}{r['exit']!s:>6}{r['files_kept']:>12}{r['listed']:>8}{r['favourites']:>6}"
              f"{r['tags']:>6}{r['lineage']!s:>9}{r['search']!s:>8}  {r['message']}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
