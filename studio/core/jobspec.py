"""A job as it travels: the frozen request, its input pictures as bytes, and the model named by
location and content hash. Serialisable to bytes, so a worker process, a stored queue or a
machine elsewhere can run it without sharing this machine's files.

The request keeps the artist's own paths (they are what the gallery records); a worker writes the
input bytes to a folder of its own and runs `request_in(folder)`, then reports with `request`.
"""

from __future__ import annotations

import hashlib
import json
import struct
import uuid
from dataclasses import dataclass, field
from pathlib import Path

from studio.core.request import GenerationRequest, RequestError, request_object

INPUT_FIELDS = ("init_image", "mask_image")  # request fields that name a picture file
_MAGIC = b"STJOB1\n"
_HEADER = struct.Struct(">I")  # length of the JSON header that follows the magic
MAX_INPUT_BYTES = 512 << 20  # a 16k x 16k RGBA PNG is under this; more is not a picture we can run


@dataclass(frozen=True)
class ModelRef:
    """Where the weights are ("" = the bundled default) and, when known, their sha256."""

    location: str = ""
    content_hash: str = ""


@dataclass(frozen=True)
class JobSpec:
    request: GenerationRequest
    inputs: dict[str, bytes] = field(default_factory=dict)  # INPUT_FIELDS name -> file bytes
    model: ModelRef = ModelRef()
    spec_id: str = field(default_factory=lambda: uuid.uuid4().hex)  # stable across restarts

    # ---- building ------------------------------------------------------------------------------
    @classmethod
    def from_request(cls, request: GenerationRequest, model_hash: str = "") -> JobSpec:
        """Read the request's input pictures now, so the job runs on them as they are at submit
        (the mask editor rewrites its file on the next stroke). RequestError, one line, if a file
        cannot be read."""
        inputs: dict[str, bytes] = {}
        for name in INPUT_FIELDS:
            path = getattr(request, name)
            if not path:
                continue
            try:
                data = Path(path).expanduser().read_bytes()
            except OSError as exc:
                label = "source image" if name == "init_image" else "mask"
                raise RequestError(f"cannot read the {label} {path}: {exc.strerror or exc}") from None
            if len(data) > MAX_INPUT_BYTES:
                raise RequestError(f"{path} is over {MAX_INPUT_BYTES >> 20} MB; use a smaller picture")
            inputs[name] = data
        return cls(request, inputs, ModelRef(request.model, model_hash))

    @classmethod
    def of(cls, job: GenerationRequest | JobSpec) -> JobSpec:
        """What an executor's submit() takes, validated (RequestError, one line, at once); a
        request's input pictures are read now, so the job runs on them as they are at submit."""
        if isinstance(job, GenerationRequest):
            return cls.from_request(job.validate())
        job.request.validate()
        return job

    def with_model_hash(self, content_hash: str) -> JobSpec:
        return JobSpec(self.request, self.inputs, ModelRef(self.model.location, content_hash), self.spec_id)

    # ---- running -------------------------------------------------------------------------------
    def request_in(self, folder: Path) -> GenerationRequest:
        """The request with its input pictures written into `folder` (the worker's own)."""
        changes: dict[str, str] = {}
        for name, data in self.inputs.items():
            digest = hashlib.sha256(data).hexdigest()[:16]
            suffix = Path(getattr(self.request, name) or "").suffix or ".png"
            target = folder / f"{name}-{digest}{suffix}"
            if not target.exists():
                target.write_bytes(data)
            changes[name] = str(target)
        return self.request.replace(**changes) if changes else self.request

    def restore_paths(self, request: GenerationRequest) -> GenerationRequest:
        """A request the worker reported (its size may be the source's) with the artist's paths."""
        return request.replace(**{name: getattr(self.request, name) for name in INPUT_FIELDS})

    # ---- bytes ---------------------------------------------------------------------------------
    def to_bytes(self) -> bytes:
        names = sorted(self.inputs)
        header = {
            "spec_id": self.spec_id,
            "request": self.request.to_dict(),
            "model": {"location": self.model.location, "content_hash": self.model.content_hash},
            "inputs": [[name, len(self.inputs[name])] for name in names],
        }
        head = json.dumps(header, sort_keys=True, ensure_ascii=False).encode("utf-8")
        return b"".join([_MAGIC, _HEADER.pack(len(head)), head, *(self.inputs[n] for n in names)])

    @classmethod
    def from_bytes(cls, blob: bytes) -> JobSpec:
        """Parse a stored or received job; RequestError (one line) for anything malformed."""
        if not blob.startswith(_MAGIC) or len(blob) < len(_MAGIC) + _HEADER.size:
            raise RequestError("this is not a Studio job (bad header)")
        start = len(_MAGIC) + _HEADER.size
        (head_len,) = _HEADER.unpack_from(blob, len(_MAGIC))
        header = request_object(blob[start : start + head_len])
        try:
            request = GenerationRequest.from_dict(header["request"])
            model = header.get("model") or {}
            ref = ModelRef(str(model.get("location", "")), str(model.get("content_hash", "")))
            spec_id = str(header["spec_id"])
            offset = start + head_len
            inputs: dict[str, bytes] = {}
            for name, size in header.get("inputs", []):
                if name not in INPUT_FIELDS or not isinstance(size, int) or size < 0:
                    raise RequestError(f"the job names an unknown input {name!r}")
                inputs[name] = blob[offset : offset + size]
                offset += size
        except (KeyError, TypeError, ValueError, AttributeError) as exc:
            raise RequestError(f"this Studio job is damaged ({type(exc).__name__})") from None
        if offset != len(blob):
            raise RequestError("this Studio job is damaged (its inputs are cut short or too long)")
        return cls(request, inputs, ref, spec_id)
