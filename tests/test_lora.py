"""LoRA adapters on the tiny SD1 pipeline: a LoRA made in code with peft, applied at weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from peft import LoraConfig
from peft.utils import get_peft_model_state_dict
from safetensors.torch import save_file

from studio.engine._lora import apply_loras
from studio.engine._tiny import build_tiny_pipeline
from studio.engine.jobs import UserError
from studio.engine.models import lora_arch


def make_lora(tmp_path, name: str, seed: int) -> str:
    """A random (non-zero) rank-2 LoRA on the tiny UNet's attention, saved in diffusers' format."""
    from diffusers import StableDiffusionPipeline

    torch.manual_seed(seed)
    unet = build_tiny_pipeline().unet
    unet.add_adapter(LoraConfig(r=2, lora_alpha=2, init_lora_weights=False,
                                target_modules=["to_q", "to_k", "to_v", "to_out.0"]))
    layers = get_peft_model_state_dict(unet)
    folder = tmp_path / name
    StableDiffusionPipeline.save_lora_weights(folder, unet_lora_layers=layers, safe_serialization=True)
    return str(folder / "pytorch_lora_weights.safetensors")


@pytest.fixture(scope="module")
def pipe():
    return build_tiny_pipeline()


def render(pipe) -> np.ndarray:
    out = pipe("a red circle", num_inference_steps=2, height=64, width=64, guidance_scale=1.0,
               generator=torch.Generator().manual_seed(0), output_type="np")
    return out.images[0]


def test_lora_changes_the_image_and_weight_zero_or_none_restores_it(pipe, tmp_path):
    base = render(pipe)
    first, second = make_lora(tmp_path, "a", 1), make_lora(tmp_path, "b", 2)
    names = apply_loras(pipe, [(first, 1.0)])
    with_one = render(pipe)
    assert np.abs(with_one - base).max() > 1e-3
    apply_loras(pipe, [(first, 1.0), (second, 0.5)])
    both = render(pipe)
    assert np.abs(both - with_one).max() > 1e-4
    apply_loras(pipe, [(first, 0.0)])
    np.testing.assert_allclose(render(pipe), base, atol=1e-5)
    apply_loras(pipe, [])
    np.testing.assert_allclose(render(pipe), base, atol=1e-5)
    assert apply_loras(pipe, [(first, 1.0)]) == names  # reused, not loaded again
    np.testing.assert_allclose(render(pipe), with_one, atol=1e-5)
    assert len(pipe._studio_loras) == 2
    apply_loras(pipe, [])


def test_bad_loras_are_one_line_errors(pipe, tmp_path):
    with pytest.raises(UserError, match="not found"):
        apply_loras(pipe, [(str(tmp_path / "missing.safetensors"), 1.0)])
    pickle = tmp_path / "style.pt"
    torch.save({"x": torch.zeros(1)}, pickle)
    with pytest.raises(UserError, match="can run code"):
        apply_loras(pipe, [(str(pickle), 1.0)])
    junk = tmp_path / "junk.safetensors"
    save_file({"something.else": torch.zeros(2)}, str(junk))
    with pytest.raises(UserError) as err:
        apply_loras(pipe, [(str(junk), 1.0)])
    assert "\n" not in str(err.value)


def test_lora_architecture_is_read_from_the_key_width(tmp_path, pipe):
    for width, arch in ((768, "sd1"), (1024, "sd2"), (2048, "sdxl")):
        path = tmp_path / f"{arch}.safetensors"
        save_file({"lora_unet_mid_block_attentions_0_transformer_blocks_0_attn2_to_k.lora_down.weight":
                   torch.zeros(4, width)}, str(path))
        assert lora_arch(path) == arch
    with pytest.raises(UserError, match="LoRA for SDXL"):
        pipe.unet.register_to_config(cross_attention_dim=768)  # pretend the tiny model is SD 1.x
        apply_loras(pipe, [(str(tmp_path / "sdxl.safetensors"), 1.0)])


def test_engine_applies_the_requests_loras(tmp_path, tiny_model_dir):
    from studio.core.events import Failed, Finished
    from studio.core.request import GenerationRequest
    from studio.engine.backend import DiffusersBackend
    from studio.engine.jobs import JobQueue

    lora = make_lora(tmp_path, "style", 3)
    queue = JobQueue(DiffusersBackend())
    events: list = []
    queue.subscribe(events.append)
    base = GenerationRequest("a red circle", steps=2, width=64, height=64, model=str(tiny_model_dir))
    try:
        for request in (base, base.replace(loras=((lora, 1.0),)), base,
                        base.replace(loras=((str(tmp_path / "gone.safetensors"), 1.0),))):
            queue.submit(request)
        assert queue.wait_idle(timeout=120)
    finally:
        assert queue.shutdown(timeout=60)
    done = [e for e in events if isinstance(e, (Finished, Failed))]
    plain, styled, plain_again = (np.asarray(e.image, dtype=float) for e in done[:3])
    assert np.abs(plain - styled).max() > 0 and np.array_equal(plain, plain_again)
    assert isinstance(done[3], Failed) and "LoRA not found" in done[3].message
