"""The model library: listing sources, added paths, cached hashes, defaults, refusals, and the CLI."""

from __future__ import annotations

import hashlib
import json
import os

import pytest
import torch
from safetensors.torch import save_file

from studio.cli import main
from studio.core.settings import EngineSettings
from studio.engine.jobs import UserError
from studio.engine.models import (
    add_model,
    download_from_hub,
    file_sha256,
    list_loras,
    list_models,
    recommended_defaults,
    remove_model,
    short_hash,
)

TEXT_KEYS = {
    "sd1": "cond_stage_model.transformer.text_model.embeddings.position_embedding.weight",
    "sd2": "cond_stage_model.model.token_embedding.weight",
    "sdxl": "conditioner.embedders.1.model.positional_embedding",
}


def fake_checkpoint(path, arch="sd1", in_channels=4, metadata=None):
    """A header-true checkpoint with tiny tensors: enough for everything that never loads weights."""
    save_file({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(2, in_channels, 1, 1),
               "first_stage_model.decoder.conv_in.weight": torch.zeros(1),
               TEXT_KEYS[arch]: torch.zeros(2, 2)}, str(path), metadata=metadata)
    return path


def fake_folder(path, class_name="StableDiffusionPipeline", cross=768, scheduler="EulerDiscreteScheduler"):
    for sub in ("unet", "vae", "scheduler"):
        (path / sub).mkdir(parents=True, exist_ok=True)
    (path / "model_index.json").write_text(json.dumps(
        {"_class_name": class_name, "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"]}))
    (path / "unet" / "config.json").write_text(json.dumps({"cross_attention_dim": cross, "sample_size": 64}))
    (path / "vae" / "config.json").write_text(json.dumps({"block_out_channels": [1, 2, 3, 4]}))
    (path / "scheduler" / "scheduler_config.json").write_text(json.dumps({"_class_name": scheduler}))
    for part in ("unet", "vae"):  # weights only need to exist for listing
        (path / part / "diffusion_pytorch_model.safetensors").write_bytes(b"")
    return path


def fake_lora(path, width=768):
    key = "lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight"
    save_file({key: torch.zeros(2, width)}, str(path))
    return path


@pytest.fixture
def library(studio_home, tmp_path, monkeypatch):
    models = studio_home / "models"
    models.mkdir()
    fake_checkpoint(models / "dreamy-sd15.safetensors")
    fake_checkpoint(models / "inpaint.safetensors", in_channels=9)
    fake_checkpoint(models / "sdxl_turbo.safetensors", "sdxl")
    fake_folder(models / "my-diffusers")
    (models / "loras").mkdir()
    fake_lora(models / "loras" / "ink.safetensors")
    torch.save({"x": torch.zeros(1)}, models / "old.ckpt")
    (models / "taesd").mkdir()
    (models / "taesd" / "config.json").write_text("{}")
    (models / "readme.txt").write_text("not a model")
    hub = tmp_path / "hf" / "hub"
    fake_folder(hub / "models--someone--sdxl-thing" / "snapshots" / "abc123", "StableDiffusionXLPipeline", 2048)
    monkeypatch.setenv("HF_HUB_CACHE", str(hub))
    return models


def test_lists_every_source_with_arch_and_reasons(library):
    entries = {e.name: e for e in list_models(EngineSettings())}
    assert entries["dreamy-sd15.safetensors"].arch == "sd1"
    assert entries["dreamy-sd15.safetensors"].kind == "checkpoint"
    assert entries["dreamy-sd15.safetensors"].size == (library / "dreamy-sd15.safetensors").stat().st_size
    assert entries["inpaint.safetensors"].inpaint
    assert entries["sdxl_turbo.safetensors"].distilled == "turbo"
    assert entries["my-diffusers"].kind == "diffusers"
    assert entries["ink.safetensors"].kind == "lora" and entries["ink.safetensors"].arch == "sd1"
    assert "can run code" in entries["old.ckpt"].error
    assert entries["taesd"].kind == "taesd"
    assert entries["someone/sdxl-thing"].source == "hf-cache" and entries["someone/sdxl-thing"].arch == "sdxl"
    assert "readme.txt" not in entries
    assert [e.name for e in list_loras(EngineSettings())] == ["ink.safetensors"]


def test_a_model_with_sds_layout_but_its_own_text_width_is_not_called_sd1(library, capsys):
    fake_folder(library / "own-words", cross=128)  # as the bundled shapes model: SD 1 layout, 128-wide text
    entries = {e.name: e for e in list_models(EngineSettings())}
    assert entries["own-words"].arch == "sd1"  # still loaded and defaulted as an SD 1.x pipeline
    assert entries["own-words"].arch_label == "own, SD 1.x layout"
    assert entries["my-diffusers"].arch_label == "SD 1.x"
    assert entries["someone/sdxl-thing"].arch_label == "SDXL"
    assert entries["dreamy-sd15.safetensors"].arch_label == "SD 1.x"  # files: the header says the family
    assert entries["taesd"].arch_label == "SD 1.x"
    assert main(["models", "list"]) == 0
    line = next(ln for ln in capsys.readouterr().out.splitlines() if ln.startswith("own-words"))
    assert line.endswith("own 128-wide text encoder")


def test_hashes_are_sha256_cached_by_path_size_and_mtime(library, studio_home):
    path = library / "dreamy-sd15.safetensors"
    expected = hashlib.sha256(path.read_bytes()).hexdigest()
    assert file_sha256(path) == expected and short_hash(path) == expected[:10]
    cache_file = studio_home / "cache" / "model-hashes.json"
    cache = json.loads(cache_file.read_text())
    cache = {key: "f" * 64 for key in cache}  # prove the cache is read, not the file
    cache_file.write_text(json.dumps(cache))
    assert short_hash(path) == "f" * 10
    os.utime(path, ns=(1, 1))  # a changed file is hashed again
    assert file_sha256(path) == expected
    listed = {e.name: e for e in list_models(EngineSettings(), hashes=True)}
    assert listed["dreamy-sd15.safetensors"].short_hash == expected[:10]
    assert listed["my-diffusers"].sha256 == ""  # folders are not hashed


def test_add_and_remove_paths_outside_the_models_folder(library, tmp_path):
    outside = fake_checkpoint(tmp_path / "elsewhere-sd2-base.safetensors", "sd2")
    entry = add_model(outside)
    assert (entry.arch, entry.source, entry.prediction) == ("sd2", "added", "epsilon")
    add_model(outside)  # twice is harmless
    names = [e.name for e in list_models(EngineSettings())]
    assert names.count("elsewhere-sd2-base.safetensors") == 1
    pickle = tmp_path / "model.ckpt"
    torch.save({"x": torch.zeros(1)}, pickle)
    with pytest.raises(UserError, match="can run code"):
        add_model(pickle)
    with pytest.raises(UserError, match="not found"):
        add_model(tmp_path / "nope.safetensors")
    assert remove_model(outside) and not remove_model(outside)
    assert "elsewhere-sd2-base.safetensors" not in [e.name for e in list_models(EngineSettings())]


def test_recommended_defaults_follow_architecture_and_distillation(library, tmp_path):
    sd1 = recommended_defaults(str(library / "dreamy-sd15.safetensors"))
    assert (sd1["width"], sd1["steps"]) == (512, 25) and sd1["guidance_scale"] > 1
    turbo = recommended_defaults(str(library / "sdxl_turbo.safetensors"))
    assert (turbo["steps"], turbo["guidance_scale"], turbo["width"]) == (4, 0.0, 512)
    xl = recommended_defaults(str(fake_checkpoint(tmp_path / "xl.safetensors", "sdxl")))
    assert xl["width"] == 1024
    finetune = recommended_defaults(str(fake_checkpoint(tmp_path / "dreamXL_turboDPM.safetensors", "sdxl")))
    assert (finetune["steps"], finetune["width"]) == (4, 1024)  # Turbo fine-tunes stay at 1024
    realism = recommended_defaults(str(fake_checkpoint(tmp_path / "hyperrealism_v3.safetensors")))
    assert realism["steps"] == 25  # "hyper" in a name is not Hyper-SD
    hf_turbo = tmp_path / "hub" / "models--stabilityai--sdxl-turbo" / "snapshots" / "abc"
    hf_turbo.parent.mkdir(parents=True)
    turbo_folder = recommended_defaults(str(fake_folder(hf_turbo, "StableDiffusionXLPipeline", 2048)))
    assert (turbo_folder["steps"], turbo_folder["guidance_scale"]) == (4, 0.0)
    lcm = recommended_defaults(str(fake_folder(tmp_path / "fast", scheduler="LCMScheduler")))
    assert (lcm["scheduler"], lcm["steps"], lcm["guidance_scale"]) == ("LCM", 4, 1.0)
    from studio.core.request import SCHEDULERS

    for defaults in (sd1, turbo, xl, lcm, recommended_defaults(str(tmp_path / "missing"))):
        assert defaults["scheduler"] in SCHEDULERS


def test_download_is_refused_offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(UserError, match="HF_HUB_OFFLINE"):
        download_from_hub("stabilityai/sdxl-turbo")


def test_cli_lists_as_json_and_table_and_adds(library, tmp_path, capsys):
    assert main(["models", "list", "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert {"name", "path", "kind", "arch", "size", "short_hash", "error"} <= set(data[0])
    assert main(["models", "list"]) == 0
    table = capsys.readouterr().out
    assert "dreamy-sd15.safetensors" in table and "turbo" in table and "can run code" in table
    extra = fake_checkpoint(tmp_path / "extra.safetensors")
    assert main(["models", "add", str(extra)]) == 0
    assert "added extra.safetensors" in capsys.readouterr().out
    junk = tmp_path / "junk.safetensors"
    junk.write_bytes(b"junk")
    assert main(["models", "add", str(junk)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("studio: error:") and err.count("\n") == 1
    assert main(["models", "download", "a/b"]) == 1  # HF_HUB_OFFLINE is set in tests


def test_taesd_folder_gives_full_size_previews_in_the_engine(studio_home, tiny_model_dir):
    from diffusers import AutoencoderTiny

    from studio.core.events import Finished, Preview
    from studio.core.request import GenerationRequest
    from studio.engine.backend import DiffusersBackend
    from studio.engine.jobs import JobQueue

    torch.manual_seed(0)
    tiny = AutoencoderTiny(encoder_block_out_channels=(4, 4, 4, 4), decoder_block_out_channels=(4, 4, 4, 4),
                           num_encoder_blocks=(1, 1, 1, 1), num_decoder_blocks=(1, 1, 1, 1))
    tiny.save_pretrained(studio_home / "models" / "taesd")
    queue = JobQueue(DiffusersBackend(EngineSettings()))
    events: list = []
    queue.subscribe(events.append)
    try:
        queue.submit(GenerationRequest("a red circle", steps=2, width=64, height=64, model=str(tiny_model_dir)))
        assert queue.wait_idle(timeout=120)
    finally:
        assert queue.shutdown(timeout=60)
    finished = [e for e in events if isinstance(e, Finished)]
    assert finished and finished[0].info["preview_map"] == "taesd"
    previews = [e.image for e in events if isinstance(e, Preview)]
    assert previews and all(image.size == (64, 64) for image in previews)


def test_allowed_pickles_are_listed_without_being_read(library, monkeypatch):
    from studio.engine import family

    monkeypatch.setattr(family, "load_pickle_weights", lambda path: pytest.fail("read a pickle"))
    entries = {e.name: e for e in list_models(EngineSettings(allow_unsafe_pickles=True))}
    assert entries["old.ckpt"].kind == "checkpoint" and entries["old.ckpt"].error == ""
