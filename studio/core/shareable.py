"""The request as Studio writes it into image files, which get shared: no local paths.

Studio's JSON (the `studio` key of every file it writes: exports, `-o` files, the gallery's own
files) is the request (GenerationRequest.to_dict) with
- `init_image`, `mask_image`: "sha256:<64 hex digits>", the content hash of the source or mask
  file's bytes; STUDIO_HOME/inputs names its files by that hash ("source-<first 20>.png") and the
  gallery's rows keep the hash of their files. "sha256:" alone when the file could not be read.
- `model`: the model's name, no folder ("" is still the bundled model);
- `loras`: [file name, weight] pairs, no folder;
- `refs`, only when there is something in it: `init_image_gallery_id` (the gallery picture the
  source came from, by id) and `model_hash` (the hash the engine reported for the model).
Readers that do not know `refs` ignore it (GenerationRequest.from_dict drops unknown keys). The
gallery's database keeps the full request; opening a file maps the hashes back to local files
where this machine has them (studio/gallery/sources.py).
"""

from __future__ import annotations

import hashlib
import re
from pathlib import PurePath, PureWindowsPath
from typing import Any

from studio.core.request import GenerationRequest

HASH_PREFIX = "sha256:"
REFS_KEY = "refs"
SOURCE_FIELDS = ("init_image", "mask_image")
_HEX = re.compile(r"[0-9a-f]{8,64}")


def file_name(path: str) -> str:
    """The last part of a path written on any OS (a Windows path read on Linux too)."""
    return PureWindowsPath(PurePath(path.rstrip("/\\")).name).name if path else ""


def name_only(name: str) -> str:
    """A model's name as given ("studio-shapes", "owner/name"), or just the last part of it when
    it is a path (absolute, under ~, or several folders deep)."""
    name = name.strip()
    pathlike = (name.startswith(("/", "\\", "~")) or PureWindowsPath(name).drive != ""
                or name.count("/") + name.count("\\") > 1)
    return file_name(name) if pathlike else name


def content_ref(path: str) -> str:
    """"sha256:<hex>" of the file's bytes; "sha256:" when it cannot be read."""
    digest = hashlib.sha256()
    try:
        with open(path, "rb") as handle:
            for block in iter(lambda: handle.read(1 << 20), b""):
                digest.update(block)
    except OSError:
        return HASH_PREFIX
    return HASH_PREFIX + digest.hexdigest()


def ref_hash(value: object) -> str | None:
    """The hex digest in a "sha256:..." reference ("" when unknown); None for anything else."""
    if not isinstance(value, str) or not value.startswith(HASH_PREFIX):
        return None
    digest = value[len(HASH_PREFIX):].lower()
    return digest if _HEX.fullmatch(digest) else ""


def shareable_dict(request: GenerationRequest, model: str, model_hash: str = "",
                   source_id: int | None = None) -> dict[str, Any]:
    """The request's JSON-ready dict without local paths; `model` is the model's name (ignored
    for the bundled model), `source_id` the gallery id the init image came from."""
    data = request.to_dict()
    for key in SOURCE_FIELDS:
        if data[key]:
            data[key] = content_ref(data[key])
    data["model"] = name_only(model) if request.model else ""
    data["loras"] = [[file_name(path), weight] for path, weight in request.loras]
    refs: dict[str, Any] = {}
    if source_id is not None and request.init_image:
        refs["init_image_gallery_id"] = int(source_id)
    if model_hash:
        refs["model_hash"] = str(model_hash)
    if refs:
        data[REFS_KEY] = refs
    return data


def read_refs(data: dict[str, Any]) -> dict[str, Any]:
    """The usable part of a file's `refs` (anything else in it is ignored: files are untrusted)."""
    refs = data.get(REFS_KEY)
    if not isinstance(refs, dict):
        return {}
    out: dict[str, Any] = {}
    gallery_id = refs.get("init_image_gallery_id")
    if isinstance(gallery_id, int) and not isinstance(gallery_id, bool) and 0 < gallery_id < 2**63:
        out["init_image_gallery_id"] = gallery_id
    model_hash = refs.get("model_hash")
    if isinstance(model_hash, str) and 0 < len(model_hash) <= 128:
        out["model_hash"] = model_hash
    return out
