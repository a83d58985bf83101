"""Phases 1-2 of the shapes model: the VAE on crops, then a decoder fine-tune on full images."""

from __future__ import annotations

import argparse
import math
import random
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL

from studio.shapes import dataset as ds
from studio.shapes.model import build_vae
from studio.shapes.train_common import Progress, lr_at, save_ckpt


def _images(items: list) -> torch.Tensor:
    return torch.from_numpy(np.stack([ds.image_to_array(img) for img, _, _ in items]))


def _image_batch(rng: random.Random, n: int) -> torch.Tensor:
    return _images([ds.sample(rng) for _ in range(n)])


def _random_crop(rng: random.Random, size: int, *batches: torch.Tensor) -> tuple[torch.Tensor, ...]:
    """The same random size x size window of every batch (all whole if size covers them).

    The VAE is fully convolutional (no attention), so crops teach it the same local job at a
    fraction of the cost of full 128x128 images.
    """
    full = batches[0].shape[-1]
    if size >= full:
        return batches
    oy, ox = (rng.randrange(full - size + 1) for _ in range(2))
    return tuple(b[:, :, oy:oy + size, ox:ox + size].contiguous() for b in batches)


def _image_mask_batch(rng: random.Random, n: int) -> tuple[torch.Tensor, torch.Tensor]:
    """n dataset images in [-1, 1] and their object masks (1 on shapes), from the same rng stream."""
    items = [ds.sample(rng) for _ in range(n)]
    masks = np.stack([ds.object_mask(label) for _, _, label in items])[:, None]
    return _images(items), torch.from_numpy(masks)


# --------------------------------------------------------------------------- VAE

# The decoder only ever sees the posterior mean plus this much Gaussian noise (unscaled latent units).
DECODER_NOISE = 0.05


def pin_posterior_noise(vae: AutoencoderKL, std: float = DECODER_NOISE) -> None:
    """Make the encoder's posterior exactly `mean + std * noise`, the latents the decoder was trained on.

    diffusers' img2img and inpaint pipelines encode with a posterior *sample*; the learnt
    log-variance head was never trained to be small (std ~0.85 against latents of ~1.2), so those
    samples were mostly noise and decoded with blurred shapes. Zeroing that head's weights and
    setting its bias to log(std^2) declares the noise the decoder actually tolerates.
    """
    c = vae.config.latent_channels
    with torch.no_grad():
        vae.quant_conv.weight[c:] = 0.0
        vae.quant_conv.bias[c:] = 2.0 * math.log(std)


def train_vae(args: argparse.Namespace, work: Path, device: torch.device, log) -> AutoencoderKL:
    """Phase 1: reconstruction (L1 + MSE) with a tiny KL term; returns the VAE with scaling_factor set."""
    final = work / "vae"
    if args.resume and (final / "config.json").exists():
        print("VAE: reusing finished", final)
        return AutoencoderKL.from_pretrained(final).to(device)
    vae = build_vae(args.tiny).to(device)
    # Auxiliary linear probe latent -> pooled RGB (thrown away after training): without it the
    # encoder collapsed red/orange/yellow onto one latent direction; it also makes the fast
    # linear preview map accurate.
    probe = torch.nn.Conv2d(vae.config.latent_channels, 3, 1).to(device)
    opt = torch.optim.AdamW(list(vae.parameters()) + list(probe.parameters()), lr=args.vae_lr, weight_decay=0.0)
    ckpt, step = work / "vae_ckpt.pt", 0
    rng = random.Random(args.seed + 1)
    if args.resume and ckpt.exists():
        st = torch.load(ckpt, map_location=device, weights_only=False)
        vae.load_state_dict(st["model"])
        if "probe" in st:
            probe.load_state_dict(st["probe"])
            opt.load_state_dict(st["opt"])
        step, rng = st["step"], st["rng"]
    bar = Progress(args.vae_steps, step, "vae")
    vae.train()
    while step < args.vae_steps:
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.vae_steps, args.vae_lr, 20)
        (x,) = _random_crop(rng, args.vae_crop, _image_batch(rng, args.vae_batch))
        x = x.to(device)  # _random_crop's windows are contiguous already
        post = vae.encode(x).latent_dist
        # Decode the mean plus a little noise rather than a full posterior sample: converges far
        # faster on a CPU budget, and the noise keeps the decoder tolerant of imperfect latents.
        z = post.mean + DECODER_NOISE * torch.randn_like(post.mean)
        rec = vae.decode(z).sample
        # L1 keeps flat colours crisp; MSE punishes the rare big miss (a lost star tip). The small
        # variance term is too weak to matter (posterior std stayed ~0.85); export pins the
        # variance instead (pin_posterior_noise).
        pooled = F.avg_pool2d(x, x.shape[-1] // post.mean.shape[-1])
        loss = (F.l1_loss(rec, x) + F.mse_loss(rec, x) + 1e-3 * post.var.mean()
                + F.mse_loss(probe(post.mean), pooled))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        bar.update(loss.item())
        log.write(f"vae\t{step}\t{loss.item():.5f}\n")
        if step % args.save_every == 0 or step == args.vae_steps:
            log.flush()
            save_ckpt(ckpt, model=vae.state_dict(), probe=probe.state_dict(), opt=opt.state_dict(), step=step,
                       rng=rng)
    bar.close()
    vae.eval()
    # Scale latents to ~unit variance, as SD does with its 0.18215.
    with torch.no_grad():
        lat = torch.cat([vae.encode(_image_batch(random.Random(7), 32).to(device)).latent_dist.mean
                         for _ in range(4 if args.tiny else 16)])
    scale = float(1.0 / lat.std())
    vae.register_to_config(scaling_factor=scale)
    print(f"VAE latent mean {lat.mean():.3f} std {lat.std():.3f} -> scaling_factor {scale:.4f}")
    vae.save_pretrained(final, safe_serialization=True)
    return vae


def finetune_decoder(args: argparse.Namespace, work: Path, device: torch.device, log) -> AutoencoderKL:
    """Phase 1b: sharpen the decoder on full 128x128 images with the encoder frozen.

    The latent space (what the UNet learns) is unchanged, so this phase can also run
    in parallel with UNet training. Writes ``work/vae_final``.
    """
    final = work / "vae_final"
    vae = AutoencoderKL.from_pretrained(work / "vae").to(device)
    if args.decoder_steps <= 0:
        return vae
    if args.resume and (final / "config.json").exists():
        return AutoencoderKL.from_pretrained(final).to(device)
    vae.requires_grad_(False)
    dec = list(vae.decoder.parameters()) + list(vae.post_quant_conv.parameters())
    for p_ in dec:
        p_.requires_grad_(True)
    opt = torch.optim.AdamW(dec, lr=args.decoder_lr, weight_decay=0.0)
    ckpt, step = work / "decoder_ckpt.pt", 0
    rng = random.Random(args.seed + 5)
    if args.resume and ckpt.exists():
        st = torch.load(ckpt, map_location=device, weights_only=False)
        vae.load_state_dict(st["model"])
        opt.load_state_dict(st["opt"])
        step, rng = st["step"], st["rng"]
    bar = Progress(args.decoder_steps, step, "decoder")
    t0 = time.time()
    while step < args.decoder_steps:
        if args.decoder_minutes and time.time() - t0 > args.decoder_minutes * 60:
            break
        for g in opt.param_groups:
            g["lr"] = lr_at(step, args.decoder_steps, args.decoder_lr, 10)
        x, mask = _random_crop(rng, args.decoder_crop, *_image_mask_batch(rng, args.vae_batch))
        x = x.to(device)
        with torch.no_grad():
            z = vae.encode(x).latent_dist.mean
        rec = vae.decode(z + DECODER_NOISE * torch.randn_like(z)).sample
        # Shapes cover 1-15% of the picture and their edges are what the flat background's
        # plain L1 + MSE neglects (small stars decoded as blobs): weigh (dilated) shape pixels up.
        weight = 1.0 + args.decoder_fg_weight * F.max_pool2d(mask, 5, stride=1, padding=2).to(device)
        err = (rec - x).abs() + (rec - x).pow(2)
        loss = (weight * err).mean() / weight.mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        bar.update(loss.item())
        log.write(f"decoder\t{step}\t{loss.item():.5f}\n")
        if step % args.save_every == 0 or step == args.decoder_steps:
            log.flush()
            save_ckpt(ckpt, model=vae.state_dict(), opt=opt.state_dict(), step=step, rng=rng)
    bar.close()
    vae.requires_grad_(False)
    vae.eval().save_pretrained(final, safe_serialization=True)
    return vae
