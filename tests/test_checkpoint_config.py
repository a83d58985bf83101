"""A config given to a single-file checkpoint: what YAML and diffusers folders say, one-line
refusals, remembered per file, passed to diffusers (YAML as original_config, folder as config),
through the CLI and the real engine, and only its name in pictures' info."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from checkpoint_support import OPENCLIP_H, header_checkpoint, save_single_file, tiny_sd1

from studio.cli import build_parser, main
from studio.cli.generate import build_request
from studio.engine import _checkpoints
from studio.engine.checkpoint_config import read_config, stored_config
from studio.engine.family import detect_family, inspect_source
from studio.engine.jobs import UserError
from studio.engine.models import list_models, set_model_config

LDM = """model:
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
{extra}    conditioning_key: crossattn
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        in_channels: {channels}
        context_dim: {context}
    cond_stage_config:
      target: ldm.modules.encoders.modules.{encoder}
"""
SGM = """model:
  target: sgm.models.diffusion.DiffusionEngine
  params:
    denoiser_config:
      params:
        scaling_config:
          target: sgm.modules.diffusionmodules.denoiser_scaling.{scaling}
    network_config:
      params:
        adm_in_channels: {adm}
        in_channels: 4
        context_dim: {context}
    conditioner_config:
      params:
        emb_models:
          - target: sgm.modules.encoders.modules.FrozenOpenCLIPEmbedder2
"""


def ldm(tmp_path, name, channels=4, context=768, encoder="FrozenCLIPEmbedder", v=False):
    path = tmp_path / name
    extra = '    parameterization: "v"\n' if v else ""
    path.write_text(LDM.format(extra=extra, channels=channels, context=context, encoder=encoder))
    return path


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (LDM.format(extra="", channels=4, context=768, encoder="FrozenCLIPEmbedder"), ("sd1", False, "epsilon")),
        (LDM.format(extra="", channels=9, context=768, encoder="FrozenCLIPEmbedder"), ("sd1", True, "epsilon")),
        (LDM.format(extra='    parameterization: "v"\n', channels=4, context=1024, encoder="FrozenOpenCLIPEmbedder"),
         ("sd2", False, "v_prediction")),
        # widths of its own: the text encoder tells the family
        (LDM.format(extra="", channels=4, context=64, encoder="FrozenOpenCLIPEmbedder"), ("sd2", False, "epsilon")),
        (SGM.format(scaling="EpsScaling", adm=2816, context=2048), ("sdxl", False, "epsilon")),
        (SGM.format(scaling="VScaling", adm=2816, context=2048), ("sdxl", False, "v_prediction")),
        (SGM.format(scaling="EpsScaling", adm=2560, context=1280), ("refiner", False, "epsilon")),
    ],
)
def test_yaml_configs_say_family_and_variant(tmp_path, text, expected):
    path = tmp_path / "model.yaml"
    path.write_text(text)
    facts = read_config(path)
    assert (facts.arch, facts.inpaint, facts.prediction) == expected


def test_config_folders_say_family_and_variant(tmp_path, tiny_model_dir):
    folder = tmp_path / "cfg"
    shutil.copytree(tiny_model_dir, folder)
    facts = read_config(folder)
    assert (facts.arch, facts.inpaint, facts.prediction) == ("sd1", False, "epsilon")
    sched = folder / "scheduler" / "scheduler_config.json"
    sched.write_text(json.dumps({**json.loads(sched.read_text()), "prediction_type": "v_prediction"}))
    assert read_config(folder).prediction == "v_prediction"


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda d: d / "missing.yaml", "config not found"),
        (lambda d: _write(d / "notes.txt", "hello"), "not a model config"),
        (lambda d: _write(d / "broken.yaml", "model: [unclosed"), "not a readable YAML file"),
        (lambda d: _write(d / "other.yaml", "model:\n  params:\n    foo: 1\n"), "not a Stable Diffusion config"),
        (lambda d: ldm(d, "pix2pix.yaml", channels=8), "8 input channels"),
        (lambda d: _write(d / "sd1-in-sgm.yaml", SGM.format(scaling="EpsScaling", adm=0, context=768)), "SGM layout"),
        (lambda d: (d / "empty-folder").mkdir() or d / "empty-folder", "no readable model_index.json"),
    ],
)
def test_bad_configs_are_refused_in_one_line(tmp_path, make, words):
    with pytest.raises(UserError) as err:
        read_config(make(tmp_path))
    assert words in str(err.value) and "\n" not in str(err.value)


def _write(path, text):
    path.write_text(text)
    return path


# ---- the config decides ------------------------------------------------------------------------


def test_config_decides_prediction_and_size_over_the_name(tmp_path):
    sd2 = header_checkpoint(tmp_path, "model.safetensors", context=1024, encoders={OPENCLIP_H: 1024})
    assert detect_family(sd2).variant == "v-prediction"  # SD 2 at 768 px, by default
    eps = ldm(tmp_path, "v2-inference.yaml", context=1024, encoder="FrozenOpenCLIPEmbedder")
    info = inspect_source(sd2, config=eps)
    assert (info.arch, info.prediction, info.config) == ("sd2", "epsilon", eps.resolve())
    set_model_config(sd2, eps)
    family = detect_family(sd2)
    assert (family.variant, family.native_size) == ("base", 512)


def test_a_layout_studio_does_not_know_loads_with_its_config(tmp_path):
    odd = header_checkpoint(tmp_path, "odd.safetensors", context=1024)  # CLIP-L text, 1024-wide UNet
    with pytest.raises(UserError, match="give its config with --config"):
        inspect_source(odd)
    info = inspect_source(odd, config=ldm(tmp_path, "odd.yaml", context=1024, encoder="FrozenOpenCLIPEmbedder"))
    assert (info.arch, info.inpaint) == ("sd2", False)


def test_refiner_config_is_refused(tmp_path):
    path = header_checkpoint(tmp_path, "x.safetensors")
    refiner = _write(tmp_path / "refiner.yaml", SGM.format(scaling="EpsScaling", adm=2560, context=1280))
    with pytest.raises(UserError, match="SDXL refiner"):
        inspect_source(path, config=refiner)


def test_configs_are_remembered_per_file_and_listed(tmp_path):
    model = header_checkpoint(tmp_path, "m.safetensors")
    config = ldm(tmp_path, "v1-inference.yaml")
    entry = set_model_config(model, config)
    assert stored_config(model) == config.resolve() and entry.config == str(config.resolve())
    assert main(["models", "add", str(model)]) == 0
    listed = [e for e in list_models() if e.path == str(model.resolve())]
    assert listed and listed[0].config == str(config.resolve())
    set_model_config(model, None)
    assert stored_config(model) is None
    with pytest.raises(UserError, match="8 input channels"):  # a bad one is not stored
        set_model_config(model, ldm(tmp_path, "bad.yaml", channels=8))
    assert stored_config(model) is None
    with pytest.raises(UserError, match="configs of its own"):
        set_model_config(tmp_path, config)


# ---- diffusers gets it ---------------------------------------------------------------------------


def test_yaml_goes_to_diffusers_as_original_config_offline(tmp_path, monkeypatch):
    import diffusers

    calls = []

    def fake(cls, path, **kwargs):
        calls.append((cls.__name__, path, kwargs))
        raise ValueError("stop here")

    monkeypatch.setattr(diffusers.StableDiffusionPipeline, "from_single_file", classmethod(fake))
    sd2 = header_checkpoint(tmp_path, "sd2.safetensors", context=1024, encoders={OPENCLIP_H: 1024})
    eps = ldm(tmp_path, "v2-inference.yaml", context=1024, encoder="FrozenOpenCLIPEmbedder")
    with pytest.raises(UserError) as err:
        _checkpoints.load_single_file(inspect_source(sd2, config=eps))
    assert "with the config v2-inference.yaml" in str(err.value)
    name, path, kwargs = calls[0]
    assert (name, path) == ("StableDiffusionPipeline", str(sd2))
    assert kwargs["original_config"] == str(eps.resolve()) and kwargs["local_files_only"] is True
    # the shipped SD 2 configs, set to what the YAML says (noise prediction), never a hub id
    scheduler = json.loads((_checkpoints.Path(kwargs["config"]) / "scheduler" / "scheduler_config.json").read_text())
    assert scheduler["prediction_type"] == "epsilon"


def test_a_config_folder_builds_the_pipeline(tmp_path, tiny_model_dir):
    """The tiny checkpoint does not fit the real SD 1 configs Studio ships; its own folder does."""
    original = tiny_sd1()
    single = save_single_file(original, tmp_path / "tiny.safetensors")
    with pytest.raises(UserError, match="give its config with --config"):
        _checkpoints.load_single_file(inspect_source(single))
    pipe = _checkpoints.load_single_file(inspect_source(single, config=tiny_model_dir))
    for component in ("unet", "vae", "text_encoder"):
        left, right = getattr(original, component).state_dict(), getattr(pipe, component).state_dict()
        assert all(torch.equal(left[k], right[k]) for k in left)


# ---- CLI ---------------------------------------------------------------------------------------


def test_generate_config_option_is_checked_and_remembered(tmp_path, capsys):
    model = header_checkpoint(tmp_path, "m.safetensors", context=1024, encoders={OPENCLIP_H: 1024})
    config = ldm(tmp_path, "v2.yaml", context=1024, encoder="FrozenOpenCLIPEmbedder")
    args = build_parser().parse_args(["generate", "x", "-o", str(tmp_path / "o.png"), "--model", str(model),
                                      "--config", str(config)])
    request = build_request(args)
    assert stored_config(model) == config.resolve()
    assert (request.width, request.height) == (512, 512)  # the config's noise-predicting SD 2: 512 px
    out = tmp_path / "o.png"
    for extra, words in ((["--config", str(config)], "--config is for a single-file model"),
                         (["--model", str(tmp_path), "--config", str(config)], "configs of its own"),
                         (["--model", str(model), "--config", str(tmp_path / "nope.yaml")], "config not found")):
        assert main(["generate", "x", "-o", str(out), *extra]) == 2
        err = capsys.readouterr().err.strip()
        assert words in err and "\n" not in err
    assert not out.exists()


def test_generate_runs_a_single_file_with_its_config_folder(tmp_path, tiny_model_dir, capsys):
    single = save_single_file(tiny_sd1(), tmp_path / "tiny.safetensors")
    out = tmp_path / "o.png"
    code = main(["generate", "a cat", "--model", str(single), "--config", str(tiny_model_dir), "--steps", "1",
                 "--seed", "1", "--no-gallery", "-o", str(out)])
    assert code == 0, capsys.readouterr().err
    assert "64x64" in capsys.readouterr().out  # the config folder's native size


def test_models_config_command(tmp_path, capsys):
    model = header_checkpoint(tmp_path, "m.safetensors")
    config = ldm(tmp_path, "v1.yaml")
    assert main(["models", "config", str(model), str(config)]) == 0
    assert "v1.yaml" in capsys.readouterr().out and stored_config(model) == config.resolve()
    assert main(["models", "config", str(model)]) == 0
    assert str(config.resolve()) in capsys.readouterr().out
    assert main(["models", "add", str(model)]) == 0 and main(["models", "list"]) == 0
    listed = [line for line in capsys.readouterr().out.splitlines() if line.startswith("m.safetensors")]
    assert listed and listed[0].endswith("config v1.yaml")
    assert main(["models", "config", str(model), "--clear"]) == 0
    assert stored_config(model) is None
    assert main(["models", "config", str(model), str(tmp_path / "x.txt")]) == 2
    assert "\n" not in capsys.readouterr().err.strip()


MINI_SD1_YAML = """model:
  target: ldm.models.diffusion.ddpm.LatentDiffusion
  params:
    linear_start: 0.00085
    linear_end: 0.0120
    timesteps: 1000
    image_size: 8
    channels: 4
    conditioning_key: crossattn
    scale_factor: 0.18215
    unet_config:
      target: ldm.modules.diffusionmodules.openaimodel.UNetModel
      params:
        image_size: 8
        in_channels: 4
        out_channels: 4
        model_channels: 32
        attention_resolutions: [1]
        num_res_blocks: 1
        channel_mult: [1, 2]
        num_heads: 2
        use_spatial_transformer: true
        transformer_depth: 1
        context_dim: 32
        legacy: false
    first_stage_config:
      target: ldm.models.autoencoder.AutoencoderKL
      params:
        embed_dim: 4
        ddconfig:
          double_z: true
          z_channels: 4
          resolution: 64
          in_channels: 3
          out_ch: 3
          ch: 32
          ch_mult: [1, 2]
          num_res_blocks: 1
          attn_resolutions: []
    cond_stage_config:
      target: ldm.modules.encoders.modules.FrozenCLIPEmbedder
"""


def test_a_yaml_builds_the_unet_and_vae(tmp_path, tiny_model_dir, monkeypatch):
    """A model whose UNet and VAE fit neither the shipped configs nor the tiny folder's: built from
    its YAML by diffusers (32-channel blocks, as LDM's 32 norm groups need), every weight in place."""
    from diffusers import AutoencoderKL, StableDiffusionPipeline, UNet2DConditionModel

    torch.manual_seed(0)
    tiny = tiny_sd1()
    unet = UNet2DConditionModel(
        sample_size=8, in_channels=4, out_channels=4, layers_per_block=1, block_out_channels=(32, 64),
        cross_attention_dim=32, attention_head_dim=2,
        down_block_types=("CrossAttnDownBlock2D", "DownBlock2D"), up_block_types=("UpBlock2D", "CrossAttnUpBlock2D"),
    )
    vae = AutoencoderKL(in_channels=3, out_channels=3, latent_channels=4, layers_per_block=1,
                        block_out_channels=(32, 64), down_block_types=("DownEncoderBlock2D",) * 2,
                        up_block_types=("UpDecoderBlock2D",) * 2)
    original = StableDiffusionPipeline(vae=vae, text_encoder=tiny.text_encoder, tokenizer=tiny.tokenizer, unet=unet,
                                       scheduler=tiny.scheduler, safety_checker=None, feature_extractor=None,
                                       requires_safety_checker=False)
    single = save_single_file(original, tmp_path / "mini.safetensors")
    config = _write(tmp_path / "mini.yaml", MINI_SD1_YAML)
    # the text encoder, tokenizer and scheduler configs: the tiny folder's, in place of the real SD 1 ones
    monkeypatch.setattr(_checkpoints, "variant_config_dir", lambda info: tiny_model_dir)
    with pytest.raises(UserError):
        _checkpoints.load_single_file(inspect_source(single))  # the tiny folder's UNet is another shape
    pipe = _checkpoints.load_single_file(inspect_source(single, config=config))
    for component in ("unet", "vae", "text_encoder"):
        left, right = getattr(original, component).state_dict(), getattr(pipe, component).state_dict()
        assert left.keys() == right.keys() and all(torch.equal(left[k], right[k]) for k in left), component
