"""Train Studio's embedded shapes model: VAE, decoder fine-tune, caption-parsing text encoder,
then the UNet on cached latents.

    python -m studio.shapes.train --out resources/models/studio-shapes [--steps N] [--tiny] [--resume]

Checkpoints, the loss log and intermediate artefacts live in ``--work`` (outside the
repo); only the exported diffusers folder is written to ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import random
import shutil
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from diffusers import AutoencoderKL, StableDiffusionPipeline
from transformers import CLIPTextModel, CLIPTokenizer

from studio.core.paths import subdir
from studio.shapes import dataset as ds
from studio.shapes.model import (
    build_sampling_scheduler,
    build_scheduler,
    build_text_encoder,
    build_tokenizer,
    build_unet,
    build_vae,
    piece_token_ids,
)
from studio.shapes.text_pretrain import pretrain_text_encoder

try:
    from tqdm import tqdm
except ImportError:  # pragma: no cover - tqdm is optional
    tqdm = None


class Progress:
    """tqdm when available, otherwise a printed line every few percent."""

    def __init__(self, total: int, start: int, desc: str) -> None:
        self.total, self.n, self.desc = total, start, desc
        self.bar = tqdm(total=total, initial=start, desc=desc, mininterval=5.0, file=sys.stdout) if tqdm else None
        self._last = time.time()

    def update(self, loss: float) -> None:
        self.n += 1
        if self.bar is not None:
            self.bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
            self.bar.update(1)
        elif time.time() - self._last > 10 or self.n == self.total:
            self._last = time.time()
            print(f"{self.desc} {self.n}/{self.total} loss={loss:.4f}", flush=True)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


def _seed_all(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


def _save_ckpt(path: Path, **state: Any) -> None:
    tmp = path.with_suffix(".tmp")
    torch.save(state, tmp)
    tmp.replace(path)  # atomic: a kill mid-save never leaves a corrupt checkpoint


def _lr_at(step: int, total: int, base: float, warmup: int, time_frac: float = 0.0) -> float:
    """Warmup then cosine to 10%; progress is the larger of step and wall-clock fraction,
    so a time-capped run still anneals instead of stopping at full learning rate."""
    if step < warmup:
        return base * (step + 1) / warmup
    p = max((step - warmup) / max(1, total - warmup), time_frac)
    return base * (0.1 + 0.9 * 0.5 * (1 + math.cos(math.pi * min(1.0, p))))


def _image_batch(rng: random.Random, n: int) -> torch.Tensor:
    return torch.from_numpy(np.stack([ds.image_to_array(ds.sample(rng)[0]) for _ in range(n)]))


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
            g["lr"] = _lr_at(step, args.vae_steps, args.vae_lr, 20)
        x = _image_batch(rng, args.vae_batch)
        if args.vae_crop < x.shape[-1]:
            # The VAE is fully convolutional (no attention), so random crops teach it the
            # same local job at a fraction of the cost of full 128x128 images.
            oy, ox = (rng.randrange(x.shape[-1] - args.vae_crop + 1) for _ in range(2))
            x = x[:, :, oy:oy + args.vae_crop, ox:ox + args.vae_crop]
        x = x.contiguous().to(device)
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
            _save_ckpt(ckpt, model=vae.state_dict(), probe=probe.state_dict(), opt=opt.state_dict(), step=step,
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
            g["lr"] = _lr_at(step, args.decoder_steps, args.decoder_lr, 10)
        x = _image_batch(rng, args.vae_batch).to(device)
        with torch.no_grad():
            z = vae.encode(x).latent_dist.mean
        rec = vae.decode(z + DECODER_NOISE * torch.randn_like(z)).sample
        loss = F.l1_loss(rec, x) + F.mse_loss(rec, x)
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        step += 1
        bar.update(loss.item())
        log.write(f"decoder\t{step}\t{loss.item():.5f}\n")
        if step % args.save_every == 0 or step == args.decoder_steps:
            log.flush()
            _save_ckpt(ckpt, model=vae.state_dict(), opt=opt.state_dict(), step=step, rng=rng)
    bar.close()
    vae.requires_grad_(False)
    vae.eval().save_pretrained(final, safe_serialization=True)
    return vae


# --------------------------------------------------------------------------- latent cache


def cache_latents(args: argparse.Namespace, work: Path, vae: AutoencoderKL,
                  device: torch.device) -> tuple[torch.Tensor, list[dict[str, Any]]]:
    """Encode a fixed pool of scenes once; captions are re-sampled from labels every epoch."""
    path = work / "latents.pt"
    if path.exists():
        st = torch.load(path, weights_only=False)
        if st["n"] == args.n_scenes and st["scale"] == vae.config.scaling_factor:
            return st["latents"], st["labels"]
    rng = random.Random(args.seed + 2)
    lats, labels = [], []
    bs = 64
    with torch.no_grad():
        for i in range(0, args.n_scenes, bs):
            items = [ds.sample(rng) for _ in range(min(bs, args.n_scenes - i))]
            x = torch.from_numpy(np.stack([ds.image_to_array(im) for im, _, _ in items])).to(device)
            lats.append((vae.encode(x).latent_dist.mean * vae.config.scaling_factor).cpu())
            labels += [{k: v for k, v in lab.items() if k in ("objects", "background")} for _, _, lab in items]
    latents = torch.cat(lats)
    torch.save({"n": args.n_scenes, "scale": vae.config.scaling_factor, "latents": latents, "labels": labels}, path)
    return latents, labels


def object_weights(labels: list[dict[str, Any]], size: int, fg_weight: float) -> torch.Tensor:
    """Per-latent-pixel loss weights, 1 on background and 1 + fg_weight on (dilated) objects.

    Objects cover ~3-15% of the image, so a plain MSE is dominated by the flat background and
    the model learnt the background long before it learnt what the caption says of the object.
    """
    masks = torch.from_numpy(np.stack([ds.object_mask(lab, size) for lab in labels]))[:, None]
    masks = F.max_pool2d(masks, 3, stride=1, padding=1)  # the VAE smears edges over a latent pixel
    return 1.0 + fg_weight * masks


def _caption(label: dict[str, Any], rng: random.Random) -> str:
    for _ in range(50):
        cap, _ = ds.describe(label, rng)
        if not ds.is_heldout(cap):
            return cap
    return ""


# --------------------------------------------------------------------------- UNet + text encoder


def text_encoder(args: argparse.Namespace, work: Path, tok: CLIPTokenizer, device: torch.device, log):
    """The caption-parsing text encoder (phase 3), trained once and then frozen."""
    final = work / "text_encoder"
    if args.resume and (final / "config.json").exists():
        print("text encoder: reusing finished", final)
        te = CLIPTextModel.from_pretrained(final).to(device)
    else:
        te = build_text_encoder(len(tok), args.tiny).to(device)
        t0 = time.time()
        acc = pretrain_text_encoder(te, tok, args.te_steps, batch=args.te_batch, seed=args.seed + 6,
                                    device=device, log=log)
        print(f"text encoder: {args.te_steps} steps in {time.time() - t0:.0f} s; accuracy {acc}", flush=True)
        te.save_pretrained(final, safe_serialization=True)
    te.requires_grad_(False)
    return te.eval()


def train_unet(args: argparse.Namespace, work: Path, vae: AutoencoderKL, device: torch.device, log) -> None:
    tok = build_tokenizer(work / "tokenizer")
    latents, labels = cache_latents(args, work, vae, device)
    weights = object_weights(labels, latents.shape[-1], args.fg_weight)
    te = text_encoder(args, work, tok, device, log)
    unet = build_unet(te.config.hidden_size, args.tiny).to(device)
    sched = build_scheduler()
    params = list(unet.parameters())
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-2)
    ema = [p.detach().clone() for p in params]
    ckpt, step = work / "unet_ckpt.pt", 0
    rng = random.Random(args.seed + 3)
    gen = torch.Generator().manual_seed(args.seed + 4)
    frac0 = 0.0
    if args.resume and ckpt.exists():
        st = torch.load(ckpt, map_location=device, weights_only=False)
        unet.load_state_dict(st["unet"])
        opt.load_state_dict(st["opt"])
        ema = [e.to(device) for e in st["ema"]]
        step, rng = st["step"], st["rng"]
        gen.set_state(st["gen"])
        frac0 = st.get("time_frac", 0.0)
    alphas = sched.alphas_cumprod.to(device)
    snr = alphas / (1 - alphas)
    t0 = time.time()
    # Wall-clock budget (minutes from now, or an absolute --stop-at time), whichever is sooner.
    budget = args.max_minutes * 60 if args.max_minutes else float("inf")
    if args.stop_at:
        budget = min(budget, args.stop_at - t0)
    bar = Progress(args.steps, step, "unet")
    unet.train()
    time_frac = frac0
    while step < args.steps:
        time_frac = frac0 + (1 - frac0) * (time.time() - t0) / budget if budget < float("inf") else 0.0
        if time_frac >= 1.0:
            print(f"time budget reached at step {step}; exporting", flush=True)
            break
        lr = _lr_at(step, args.steps, args.lr, 100, time_frac)
        for g in opt.param_groups:
            g["lr"] = lr
        idx = torch.randint(0, len(latents), (args.batch,), generator=gen)
        x0 = latents[idx].to(device)
        wpix = weights[idx].to(device)
        # ~10% empty captions teach the unconditional branch used by classifier-free guidance.
        caps = ["" if rng.random() < 0.1 else _caption(labels[i], rng) for i in idx.tolist()]
        ids = tok(caps, padding="max_length", max_length=tok.model_max_length, truncation=True,
                  return_tensors="pt").input_ids.to(device)
        noise = torch.randn(x0.shape, generator=gen).to(device)
        if args.offset_noise:
            # Offset noise (off by default): a random per-channel shift of the noise, the older fix for
            # SD's nonzero terminal SNR leaking the picture's mean colour; the zero-SNR schedule
            # (model.build_scheduler) removes that leak at its source.
            noise = noise + args.offset_noise * torch.randn(x0.shape[0], x0.shape[1], 1, 1,
                                                            generator=gen).to(device)
        # t = T * u**p: p < 1 spends more steps at high noise, where layout and colour are decided.
        u = torch.rand(args.batch, generator=gen)
        t = (u ** args.t_power * sched.config.num_train_timesteps).long().clamp(max=999).to(device)
        xt = sched.add_noise(x0, noise, t)
        with torch.no_grad():  # the text encoder is frozen after its parsing phase
            emb = te(ids)[0]
        pred = unet(xt, t, emb).sample
        target = sched.get_velocity(x0, noise, t)
        # v-MSE weighs the picture (x0) error by 1 + SNR: ~1 at high noise, where layout and
        # colour are decided, and huge at low noise, where little is left to learn; capping it
        # at 1 + min_snr (Min-SNR, in v form but only from above) keeps those easy steps from
        # dominating while leaving the high-noise steps their full weight.
        w = torch.clamp(snr[t] + 1, max=args.min_snr + 1) / (snr[t] + 1)
        err = ((pred - target).pow(2) * wpix).sum(dim=(1, 2, 3)) / (wpix.sum(dim=(1, 2, 3)) * x0.shape[1])
        loss = (w * err).mean()
        opt.zero_grad(set_to_none=True)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        opt.step()
        step += 1
        decay = min(args.ema, (1 + step) / (10 + step))
        with torch.no_grad():
            for e, p in zip(ema, params, strict=True):
                e.lerp_(p.detach(), 1 - decay)
        bar.update(loss.item())
        log.write(f"unet\t{step}\t{loss.item():.5f}\t{lr:.2e}\n")
        if step % args.save_every == 0 or step == args.steps:
            log.flush()
            _save_ckpt(ckpt, unet=unet.state_dict(), te=te.state_dict(), opt=opt.state_dict(), ema=ema,
                       step=step, rng=rng, gen=gen.get_state(), time_frac=time_frac)
    bar.close()
    with torch.no_grad():
        for e, p in zip(ema, params, strict=True):
            p.copy_(e)
    export(args.out, vae, te, tok, unet, build_sampling_scheduler())


def export_checkpoint(args: argparse.Namespace, work: Path) -> None:
    """Export the EMA weights of the latest UNet checkpoint (e.g. a run stopped early)."""
    vae_dir = work / "vae_final" if (work / "vae_final" / "config.json").exists() else work / "vae"
    vae = AutoencoderKL.from_pretrained(vae_dir)
    tok = CLIPTokenizer.from_pretrained(work / "tokenizer")
    te = build_text_encoder(len(tok), args.tiny)
    unet = build_unet(te.config.hidden_size, args.tiny)
    st = torch.load(work / "unet_ckpt.pt", map_location="cpu", weights_only=False)
    te.load_state_dict(st["te"])
    trained = list(unet.parameters())
    if len(st["ema"]) != len(trained):  # checkpoints from before the frozen text encoder
        trained += list(te.parameters())
    with torch.no_grad():
        for e, p in zip(st["ema"], trained, strict=True):
            p.copy_(e)
    print(f"exporting EMA weights of step {st['step']}")
    export(args.out, vae, te, tok, unet, build_sampling_scheduler())


def export(out: str | Path, vae, te, tok, unet, sched) -> None:
    """Write a standard diffusers folder loadable with StableDiffusionPipeline.from_pretrained."""
    out = Path(out)
    with torch.no_grad():
        emb = te.get_input_embeddings().weight
        emb[piece_token_ids(tok)] = emb[tok.unk_token_id].clone()  # word pieces behave exactly like unk
    vae = copy.deepcopy(vae).cpu().eval()
    pin_posterior_noise(vae)
    pipe = StableDiffusionPipeline(
        vae=vae, text_encoder=te.cpu().eval(), tokenizer=tok,
        unet=unet.cpu().eval(), scheduler=sched, safety_checker=None, feature_extractor=None,
        image_encoder=None, requires_safety_checker=False,
    )
    if out.exists():
        keep = out / "preview_map.json"
        saved = keep.read_text() if keep.exists() else None
        shutil.rmtree(out)
    else:
        saved = None
    pipe.save_pretrained(out, safe_serialization=True)
    if saved is not None:
        (out / "preview_map.json").write_text(saved)
    for name in ("vocab.json", "merges.txt"):  # the classic CLIP pair alongside tokenizer.json
        src = Path(tok.name_or_path) / name
        if src.exists():
            shutil.copy(src, out / "tokenizer" / name)
    size = sum(f.stat().st_size for f in out.rglob("*") if f.is_file())
    print(f"exported {out} ({size / 1e6:.1f} MB)")


def main(argv: list[str] | None = None) -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, help="diffusers folder to write")
    p.add_argument("--work", default=None,
                   help="checkpoints and logs (default: STUDIO_HOME/training/studio-shapes)")
    p.add_argument("--steps", type=int, default=8000, help="UNet steps (the time cap usually ends the run first)")
    p.add_argument("--batch", type=int, default=32)
    p.add_argument("--te-steps", type=int, default=400, help="text-encoder caption-parsing steps")
    p.add_argument("--te-batch", type=int, default=256)
    p.add_argument("--lr", type=float, default=1.5e-3)
    p.add_argument("--ema", type=float, default=0.995)
    p.add_argument("--vae-steps", type=int, default=1100)
    p.add_argument("--vae-batch", type=int, default=12)
    p.add_argument("--vae-lr", type=float, default=2e-3)
    p.add_argument("--vae-crop", type=int, default=64, help="random crop size for VAE training")
    p.add_argument("--decoder-steps", type=int, default=1000, help="decoder-only fine-tune steps")
    p.add_argument("--decoder-lr", type=float, default=5e-4)
    p.add_argument("--decoder-minutes", type=float, default=0.0, help="time cap for the decoder phase")
    p.add_argument("--decoder-only", action="store_true",
                   help="run only the decoder phase (e.g. in parallel with UNet training)")
    p.add_argument("--n-scenes", type=int, default=8000, help="size of the cached latent pool")
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--max-minutes", type=float, default=75.0,
                   help="UNet wall-clock budget: the cosine schedule follows it, then the run exports")
    p.add_argument("--stop-at", type=lambda v: datetime.fromisoformat(v).timestamp(), default=None,
                   help="ISO time (e.g. 2026-11-29T21:10+00:00) at which UNet training stops and exports")
    p.add_argument("--min-snr", type=float, default=5.0,
                   help="cap the low-noise loss weight at 1 + this (x0 terms)")
    p.add_argument("--fg-weight", type=float, default=4.0,
                   help="extra loss weight on object pixels (0 = plain MSE)")
    p.add_argument("--t-power", type=float, default=0.5,
                   help="timestep sampling t = 1000*u**p; <1 favours high noise levels")
    p.add_argument("--offset-noise", type=float, default=0.0, help="per-channel offset noise strength")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--tiny", action="store_true", help="seconds-long smoke run with tiny models")
    p.add_argument("--export-only", action="store_true", help="export the latest checkpoint in --work")
    args = p.parse_args(argv)
    if args.tiny:
        args.steps, args.batch, args.vae_steps, args.vae_batch, args.n_scenes = 4, 4, 4, 4, 32
        args.te_steps, args.te_batch = 3, 8
        args.decoder_steps = 2
        args.save_every = 2
    torch.set_num_threads(args.threads)
    _seed_all(args.seed)
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    work = Path(args.work) if args.work else subdir("training") / "studio-shapes"
    if args.export_only:
        export_checkpoint(args, work)
        return
    if args.decoder_only:
        with open(work / "decoder_log.tsv", "a") as log:
            finetune_decoder(args, work, device, log)
        return
    if work.exists() and not args.resume:
        shutil.rmtree(work)
    work.mkdir(parents=True, exist_ok=True)
    (work / "args.json").write_text(json.dumps(vars(args), indent=1))
    t0 = time.time()
    with open(work / "loss_log.tsv", "a") as log:
        train_vae(args, work, device, log)
        vae = finetune_decoder(args, work, device, log)
        print(f"VAE done after {(time.time() - t0) / 60:.1f} min", flush=True)
        train_unet(args, work, vae, device, log)
    print(f"total {(time.time() - t0) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
