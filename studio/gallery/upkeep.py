"""Checking the gallery, as part of the Gallery: `studio gallery check` and what it runs."""

from __future__ import annotations

import sqlite3

from studio.gallery import files
from studio.gallery.db import describe_repair


class UpkeepMixin:
    """The Gallery's integrity and file checks (it supplies _db, _guard, _fetch, _rebuild...)."""

    def integrity_check(self) -> str:
        """SQLite's full integrity check: "ok" when the file is sound."""
        with self._guard():
            return self._db.integrity()

    def check(self) -> list[str]:
        """`studio gallery check`: the integrity check, a rebuild if it fails, the schema, the
        files. Returns one line per finding (an empty list: all is well)."""
        findings: list[str] = []
        self.finish_healing()  # set aside by open(heal_later=True): restored now
        if self._notice:  # what opening found and did
            findings.append(self._notice)
        try:
            result = self._db.integrity()
        except sqlite3.DatabaseError as exc:
            result = str(exc)
        if result != "ok":
            findings.append(f"integrity check failed ({result.splitlines()[0]}): rebuilding")
            with self._heal_lock:
                self._rebuild()
            findings.append(self._notice or "")
        repaired = self._db.repair_schema()
        if repaired:
            findings.append(describe_repair(repaired))
        adopted = self.clean_orphans(min_age=60.0)
        if adopted:
            findings.append(f"{len(adopted)} image files were not listed and have been added back")
        bad = self.verify_files()
        if bad:
            findings.append(f"{len(bad)} entries have a missing or changed image file: "
                            + ", ".join(map(str, bad[:20])) + (" …" if len(bad) > 20 else ""))
        return findings

    def verify_files(self) -> list[int]:
        """Ids whose image file is missing or does not hash to the recorded sha256."""
        bad = []
        for record_id, rel, digest in self._fetch("SELECT id, path, sha256 FROM images"):
            path = self.root / rel
            if not path.is_file() or files.sha256_file(path) != digest:
                bad.append(int(record_id))
        return bad
