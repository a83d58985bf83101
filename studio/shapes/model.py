"""Builders for the small SD-architecture components (tokenizer, VAE, text encoder, UNet)."""

from __future__ import annotations

import json
from pathlib import Path

from diffusers import AutoencoderKL, DDPMScheduler, EulerDiscreteScheduler, UNet2DConditionModel
from transformers import CLIPTextConfig, CLIPTextModel, CLIPTokenizer

from studio.shapes.dataset import IMAGE_SIZE, VOCAB_WORDS

BOS, EOS = "<|startoftext|>", "<|endoftext|>"
MAX_TOKENS = 32  # longest caption is ~25 words; short context keeps the encoder cheap


def _bpe(word: list[str], ranks: dict[tuple[str, str], int]) -> list[str]:
    # Minimal BPE (lowest-rank pair first), used only to grow the merge table.
    while len(word) > 1:
        pairs = [(ranks.get((a, b), 1 << 30), i) for i, (a, b) in enumerate(zip(word, word[1:], strict=False))]
        rank, i = min(pairs)
        if rank == 1 << 30:
            break
        word = word[:i] + [word[i] + word[i + 1]] + word[i + 2:]
    return word


def build_tokenizer(out_dir: str | Path) -> CLIPTokenizer:
    """Write vocab.json/merges.txt so every caption word is exactly one token.

    Unknown words fall apart into characters/word pieces: letters never used by the
    vocabulary map to ``unk`` and the pieces share the unk embedding (see
    ``tie_piece_embeddings``), so foreign words are harmless and never crash.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    merges: list[tuple[str, str]] = []
    ranks: dict[tuple[str, str], int] = {}
    for w in VOCAB_WORDS:
        chars = list(w[:-1]) + [w[-1] + "</w>"]
        while True:
            toks = _bpe(chars, ranks)
            if len(toks) == 1:
                break
            # New merges rank last, so words already handled never pick them.
            pair = (toks[0], toks[1])
            ranks[pair] = len(merges)
            merges.append(pair)
    vocab = {"<|unk|>": 0, BOS: 1, EOS: 2}
    for w in VOCAB_WORDS:
        vocab[w + "</w>"] = len(vocab)
    # The tokenizers BPE needs every merge input in the vocabulary; these word
    # pieces never occur in captions and get the unk embedding at export time.
    for a, b in merges:
        for piece in (a, b, a + b):
            vocab.setdefault(piece, len(vocab))
    (out / "vocab.json").write_text(json.dumps(vocab, indent=0))
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n")
    tok = CLIPTokenizer(
        vocab=vocab, merges=merges,
        unk_token="<|unk|>", bos_token=BOS, eos_token=EOS, pad_token=EOS, model_max_length=MAX_TOKENS,
    )
    tok.save_pretrained(out)
    # save_pretrained may rewrite them; keep the classic vocab.json/merges.txt pair too.
    (out / "vocab.json").write_text(json.dumps(vocab, indent=0))
    (out / "merges.txt").write_text("#version: 0.2\n" + "\n".join(f"{a} {b}" for a, b in merges) + "\n")
    return CLIPTokenizer.from_pretrained(out)


def piece_token_ids(tokenizer: CLIPTokenizer) -> list[int]:
    """Ids of tokens that are not whole caption words or specials (word pieces)."""
    words = {w + "</w>" for w in VOCAB_WORDS} | {"<|unk|>", BOS, EOS}
    return [i for t, i in tokenizer.get_vocab().items() if t not in words]


def build_vae(tiny: bool = False) -> AutoencoderKL:
    """Factor-4 VAE (128x128x3 <-> 32x32x4): small stars survive the round trip.

    One norm group (layer-norm-like): with per-few-channel groups, GroupNorm erases the
    absolute colour of flat regions, which made colours very slow to learn.
    """
    ch = (16, 32, 32) if tiny else (24, 48, 64)
    return AutoencoderKL(
        in_channels=3, out_channels=3, latent_channels=4,
        down_block_types=("DownEncoderBlock2D",) * 3, up_block_types=("UpDecoderBlock2D",) * 3,
        block_out_channels=ch, layers_per_block=1, norm_num_groups=1,
        sample_size=IMAGE_SIZE, mid_block_add_attention=False,
    )


def build_text_encoder(vocab_size: int, tiny: bool = False) -> CLIPTextModel:
    cfg = CLIPTextConfig(
        vocab_size=vocab_size, hidden_size=64 if tiny else 128, intermediate_size=128 if tiny else 256,
        num_hidden_layers=1 if tiny else 3, num_attention_heads=4, max_position_embeddings=MAX_TOKENS,
        projection_dim=64 if tiny else 128, bos_token_id=1, eos_token_id=2, pad_token_id=2,
    )
    return CLIPTextModel(cfg)


def build_unet(cross_dim: int, tiny: bool = False) -> UNet2DConditionModel:
    """UNet on 32x32 latents: conv levels at 32x32 and 16x16, cross-attention at 8x8 and 4x4.

    Attention at 16x16 (256 tokens) cost 40% of a training step; without it a step takes 0.8 s
    instead of 1.4 s (batch 32, 2 threads), so the same budget trains 1.7x more steps. The
    caption's positions are a 3x3 grid, which the 8x8 and 4x4 levels resolve.

    The 4x4 level is there for *where*: a UNet knows absolute position only from its convolutions'
    zero padding, and with three levels (down to 8x8) the model painted the right colour but
    anywhere, often several times. At 4x4 nearly every cell sees the border, and the level costs
    almost nothing (same step time, +3 M parameters).

    ``addition_embed_type="text"`` also pools the caption's hidden states into the time
    embedding, and ``scale_shift`` lets that embedding scale as well as shift every ResNet
    block's features (FiLM): caption-wide facts (colours, background) reach the whole network
    directly instead of only through cross-attention. Both are standard diffusers options, so
    the folder still loads as a plain StableDiffusionPipeline.
    """
    if tiny:
        return UNet2DConditionModel(
            sample_size=IMAGE_SIZE // 4, in_channels=4, out_channels=4,
            down_block_types=("DownBlock2D", "CrossAttnDownBlock2D", "CrossAttnDownBlock2D"),
            up_block_types=("CrossAttnUpBlock2D", "CrossAttnUpBlock2D", "UpBlock2D"),
            block_out_channels=(16, 32, 32), layers_per_block=1, cross_attention_dim=cross_dim,
            attention_head_dim=8, norm_num_groups=8,
            addition_embed_type="text", addition_embed_type_num_heads=4, resnet_time_scale_shift="scale_shift",
        )
    return UNet2DConditionModel(
        sample_size=IMAGE_SIZE // 4, in_channels=4, out_channels=4,
        down_block_types=("DownBlock2D",) * 2 + ("CrossAttnDownBlock2D",) * 2,
        up_block_types=("CrossAttnUpBlock2D",) * 2 + ("UpBlock2D",) * 2,
        block_out_channels=(32, 64, 96, 128), layers_per_block=1, cross_attention_dim=cross_dim,
        attention_head_dim=16, norm_num_groups=16,
        addition_embed_type="text", addition_embed_type_num_heads=8, resnet_time_scale_shift="scale_shift",
    )


def build_scheduler() -> DDPMScheduler:
    """SD's betas rescaled to zero terminal SNR, v-prediction, trailing timesteps.

    With SD's own schedule the noisiest training step (t=999) still keeps 7% of the picture, and
    over a blob of latent pixels that is enough to read a layout from: the model learnt to take
    *where* from the noise instead of the caption (from pure noise, its picture estimate moved
    with the seed and not at all with "top left" vs "bottom right"). Rescaled to zero SNR,
    t=999 is pure noise and the caption is all there is; v-prediction is what makes that step
    learnable (epsilon is undefined there), and "trailing" spacing starts sampling at t=999.
    Every sampler Studio offers reads these three settings through from_config (tested).
    """
    return DDPMScheduler(
        num_train_timesteps=1000, beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear",
        prediction_type="v_prediction", rescale_betas_zero_snr=True, timestep_spacing="trailing",
        clip_sample=False, steps_offset=1,  # unused by "trailing"; the pipeline warns about anything else
    )


def build_sampling_scheduler() -> EulerDiscreteScheduler:
    """Scheduler shipped in the folder: Euler on the same SD betas (others load via from_config)."""
    return EulerDiscreteScheduler.from_config(build_scheduler().config)
