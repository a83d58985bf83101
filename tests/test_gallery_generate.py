"""`studio generate` records to the gallery (unless --no-gallery) and its -o file carries the
same embedded parameters as an export."""

from __future__ import annotations

from studio.cli import main
from studio.core.metadata import request_from_image_info
from studio.gallery import Gallery
from studio.gallery.export import read_image_parameters


def test_generate_records_and_embeds(tiny_model_dir, tmp_path, capsys):
    out = tmp_path / "lighthouse.jpg"
    assert main(["generate", "a lighthouse, dusk", "--model", str(tiny_model_dir), "--steps", "1",
                 "--seed", "5", "--negative", "fog", "-o", str(out)]) == 0
    request = request_from_image_info(read_image_parameters(out))
    assert (request.prompt, request.negative_prompt, request.seed, request.steps) == (
        "a lighthouse, dusk", "fog", 5, 1)
    with Gallery.open() as gallery:
        [record] = gallery.list()
        assert record.request.prompt == "a lighthouse, dusk" and record.request.seed == 5
        assert record.path.is_file() and gallery.verify_files() == []
    assert main(["generate", "not kept", "--model", str(tiny_model_dir), "--steps", "1", "--seed", "6",
                 "--no-gallery", "-o", str(tmp_path / "b.png")]) == 0
    with Gallery.open() as gallery:
        assert gallery.count() == 1
    assert request_from_image_info(read_image_parameters(tmp_path / "b.png")).seed == 6
