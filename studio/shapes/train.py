"""Train Studio's embedded shapes model: VAE, decoder fine-tune, caption-parsing text encoder,
then the UNet on cached latents.

    python -m studio.shapes.train --out /tmp/studio-shapes [--tiny] [--resume]

The defaults are the 90-minute recipe (2 CPU cores, --total-minutes 90) that made the shipped
weights; studio/shapes/README.md gives it, the longer recipe before it, and their measured fidelity.

Checkpoints, the loss log and intermediate artefacts live in ``--work`` (outside the
repo); only the exported diffusers folder is written to ``--out``.
"""

from __future__ import annotations

import argparse
import copy
import json
import random
import shutil
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
    piece_token_ids,
)
from studio.shapes.text_pretrain import pretrain_text_encoder
from studio.shapes.train_common import Progress, lr_at, save_ckpt, seed_all
from studio.shapes.train_vae import finetune_decoder, pin_posterior_noise, train_vae

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


def object_weights(labels: list[dict[str, Any]], size: int, fg_weight: float,
                   balance: float = 0.0) -> torch.Tensor:
    """Per-latent-pixel loss weights, 1 on background and 1 + fg_weight on (dilated) objects.

    Objects cover ~3-15% of the image, so a plain MSE is dominated by the flat background and
    the model learnt the background long before it learnt what the caption says of the object.
    ``balance`` scales each object's weight by (medium area / its area) ** balance: at 1 every
    object's extra weight sums to about the same whatever its size (at 0 a small object's sum is
    a fifth of a large one's, the ratio of their areas).
    """
    ref = ds.SIZE_RADIUS["medium"]
    maps = []
    for lab in labels:
        w = np.zeros((size, size), dtype=np.float32)
        for obj in lab["objects"]:
            k = fg_weight * (ref / obj["r"]) ** (2 * balance)
            w = np.maximum(w, k * ds.object_mask({"objects": [obj]}, size))
        maps.append(w)
    w = torch.from_numpy(np.stack(maps))[:, None]
    w = F.max_pool2d(w, 3, stride=1, padding=1)  # the VAE smears edges over a latent pixel
    return 1.0 + w


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


def _unet_phases(args: argparse.Namespace, minutes_scale: float = 1.0) -> list[dict[str, Any]]:
    """The UNet's training phases: the main run, then (optionally) a shape-refining run.

    The main run favours high noise (--t-power 0.5), where the layout is decided; the refining run
    restarts the learning rate lower and draws timesteps uniformly (--refine-t-power 1), i.e. three
    times as often below t=300, where the edges of the shapes are decided, and weighs each object
    by its area (--refine-fg-balance 1), so small shapes count as much as large ones. It runs
    --refine-cycles times, each restarting the learning rate: a second cycle of 2,573 steps took
    colour / shape at guidance 5 from 86.5 / 77.5 to 92.0 / 80.0% (with the app's guidance rescale),
    where 1,000 more steps at a lower rate (2e-4) had flattened out.
    """
    phases = [dict(name="unet", steps=args.steps, lr=args.lr, warmup=100, minutes=args.max_minutes * minutes_scale,
                   stop_at=args.stop_at, t_power=args.t_power, balance=0.0)]
    if args.refine_steps > 0 and args.refine_minutes > 0:
        for cycle in range(args.refine_cycles):
            phases.append(dict(name="refine" if cycle == 0 else f"refine{cycle + 1}", steps=args.refine_steps,
                               lr=args.refine_lr, warmup=0, minutes=args.refine_minutes * minutes_scale,
                               stop_at=None, t_power=args.refine_t_power, balance=args.refine_fg_balance))
    return phases


# Kept back from --total-minutes for the final checkpoint and the export.
EXPORT_RESERVE_S = 45.0


def unet_minutes_scale(args: argparse.Namespace, work: Path, started: float) -> float:
    """How much to scale the UNet phases' minutes so the whole run fits --total-minutes.

    The UNet phases share whatever the VAE, decoder and text encoder left of the budget, in the
    ratio of their own caps (--max-minutes : --refine-minutes per cycle). Fixed when the UNet
    first starts and kept in the work folder, so a resumed run keeps the same schedule.
    """
    if not args.total_minutes:
        return 1.0
    path = work / "unet_budget.json"
    if args.resume and path.exists():
        return float(json.loads(path.read_text())["minutes_scale"])
    planned = sum(ph["minutes"] for ph in _unet_phases(args))
    left = args.total_minutes - (time.time() - started + EXPORT_RESERVE_S) / 60
    if left <= 1.0:
        raise SystemExit(f"--total-minutes {args.total_minutes:g} leaves no time for the UNet "
                         f"({left:.1f} min after the VAE and text encoder)")
    scale = left / planned
    path.write_text(json.dumps({"minutes_scale": scale, "unet_minutes": left}))
    print(f"UNet: {left:.1f} min of the {args.total_minutes:g}-minute budget left", flush=True)
    return scale


def train_unet(args: argparse.Namespace, work: Path, vae: AutoencoderKL, device: torch.device, log,
               started: float | None = None) -> None:
    tok = build_tokenizer(work / "tokenizer")
    latents, labels = cache_latents(args, work, vae, device)
    te = text_encoder(args, work, tok, device, log)
    unet = build_unet(te.config.hidden_size, args.tiny).to(device)
    sched = build_scheduler()
    params = list(unet.parameters())
    # fused: one kernel for all parameters (AdamW's per-tensor ops were 11-15% of a step of this small UNet)
    opt = torch.optim.AdamW(params, lr=args.lr, weight_decay=1e-2, fused=True)
    ema = [p.detach().clone() for p in params]
    ckpt, step = work / "unet_ckpt.pt", 0
    rng = random.Random(args.seed + 3)
    gen = torch.Generator().manual_seed(args.seed + 4)
    frac0, first_phase, phase_start = 0.0, 0, 0
    if args.resume and ckpt.exists():
        st = torch.load(ckpt, map_location=device, weights_only=False)
        unet.load_state_dict(st["unet"])
        opt.load_state_dict(st["opt"])
        ema = [e.to(device) for e in st["ema"]]
        step, rng = st["step"], st["rng"]
        gen.set_state(st["gen"])
        frac0 = st.get("time_frac", 0.0)
        first_phase, phase_start = st.get("phase", 0), st.get("phase_start", 0)
    alphas = sched.alphas_cumprod.to(device)
    snr = alphas / (1 - alphas)

    def checkpoint(**where: Any) -> None:  # where: time_frac, phase, phase_start
        log.flush()
        save_ckpt(ckpt, unet=unet.state_dict(), te=te.state_dict(), opt=opt.state_dict(), ema=ema,
                  step=step, rng=rng, gen=gen.get_state(), **where)

    scale = unet_minutes_scale(args, work, time.time() if started is None else started)
    unet.train()
    for phase_no, phase in list(enumerate(_unet_phases(args, scale)))[first_phase:]:
        weights = object_weights(labels, latents.shape[-1], args.fg_weight, phase["balance"])
        t0 = time.time()
        # Wall-clock budget (minutes from now, or an absolute --stop-at time), whichever is sooner.
        budget = phase["minutes"] * 60 if phase["minutes"] else float("inf")
        if phase["stop_at"]:
            budget = min(budget, phase["stop_at"] - t0)
        bar = Progress(phase_start + phase["steps"], step, phase["name"])
        time_frac = frac0
        while step - phase_start < phase["steps"]:
            time_frac = frac0 + (1 - frac0) * (time.time() - t0) / budget if budget < float("inf") else 0.0
            if time_frac >= 1.0:
                print(f"{phase['name']}: time budget reached at step {step}", flush=True)
                break
            lr = lr_at(step - phase_start, phase["steps"], phase["lr"], phase["warmup"], time_frac)
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
                # Offset noise (off by default): a random per-channel shift of the noise, the older fix
                # for SD's nonzero terminal SNR leaking the picture's mean colour; the zero-SNR schedule
                # (model.build_scheduler) removes that leak at its source.
                noise = noise + args.offset_noise * torch.randn(x0.shape[0], x0.shape[1], 1, 1,
                                                                generator=gen).to(device)
            # t = T * u**p: p < 1 spends more steps at high noise, where layout and colour are decided.
            u = torch.rand(args.batch, generator=gen)
            t = (u ** phase["t_power"] * sched.config.num_train_timesteps).long().clamp(max=999).to(device)
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
                torch._foreach_lerp_(ema, [p.detach() for p in params], 1 - decay)
            bar.update(loss.item())
            log.write(f"{phase['name']}\t{step}\t{loss.item():.5f}\t{lr:.2e}\n")
            if step % args.save_every == 0:
                checkpoint(time_frac=time_frac, phase=phase_no, phase_start=phase_start)
        bar.close()
        # The next phase starts fresh: its own clock and its own learning-rate schedule.
        frac0, phase_start = 0.0, step
        checkpoint(time_frac=0.0, phase=phase_no + 1, phase_start=phase_start)
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


def build_parser() -> argparse.ArgumentParser:
    """The trainer's options; their defaults are the 90-minute recipe (see studio/shapes/README.md)."""
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
    p.add_argument("--decoder-steps", type=int, default=2000, help="decoder-only fine-tune steps")
    p.add_argument("--decoder-lr", type=float, default=5e-4)
    p.add_argument("--decoder-fg-weight", type=float, default=4.0,
                   help="extra decoder loss weight on (dilated) shape pixels")
    p.add_argument("--decoder-crop", type=int, default=64,
                   help="random crop size for the decoder fine-tune (128 = whole images)")
    p.add_argument("--decoder-minutes", type=float, default=6.0, help="time cap for the decoder phase (0 = none)")
    p.add_argument("--decoder-only", action="store_true",
                   help="run only the decoder phase (e.g. in parallel with UNet training)")
    p.add_argument("--n-scenes", type=int, default=8000, help="size of the cached latent pool")
    p.add_argument("--save-every", type=int, default=100)
    p.add_argument("--max-minutes", type=float, default=45.0,
                   help="UNet main phase's wall-clock cap: the cosine schedule follows it (under "
                        "--total-minutes, its share: 45:45:45 gives main and both refining cycles a third each)")
    p.add_argument("--total-minutes", type=float, default=90.0,
                   help="wall-clock budget of the whole run; the UNet phases share what the VAE and text "
                        "encoder leave, in the ratio of --max-minutes to --refine-minutes (0 = use those caps)")
    p.add_argument("--stop-at", type=lambda v: datetime.fromisoformat(v).timestamp(), default=None,
                   help="ISO time (e.g. 2026-11-29T21:10+00:00) at which UNet training stops and exports")
    p.add_argument("--min-snr", type=float, default=5.0,
                   help="cap the low-noise loss weight at 1 + this (x0 terms)")
    p.add_argument("--fg-weight", type=float, default=4.0,
                   help="extra loss weight on object pixels (0 = plain MSE)")
    p.add_argument("--t-power", type=float, default=0.5,
                   help="timestep sampling t = 1000*u**p; <1 favours high noise levels")
    p.add_argument("--refine-minutes", type=float, default=45.0,
                   help="wall-clock budget of the shape-refining UNet phase (0 = none)")
    p.add_argument("--refine-steps", type=int, default=3300, help="step cap of the refining phase")
    p.add_argument("--refine-lr", type=float, default=5e-4)
    p.add_argument("--refine-cycles", type=int, default=2,
                   help="refining phases in a row, each restarting its learning-rate schedule")
    p.add_argument("--refine-t-power", type=float, default=1.0)
    p.add_argument("--refine-fg-balance", type=float, default=1.0,
                   help="refining phase: scale object weights by (medium area / area) ** this")
    p.add_argument("--offset-noise", type=float, default=0.0, help="per-channel offset noise strength")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--resume", action="store_true")
    p.add_argument("--tiny", action="store_true", help="seconds-long smoke run with tiny models")
    p.add_argument("--export-only", action="store_true", help="export the latest checkpoint in --work")
    return p


def main(argv: list[str] | None = None) -> None:
    args = build_parser().parse_args(argv)
    if args.tiny:
        args.steps, args.batch, args.vae_steps, args.vae_batch, args.n_scenes = 4, 4, 4, 4, 32
        args.te_steps, args.te_batch = 3, 8
        args.decoder_steps, args.refine_steps = 2, 2
        args.save_every = 2
    torch.set_num_threads(args.threads)
    seed_all(args.seed)
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
        train_unet(args, work, vae, device, log, started=t0)
    print(f"total {(time.time() - t0) / 60:.1f} min", flush=True)


if __name__ == "__main__":
    main()
