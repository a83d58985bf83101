"""Writes the seed images of the import fuzz corpus (tests/fuzz/*.png|jpg|webp): one small file
per metadata layout Studio reads. Run again only to change the corpus:
`python tests/fuzz/make_seeds.py`; tests/fuzz_support.py derives the mutated files from these."""

from __future__ import annotations

import json
import struct
import zlib
from pathlib import Path

from PIL import Image
from PIL.PngImagePlugin import PngInfo

from studio.core.request import GenerationRequest
from studio.gallery.export import encode_image

HERE = Path(__file__).resolve().parent
A1111 = (
    "masterpiece, a (red fox:1.2) in snow, [blurry]\nBREAK soft light\n"
    "Negative prompt: lowres, \"bad hands\", text\n"
    "Steps: 28, Sampler: DPM++ 2M, Schedule type: Karras, CFG scale: 6.5, Seed: 1234567, "
    "Size: 512x768, Model hash: 1a2b3c4d5e, Model: dream-v2, Denoising strength: 0.4, "
    'Lora hashes: "fox: 12ab34cd, snow: 56ef78ab", Hires upscaler: Latent, Version: v1.10.1'
)
INVOKEAI = {
    "positive_prompt": "an owl on a branch, moonlight", "negative_prompt": "ugly", "seed": 11,
    "steps": 25, "cfg_scale": 7.5, "width": 640, "height": 448, "scheduler": "dpmpp_2m_k",
    "model": {"name": "sd15", "hash": "abc123"}, "strength": 0.7,
}
COMFYUI = {
    "3": {"class_type": "KSampler", "inputs": {
        "seed": 123, "steps": 12, "cfg": 4.5, "sampler_name": "euler_ancestral", "scheduler": "normal",
        "denoise": 1.0, "positive": ["6", 0], "negative": ["7", 0], "latent_image": ["5", 0],
        "model": ["4", 0]}},
    "4": {"class_type": "CheckpointLoaderSimple", "inputs": {"ckpt_name": "sd15.safetensors"}},
    "5": {"class_type": "EmptyLatentImage", "inputs": {"width": 512, "height": 640, "batch_size": 1}},
    "6": {"class_type": "CLIPTextEncode", "inputs": {"text": "a fox in a forest", "clip": ["4", 1]}},
    "7": {"class_type": "CLIPTextEncode", "inputs": {"text": "blurry", "clip": ["4", 1]}},
}
STUDIO = GenerationRequest(
    "夕暮れの灯台, a lighthouse at dusk", negative_prompt="blurry", seed=42, steps=12,
    guidance_scale=4.0, guidance_rescale=0.35, width=256, height=192, scheduler="DPM++ 2M Karras",
    blend_prompts=("a stormy sea",), blend_weights=(0.25,), seed_b=7, seed_mix=0.1,
    loras=(("/loras/ink.safetensors", 0.8),),
)
INFO = {"model_name": "studio-shapes", "model_hash": "0123456789abcdef"}


def _image() -> Image.Image:
    return Image.new("RGB", (16, 16), (200, 30, 10))


def _png(name: str, **text: str) -> None:
    chunks = PngInfo()
    for key, value in text.items():
        chunks.add_text(key, value)
    _image().save(HERE / name, pnginfo=chunks)


def _chunk(kind: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))


def _png_text_after_pixels(name: str, key: str, value: str) -> None:
    """Text written after IDAT, as some tools do: Pillow reaches it only by decoding the pixels."""
    rows = b"".join(b"\0" + bytes((90, 120, 200)) * 16 for _ in range(16))
    data = (b"\x89PNG\r\n\x1a\n" + _chunk(b"IHDR", struct.pack(">IIBBBBB", 16, 16, 8, 2, 0, 0, 0))
            + _chunk(b"IDAT", zlib.compress(rows)) + _chunk(b"iTXt", key.encode() + b"\0\0\0\0\0"
            + value.encode("utf-8")) + _chunk(b"IEND", b""))
    (HERE / name).write_bytes(data)


def main() -> None:
    _png("a1111.png", parameters=A1111)
    _png("invokeai.png", invokeai_metadata=json.dumps(INVOKEAI))
    _png("comfyui.png", prompt=json.dumps(COMFYUI), workflow=json.dumps({"nodes": [], "links": []}))
    _png_text_after_pixels("a1111_after_pixels.png", "parameters", A1111.replace("fox", "狐"))
    for fmt in ("png", "jpg", "webp"):
        (HERE / f"studio.{fmt}").write_bytes(encode_image(_image(), STUDIO, INFO, fmt, quality=50))


if __name__ == "__main__":
    main()
