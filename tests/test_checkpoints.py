"""Single-file and folder model sources: detection, offline loading, every mode, safe refusals."""

from __future__ import annotations

import json
import os
import pickle

import numpy as np
import pytest
import torch
from checkpoint_support import (
    save_single_file,
    tiny_sd1,
    tiny_sd1_inpaint,
    tiny_sd2,
    tiny_sdxl,
    tiny_sdxl_inpaint,
)
from PIL import Image
from safetensors.torch import save_file

from studio.engine._checkpoints import (
    inspect_source,
    load_single_file,
    pipeline_for,
    safetensors_header,
    variant_config_dir,
)
from studio.engine.jobs import UserError


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    """Each tiny architecture as a diffusers folder and as an original-layout single file."""
    root = tmp_path_factory.mktemp("checkpoints")
    out = {}
    builders = (("sd1", tiny_sd1), ("sd1-inpaint", tiny_sd1_inpaint), ("sd2-base", tiny_sd2), ("sdxl", tiny_sdxl),
                ("sdxl-inpaint", tiny_sdxl_inpaint))
    for name, build in builders:
        pipe = build()
        pipe.save_pretrained(root / name)
        file = save_single_file(pipe, root / f"{name}.safetensors", sd2=name.startswith("sd2"))
        out[name] = (root / name, file, pipe)
    return out


def _same_weights(a, b) -> None:
    left, right = a.state_dict(), b.state_dict()
    assert left.keys() == right.keys()
    for key in left:
        assert torch.equal(left[key], right[key]), key


@pytest.mark.parametrize(
    ("name", "arch", "inpaint"),
    [("sd1", "sd1", False), ("sd1-inpaint", "sd1", True), ("sd2-base", "sd2", False), ("sdxl", "sdxl", False),
     ("sdxl-inpaint", "sdxl", True)],
)
def test_detects_architecture_of_files_and_folders(models, name, arch, inpaint):
    folder, file, _ = models[name]
    # a toy SD 2 folder's 32-wide cross attention does not say "SD 2": its GELU text encoder does
    for source, kind in ((folder, "diffusers"), (file, "checkpoint")):
        info = inspect_source(source)
        assert (info.kind, info.arch, info.inpaint, info.prediction) == (kind, arch, inpaint, "epsilon")


@pytest.mark.parametrize("name", ["sd1", "sd1-inpaint", "sd2-base", "sdxl", "sdxl-inpaint"])
def test_single_file_loads_every_weight_offline(models, name):
    folder, file, original = models[name]
    pipe = load_single_file(inspect_source(file), config_dir=folder)
    expected_class = {"sd1": "StableDiffusionPipeline", "sd1-inpaint": "StableDiffusionInpaintPipeline",
                      "sd2-base": "StableDiffusionPipeline", "sdxl": "StableDiffusionXLPipeline",
                      "sdxl-inpaint": "StableDiffusionXLInpaintPipeline"}[name]
    assert type(pipe).__name__ == expected_class
    for component in ("unet", "vae", "text_encoder", "text_encoder_2"):
        if hasattr(original, component):
            _same_weights(getattr(original, component), getattr(pipe, component))


def _image(size=64, value=128):
    return Image.fromarray(np.full((size, size, 3), value, dtype=np.uint8))


def _mask(size=64):
    mask = np.zeros((size, size), dtype=np.uint8)
    mask[16:48, 16:48] = 255
    return Image.fromarray(mask)


@pytest.mark.parametrize("name", ["sd1", "sdxl"])
def test_txt2img_img2img_inpaint_run_from_one_load(models, name):
    folder, file, _ = models[name]
    pipe = load_single_file(inspect_source(file), config_dir=folder)
    common = dict(prompt="a red circle", num_inference_steps=2, guidance_scale=1.0, output_type="pil",
                  generator=torch.Generator().manual_seed(0))
    out = pipe(height=64, width=64, **common).images[0]
    assert out.size == (64, 64)
    img2img = pipeline_for(pipe, "img2img")
    assert type(img2img).__name__.endswith("Img2ImgPipeline") and img2img.unet is pipe.unet
    assert img2img(image=_image(), strength=1.0, **common).images[0].size == (64, 64)
    inpaint = pipeline_for(pipe, "inpaint")
    assert type(inpaint).__name__.endswith("InpaintPipeline") and inpaint.vae is pipe.vae
    result = inpaint(image=_image(), mask_image=_mask(), height=64, width=64, strength=1.0, **common)
    assert result.images[0].size == (64, 64)


@pytest.mark.parametrize("name", ["sd1-inpaint", "sdxl-inpaint"])
def test_nine_channel_unet_always_gets_the_inpaint_pipeline(models, name):
    folder, file, _ = models[name]
    pipe = load_single_file(inspect_source(file), config_dir=folder)
    for mode in ("txt2img", "img2img", "inpaint"):
        assert type(pipeline_for(pipe, mode)).__name__.endswith("InpaintPipeline")
    result = pipe(prompt="x", image=_image(), mask_image=_mask(), height=64, width=64,
                  num_inference_steps=2, strength=1.0, guidance_scale=1.0)
    assert result.images[0].size == (64, 64)


# ---- refusals --------------------------------------------------------------------------------


class _Boom:
    def __reduce__(self):
        return (os.system, ("touch pwned-by-pickle",))


@pytest.mark.parametrize("suffix", [".ckpt", ".bin", ".pt", ".pth"])
def test_pickles_are_refused_by_default_with_a_way_out(tmp_path, suffix):
    path = tmp_path / f"model{suffix}"
    torch.save({"state_dict": {"x": torch.zeros(1)}}, path)
    with pytest.raises(UserError) as err:
        inspect_source(path)
    message = str(err.value)
    assert "\n" not in message and "can run code" in message and ".safetensors" in message
    assert "allow_unsafe_pickles" in message


def test_allowed_pickles_still_load_weights_only(tmp_path, models, monkeypatch):
    _, file, _ = models["sd1"]
    from safetensors.torch import load_file

    good = tmp_path / "model.ckpt"
    torch.save({"state_dict": load_file(str(file))}, good)
    assert inspect_source(good, allow_unsafe_pickles=True).arch == "sd1"

    evil = tmp_path / "evil.ckpt"
    evil.write_bytes(pickle.dumps({"state_dict": {"x": _Boom()}}))
    monkeypatch.chdir(tmp_path)  # where the payload would write
    with pytest.raises(UserError, match="cannot be opened safely"):
        inspect_source(evil, allow_unsafe_pickles=True)
    assert not (tmp_path / "pwned-by-pickle").exists()


def test_truncated_and_garbage_files_give_one_line_errors(tmp_path, models):
    _, file, _ = models["sd1"]
    data = file.read_bytes()
    cut = tmp_path / "cut.safetensors"
    cut.write_bytes(data[: len(data) // 2])
    with pytest.raises(UserError, match="incomplete"):
        inspect_source(cut)
    header_only = tmp_path / "header.safetensors"
    header_only.write_bytes(data[:100])
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"this is not a model at all" * 10)
    text = tmp_path / "notes.txt"
    text.write_text("hello")
    for path in (header_only, garbage, text, tmp_path / "missing.safetensors"):
        with pytest.raises(UserError) as err:
            inspect_source(path)
        assert "\n" not in str(err.value) and path.name in str(err.value)


@pytest.mark.parametrize(
    ("tensors", "expected"),
    [
        ({"lora_unet_down.lora_down.weight": torch.zeros(2, 2)}, "LoRA"),
        ({"encoder.conv_in.weight": torch.zeros(2, 2)}, "VAE"),
        ({"conv_in.weight": torch.zeros(2, 2), "down_blocks.0.x": torch.zeros(1)}, "UNet weights alone"),
        ({"foo": torch.zeros(1)}, "not a Stable Diffusion checkpoint"),
        ({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(8, 4, 3, 3)}, "no VAE"),
        ({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(8, 4, 3, 3),
          "first_stage_model.x": torch.zeros(1)}, "no text encoder"),
        ({"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(8, 4, 3, 3),
          "first_stage_model.x": torch.zeros(1),
          "conditioner.embedders.0.model.text_projection": torch.zeros(2, 2)}, "refiner"),
    ],
)
def test_wrong_kinds_of_file_are_named(tmp_path, tensors, expected):
    path = tmp_path / "thing.safetensors"
    save_file(tensors, str(path))
    with pytest.raises(UserError, match=expected):
        inspect_source(path)


def test_sd2_and_variants_detected_from_header(tmp_path):
    base = {"model.diffusion_model.input_blocks.0.0.weight": torch.zeros(4, 4, 1, 1),
            "first_stage_model.x": torch.zeros(1),
            "cond_stage_model.model.token_embedding.weight": torch.zeros(3, 4)}
    save_file(base, str(tmp_path / "sd21.safetensors"))
    info = inspect_source(tmp_path / "sd21.safetensors")
    assert (info.arch, info.inpaint, info.prediction) == ("sd2", False, "v_prediction")
    # SD 2's inpainting model is a 512 px noise predictor, whatever its name says
    inpaint = {**base, "model.diffusion_model.input_blocks.0.0.weight": torch.zeros(4, 9, 1, 1)}
    save_file(inpaint, str(tmp_path / "sd21-inpainting.safetensors"))
    info = inspect_source(tmp_path / "sd21-inpainting.safetensors")
    assert (info.arch, info.inpaint, info.prediction) == ("sd2", True, "epsilon")
    save_file(base, str(tmp_path / "sd2-base-512.safetensors"))
    assert inspect_source(tmp_path / "sd2-base-512.safetensors").prediction == "epsilon"
    save_file(base, str(tmp_path / "x.safetensors"), metadata={"modelspec.prediction_type": "epsilon"})
    assert inspect_source(tmp_path / "x.safetensors").prediction == "epsilon"


def test_header_read_touches_no_weights(models):
    _, file, _ = models["sdxl"]
    keys, shapes, _ = safetensors_header(file)
    assert "model.diffusion_model.input_blocks.0.0.weight" in keys and len(shapes) <= 6 < len(keys)


def test_distilled_models_detected_from_name_and_scheduler(tmp_path, models):
    folder, file, _ = models["sd1"]
    turbo = tmp_path / "sd_turbo.safetensors"
    turbo.write_bytes(file.read_bytes())
    assert inspect_source(turbo).distilled == "turbo"
    lcm = tmp_path / "my-model"
    lcm.mkdir()
    for sub in ("unet", "scheduler"):
        (lcm / sub).mkdir()
    (lcm / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    (lcm / "unet" / "config.json").write_text(json.dumps({"cross_attention_dim": 768}))
    (lcm / "scheduler" / "scheduler_config.json").write_text(json.dumps({"_class_name": "LCMScheduler"}))
    assert inspect_source(lcm).distilled == "lcm"


def test_wrong_folders_are_refused(tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    with pytest.raises(UserError, match="no model_index.json"):
        inspect_source(empty)
    flux = tmp_path / "flux"
    flux.mkdir()
    (flux / "model_index.json").write_text(json.dumps({"_class_name": "FluxPipeline"}))
    with pytest.raises(UserError, match="FluxPipeline"):
        inspect_source(flux)
    broken = tmp_path / "broken"
    broken.mkdir()
    (broken / "model_index.json").write_text("{not json")
    with pytest.raises(UserError, match="unreadable"):
        inspect_source(broken)


def test_folders_without_safe_weights_are_refused(tmp_path, models):
    import shutil

    folder = tmp_path / "copy"
    shutil.copytree(models["sd1"][0], folder)
    weights = folder / "unet" / "diffusion_pytorch_model.safetensors"
    weights.rename(weights.with_suffix(".bin"))
    with pytest.raises(UserError, match="pickled files, which can run code"):
        inspect_source(folder)
    assert inspect_source(folder, allow_unsafe_pickles=True).arch == "sd1"
    (folder / "unet" / "diffusion_pytorch_model.bin").unlink()
    with pytest.raises(UserError, match="no unet weights"):
        inspect_source(folder)


def test_variant_configs_are_patched_copies(models):
    _, file, _ = models["sd1-inpaint"]
    info = inspect_source(file)
    folder = variant_config_dir(info)
    assert json.loads((folder / "unet" / "config.json").read_text())["in_channels"] == 9
    assert json.loads((folder / "model_index.json").read_text())["_class_name"] == "StableDiffusionInpaintPipeline"
    assert variant_config_dir(info) == folder  # reused, not rebuilt


def test_allowed_legacy_pickles_load_without_mmap(tmp_path):
    from studio.engine._checkpoints import load_pickle_weights

    old = tmp_path / "old.ckpt"
    torch.save({"state_dict": {"a": torch.ones(2)}}, old, _use_new_zipfile_serialization=False)
    assert torch.equal(load_pickle_weights(old)["a"], torch.ones(2))
