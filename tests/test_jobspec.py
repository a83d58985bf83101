"""The job spec: everything a worker elsewhere needs, as bytes, and nothing of this machine's."""

from __future__ import annotations

from pathlib import Path

import pytest

from studio.core.jobspec import JobSpec
from studio.core.request import GenerationRequest, RequestError


def _edit_request(tmp_path: Path) -> GenerationRequest:
    (tmp_path / "src.png").write_bytes(b"\x89PNG source bytes")
    (tmp_path / "mask.png").write_bytes(b"\x89PNG mask bytes")
    return GenerationRequest("a red fox", seed=7, init_image=str(tmp_path / "src.png"),
                             mask_image=str(tmp_path / "mask.png"), model="/models/sd15.safetensors")


def test_round_trip_keeps_request_inputs_model_and_id(tmp_path: Path) -> None:
    spec = JobSpec.from_request(_edit_request(tmp_path), model_hash="ab" * 32)
    back = JobSpec.from_bytes(spec.to_bytes())
    assert back == spec
    assert back.inputs == {"init_image": b"\x89PNG source bytes", "mask_image": b"\x89PNG mask bytes"}
    assert (back.model.location, back.model.content_hash) == ("/models/sd15.safetensors", "ab" * 32)


def test_inputs_are_read_at_submit_not_when_the_job_runs(tmp_path: Path) -> None:
    spec = JobSpec.from_request(_edit_request(tmp_path))
    (tmp_path / "mask.png").write_bytes(b"the next stroke")
    assert spec.inputs["mask_image"] == b"\x89PNG mask bytes"


def test_worker_runs_on_its_own_copies_and_reports_the_artists_paths(tmp_path: Path) -> None:
    request = _edit_request(tmp_path)
    spec = JobSpec.from_bytes(JobSpec.from_request(request).to_bytes())
    worker_dir = tmp_path / "worker"
    worker_dir.mkdir()
    local = spec.request_in(worker_dir)
    assert Path(local.init_image).parent == worker_dir
    assert Path(local.mask_image).read_bytes() == b"\x89PNG mask bytes"
    reported = spec.restore_paths(local.replace(width=640))
    assert (reported.init_image, reported.mask_image, reported.width) == (
        request.init_image, request.mask_image, 640)


def test_missing_source_is_one_line(tmp_path: Path) -> None:
    with pytest.raises(RequestError, match="cannot read the source image") as info:
        JobSpec.from_request(GenerationRequest("x", init_image=str(tmp_path / "gone.png")))
    assert "\n" not in str(info.value)


@pytest.mark.parametrize("cut", [3, 20, -1])
def test_damaged_bytes_are_one_line_errors(tmp_path: Path, cut: int) -> None:
    blob = JobSpec.from_request(_edit_request(tmp_path)).to_bytes()
    with pytest.raises(RequestError) as info:
        JobSpec.from_bytes(blob[:cut])
    assert "\n" not in str(info.value)


def test_text_only_job_has_no_inputs() -> None:
    spec = JobSpec.from_request(GenerationRequest("a lighthouse"))
    assert spec.inputs == {} and JobSpec.from_bytes(spec.to_bytes()).request == spec.request
