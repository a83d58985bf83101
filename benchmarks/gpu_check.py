"""GPU check for a lent CUDA machine: the fp16 path through Studio's own loader, and real-size UNets.

    python benchmarks/gpu_check.py [--steps 20] [--skip-real]

1. The tiny model (built in code) loaded by Studio's loader on CUDA in fp16 and fp32: 20 steps at
   64 px; steps/s, fp16/fp32 ratio, max memory, NaN check. The same as a single-file checkpoint.
2. Real-size SD 1.x and SDXL UNets built from resources/configs with random weights (nothing is
   downloaded): 20 CFG steps at 512 / 1024 px in fp16 (and SD 1.x in fp32 as the reference);
   steps/s, max memory, NaN check, and attention slicing's cost.
3. A real-size random SD 1.x pipeline written as an original-layout single file (2 GB, temp dir),
   loaded back offline with the shipped configs and tokenizer, and run for 20 steps at 512 px.

Figures are relative to references measured in the same run. Without CUDA it prints
"no CUDA: skipped" and exits 0.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
DEVICE = "cuda"  # --device cpu runs the same code as a smoke test (fp16 becomes fp32 there)


def sync() -> None:
    if DEVICE == "cuda":
        torch.cuda.synchronize()


def reset_peak() -> None:
    if DEVICE == "cuda":
        torch.cuda.empty_cache()
        torch.cuda.reset_peak_memory_stats()


def peak_gib() -> float:
    return torch.cuda.max_memory_allocated() / 2**30 if DEVICE == "cuda" else 0.0


def half() -> torch.dtype:
    return torch.float16 if DEVICE == "cuda" else torch.float32


def timed_pipeline(pipe, steps: int, size: int) -> tuple[float, bool]:
    pipe("a red circle", num_inference_steps=1, height=size, width=size, guidance_scale=1.0)  # warm-up
    sync()
    start = time.perf_counter()
    image = pipe("a red circle", num_inference_steps=steps, height=size, width=size, guidance_scale=5.0,
                 output_type="pt").images
    sync()
    return steps / (time.perf_counter() - start), bool(torch.isfinite(image).all())


def check_loader(steps: int) -> None:
    from studio.core.settings import EngineSettings
    from studio.engine._devices import plan
    from studio.engine._loader import pipeline_from_source
    from studio.engine.tiny import ensure_tiny_model

    folder = ensure_tiny_model(Path(tempfile.mkdtemp()) / "tiny")
    rates = {}
    for dtype_name in ("float32", "float16"):
        settings = EngineSettings(device=DEVICE, dtype=dtype_name)
        device_plan = plan(settings)
        reset_peak()
        pipe = pipeline_from_source(folder, device_plan.device, device_plan.dtype, settings)
        rate, finite = timed_pipeline(pipe, steps, 64)
        rates[dtype_name] = rate
        print(f"tiny folder  {dtype_name:8s} {rate:8.1f} steps/s  max {peak_gib() * 1024:7.1f} MiB"
              f"  finite={finite}  unet dtype={pipe.unet.dtype}")
        del pipe
    print(f"tiny folder  fp16/fp32 speed ratio {rates['float16'] / rates['float32']:.2f}")

    sys.path.insert(0, str(ROOT / "tests"))
    from checkpoint_support import save_single_file, tiny_sd1

    from studio.engine import _checkpoints

    single = save_single_file(tiny_sd1(), Path(tempfile.mkdtemp()) / "tiny.safetensors")
    info = _checkpoints.inspect_source(single)
    pipe = _checkpoints.load_single_file(info, dtype=half(), config_dir=folder).to(DEVICE)
    rate, finite = timed_pipeline(pipe, steps, 64)
    print(f"tiny single file {str(half())[6:]} {rate:8.1f} steps/s  finite={finite}  unet dtype={pipe.unet.dtype}")


def unet_rate(unet, latent: int, context: int, steps: int, extra: dict) -> tuple[float, bool]:
    dtype = unet.dtype
    sample = torch.randn(2, 4, latent, latent, device=DEVICE, dtype=dtype)  # batch 2: CFG
    text = torch.randn(2, 77, context, device=DEVICE, dtype=dtype)
    with torch.inference_mode():
        unet(sample, 500, text, added_cond_kwargs=extra)  # warm-up
        sync()
        start = time.perf_counter()
        for t in range(steps):
            out = unet(sample, 999 - t * 40, text, added_cond_kwargs=extra).sample
        sync()
    return steps / (time.perf_counter() - start), bool(torch.isfinite(out).all())


def check_real_unets(steps: int) -> None:
    from diffusers import UNet2DConditionModel

    configs = ROOT / "resources" / "configs"
    cases = (("sd1", 64, 768, torch.float32), ("sd1", 64, 768, half()), ("sdxl", 128, 2048, half()))
    rates = {}
    for arch, latent, context, dtype in cases:
        reset_peak()
        with torch.device(DEVICE):
            unet = UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(configs / arch / "unet"))
        unet = unet.to(dtype).eval()
        extra = {}
        if arch == "sdxl":
            extra = {"text_embeds": torch.randn(2, 1280, device=DEVICE, dtype=dtype),
                     "time_ids": torch.tensor([[1024, 1024, 0, 0, 1024, 1024]] * 2, device=DEVICE, dtype=dtype)}
        rate, finite = unet_rate(unet, latent, context, steps, extra)
        rates[(arch, dtype)] = rate
        name = str(dtype).removeprefix("torch.")
        print(f"{arch:5s} UNet {latent * 8:4d}px {name:8s} {rate:7.2f} steps/s  "
              f"max {peak_gib():6.2f} GiB  finite={finite}")
        if arch == "sd1" and dtype == half():
            unet.set_attention_slice("auto")
            sliced, _ = unet_rate(unet, latent, context, steps, extra)
            print(f"sd1   UNet attention slicing: {sliced / rate:.2f}x the speed of SDPA")
        del unet
    print(f"sd1   UNet fp16/fp32 speed ratio {rates[('sd1', half())] / rates[('sd1', torch.float32)]:.2f}")


def check_real_single_file(steps: int) -> None:
    from diffusers import (
        AutoencoderKL,
        EulerDiscreteScheduler,
        StableDiffusionPipeline,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    sys.path.insert(0, str(ROOT / "tests"))
    from checkpoint_support import save_single_file

    from studio.engine._checkpoints import (
        clip_tokenizer,
        configs_root,
        inspect_source,
        load_single_file,
    )

    cfg = configs_root() / "sd1"
    with torch.device(DEVICE):
        pipe = StableDiffusionPipeline(
            vae=AutoencoderKL.from_config(AutoencoderKL.load_config(cfg / "vae")),
            text_encoder=CLIPTextModel(CLIPTextConfig.from_pretrained(cfg / "text_encoder")),
            unet=UNet2DConditionModel.from_config(UNet2DConditionModel.load_config(cfg / "unet")),
            tokenizer=clip_tokenizer(), scheduler=EulerDiscreteScheduler.from_pretrained(cfg / "scheduler"),
            safety_checker=None, feature_extractor=None, requires_safety_checker=False,
        )
    pipe.to(half())
    with tempfile.TemporaryDirectory() as folder:
        path = save_single_file(pipe, Path(folder) / "random-sd15.safetensors")
        del pipe
        reset_peak()
        start = time.perf_counter()
        loaded = load_single_file(inspect_source(path), dtype=half()).to(DEVICE)
        load_time = time.perf_counter() - start
    rate, finite = timed_pipeline(loaded, steps, 512)
    print(f"sd1   single file 512px {str(half())[6:]} {rate:7.2f} steps/s  load {load_time:5.1f} s  "
          f"max {peak_gib():6.2f} GiB  finite={finite}")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--steps", type=int, default=20)
    parser.add_argument("--skip-real", action="store_true", help="only the tiny model")
    parser.add_argument("--device", choices=("cuda", "cpu"), default="cuda",
                        help="cpu: a slow smoke test of this script itself")
    args = parser.parse_args()
    global DEVICE
    DEVICE = args.device
    if DEVICE == "cuda":
        if not torch.cuda.is_available():
            print("no CUDA: skipped")
            return 0
        print(f"{torch.cuda.get_device_name()}  torch {torch.__version__}  "
              f"bf16 supported={torch.cuda.is_bf16_supported()}")
    check_loader(args.steps)
    if not args.skip_real:
        check_real_unets(args.steps)
        check_real_single_file(args.steps)
    return 0


if __name__ == "__main__":
    sys.exit(main())
