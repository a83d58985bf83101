"""Model sources and families, told without torch: locations, content hashes, detect_family."""

from __future__ import annotations

import hashlib
import json
import shutil

import pytest

from studio.engine.family import Family, detect_family
from studio.engine.jobs import UserError
from studio.engine.sources import content_hash, find_by_hash, model_dir_for, native_size


def test_a_files_content_hash_is_its_sha256(tmp_path, studio_home):
    file = tmp_path / "model.safetensors"
    file.write_bytes(b"weights" * 1000)
    assert content_hash(str(file)) == hashlib.sha256(b"weights" * 1000).hexdigest()


def test_a_folders_hash_follows_its_weights_and_configs_not_where_it_lies(tmp_path, studio_home, tiny_model_dir):
    copy = tmp_path / "elsewhere" / "tiny"
    shutil.copytree(tiny_model_dir, copy)
    fractions = []
    original = content_hash(tiny_model_dir, fractions.append)
    assert len(original) == 64 and content_hash(copy) == original
    assert fractions and fractions[-1] == pytest.approx(1.0) and fractions == sorted(fractions)
    (copy / "README.md").write_text("notes")  # not part of what makes the pixels
    assert content_hash(copy) == original
    weights = next(copy.glob("unet/*.safetensors"))
    weights.write_bytes(weights.read_bytes()[:-1] + b"\0")
    assert content_hash(copy) != original
    shutil.copytree(tiny_model_dir, tmp_path / "other")
    config = tmp_path / "other" / "scheduler" / "scheduler_config.json"
    data = json.loads(config.read_text())
    data["prediction_type"] = "v_prediction"
    config.write_text(json.dumps(data))
    assert content_hash(tmp_path / "other") != original


def test_find_by_hash_finds_a_copy_under_another_name_or_nothing(tmp_path, studio_home, tiny_model_dir):
    copy = tmp_path / "renamed-on-this-node"
    shutil.copytree(tiny_model_dir, copy)
    other = tmp_path / "other.safetensors"
    other.write_bytes(b"not it")
    wanted = content_hash(tiny_model_dir)
    assert find_by_hash(wanted, [tmp_path / "missing", other, copy]) == copy
    assert find_by_hash("0" * 64, [other, copy, tmp_path / "missing"]) is None


def test_detect_family_tells_arch_variant_and_native_size(tiny_model_dir):
    family = detect_family(tiny_model_dir)
    assert isinstance(family, Family)
    assert (family.arch, family.variant, family.native_size) == ("sd1", "base", native_size(str(tiny_model_dir)))
    assert family.native_size == 64


def test_detect_family_tells_an_inpainting_model(tmp_path):
    from checkpoint_support import tiny_sd1_inpaint

    folder = tmp_path / "inpaint"
    tiny_sd1_inpaint().save_pretrained(folder)
    assert detect_family(folder).variant == "inpaint"


@pytest.mark.parametrize("call", [detect_family, model_dir_for, content_hash])
def test_a_missing_model_is_one_line(tmp_path, call):
    with pytest.raises(UserError, match="model not found") as caught:
        call(str(tmp_path / "nowhere"))
    assert "\n" not in str(caught.value)


def test_a_folder_without_model_index_is_refused(tmp_path):
    (tmp_path / "half").mkdir()
    with pytest.raises(UserError, match="not a diffusers model folder"):
        model_dir_for(str(tmp_path / "half"))
