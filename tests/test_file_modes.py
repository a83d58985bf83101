"""Files Studio writes follow the user's umask (0644 under the usual 022), like any program's,
instead of the private 0600 of a temp file: the gallery's images and exports included."""

from __future__ import annotations

import os
import stat
import subprocess
import sys

import pytest

WRITER = r"""
import sys
from pathlib import Path
from PIL import Image
from studio.core.atomic import atomic_write_bytes
from studio.core.request import GenerationRequest
from studio.gallery import Gallery

out = Path(sys.argv[1])
atomic_write_bytes(out / "plain.bin", b"x")
with Gallery.open(out / "home") as gallery:
    record = gallery.add(GenerationRequest("a red circle"), Image.new("RGB", (64, 64)))
print(record.path)
"""


@pytest.mark.skipif(not hasattr(os, "fchmod"), reason="POSIX permissions")
@pytest.mark.parametrize(("umask", "expected"), [(0o022, 0o644), (0o027, 0o640), (0o002, 0o664)])
def test_written_files_follow_the_umask(tmp_path, umask, expected):
    done = subprocess.run([sys.executable, "-c", WRITER, str(tmp_path)], capture_output=True, text=True,
                          preexec_fn=lambda: os.umask(umask), timeout=120, check=False)
    assert done.returncode == 0, done.stderr
    for path in (tmp_path / "plain.bin", done.stdout.strip().splitlines()[-1]):
        assert stat.S_IMODE(os.stat(path).st_mode) == expected, path
