"""Prompt encoding for a loaded pipeline: weighting syntax, long prompts, blends, and a cache.

`PromptEncoder(pipe).encode(request)` returns the keyword arguments for the pipeline call that
carry the text conditioning: prompt_embeds, negative_prompt_embeds, and for SDXL also
pooled_prompt_embeds and negative_pooled_prompt_embeds.

- A plain prompt (no brackets or BREAK, fits in one chunk) goes through the pipeline's own
  `encode_prompt`, so results match a plain diffusers call bit for bit.
- Weighted or long prompts are split into chunks of (max length - 2) tokens, each encoded with
  BOS/EOS and concatenated along the sequence axis; each token's hidden state is scaled by its
  weight, then the chunk is rescaled to its original mean (the behaviour of the tools artists
  know, so their prompts keep their meaning). BREAK starts a new chunk.
- Blends mix the encoded prompts (slerp per token vector by default, lerp as an option), pooled
  embeddings alike. A prompt with weight exactly 1 is returned as is, so the slider ends give
  the pure prompts exactly; prompts with weight 0 are not even encoded.
- Every encoded text is kept in a per-model LRU cache, so moving a slider never re-encodes.
  Positive and negative prompts share it: the pipelines encode both the same way.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch

from studio.core.request import GenerationRequest
from studio.engine._prompt_syntax import Section, parse_prompt, plain_text
from studio.engine._slerp import weighted_lerp, weighted_slerp

CACHE_SIZE = 32  # encoded prompts kept per model (~0.25 MB each for SD1, ~0.6 MB for SDXL)
_CACHE_ATTR = "_studio_prompt_cache"


@dataclass(frozen=True)
class Encoded:
    hidden: torch.Tensor  # (1, chunks * max_length, dim)
    pooled: torch.Tensor | None  # (1, dim) for SDXL, else None


class EmbeddingCache:
    """A small LRU of Encoded prompts, keyed by (LoRAs, text); one per loaded pipeline."""

    def __init__(self, size: int = CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple, Encoded] = OrderedDict()

    def get(self, key: tuple) -> Encoded | None:
        item = self._items.get(key)
        if item is not None:
            self._items.move_to_end(key)
        return item

    def put(self, key: tuple, value: Encoded) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)


class PromptEncoder:
    def __init__(self, pipe, cache_size: int = CACHE_SIZE) -> None:  # noqa: ANN001 - any SD-family pipeline
        self.pipe = pipe
        self.encoder_calls = 0  # texts actually run through the text encoder(s)
        # The cache lives on the pipeline, so it is per model, survives encoders created per
        # job, and goes away with the model.
        cache = getattr(pipe, _CACHE_ATTR, None)
        if cache is None:
            cache = EmbeddingCache(cache_size)
            setattr(pipe, _CACHE_ATTR, cache)
        self.cache: EmbeddingCache = cache
        self.is_sdxl = getattr(pipe, "text_encoder_2", None) is not None or hasattr(pipe, "tokenizer_2")

    # ---- public --------------------------------------------------------------------------------
    @torch.no_grad()
    def encode(self, request: GenerationRequest) -> dict[str, torch.Tensor]:
        positive = self.blend(request)
        kwargs = {"prompt_embeds": positive.hidden}
        if positive.pooled is not None:
            kwargs["pooled_prompt_embeds"] = positive.pooled
        if request.guidance_scale > 1.0:
            negative = self._negative(request, positive)
            positive, negative = _pad_same([positive, negative], lambda: self._empty_chunk(request))
            kwargs["prompt_embeds"] = positive.hidden
            kwargs["negative_prompt_embeds"] = negative.hidden
            if negative.pooled is not None:
                kwargs["negative_pooled_prompt_embeds"] = negative.pooled
        return kwargs

    @torch.no_grad()
    def blend(self, request: GenerationRequest) -> Encoded:
        """The positive conditioning: one prompt, or the request's prompts mixed by their weights."""
        parts = [(text, weight) for text, weight in request.prompt_weights() if weight > 0.0]
        if not parts:  # every weight 0 cannot happen with prompt_weights(), but stay total
            parts = [(request.prompt, 1.0)]
        exact = [text for text, weight in parts if weight == 1.0]
        if exact or len(parts) == 1:
            return self.encode_text(exact[0] if exact else parts[0][0], request.loras)
        encoded = [self.encode_text(text, request.loras) for text, _ in parts]
        encoded = _pad_same(encoded, lambda: self._empty_chunk(request))
        weights = [weight for _, weight in parts]
        if request.blend_mode == "lerp":
            hidden = weighted_lerp([e.hidden for e in encoded], weights)
            pooled = None if encoded[0].pooled is None else weighted_lerp([e.pooled for e in encoded], weights)
        else:  # slerp each token's vector (and the pooled vector) on its own
            hidden = weighted_slerp([e.hidden for e in encoded], weights)
            pooled = None if encoded[0].pooled is None else weighted_slerp([e.pooled for e in encoded], weights)
        return Encoded(hidden, pooled)

    @torch.no_grad()
    def encode_text(self, text: str, loras: tuple = ()) -> Encoded:
        """One prompt's conditioning, from the cache when this model has encoded it before."""
        key = (tuple(loras), text)
        cached = self.cache.get(key)
        if cached is None:
            cached = self._encode_uncached(text)
            self.cache.put(key, cached)
        return cached

    # ---- encoding --------------------------------------------------------------------------------
    def _encode_uncached(self, text: str) -> Encoded:
        self.encoder_calls += 1
        sections = parse_prompt(text)
        plain = plain_text(sections)  # text without syntax comes back unchanged
        if plain is not None and self._fits(plain):
            return self._encode_plain(plain)
        return self._encode_weighted(sections)

    def _encode_plain(self, text: str) -> Encoded:
        """Exactly the pipeline's own encoding (parity with a plain diffusers call)."""
        pipe = self.pipe
        out = pipe.encode_prompt(
            prompt=text,
            device=pipe._execution_device,
            num_images_per_prompt=1,
            do_classifier_free_guidance=False,
        )
        if self.is_sdxl:
            return Encoded(out[0], out[2])
        return Encoded(out[0], None)

    def _encoders(self) -> list[tuple]:
        pipe = self.pipe
        pairs = [(pipe.tokenizer, pipe.text_encoder)]
        if self.is_sdxl:
            pairs.append((pipe.tokenizer_2, pipe.text_encoder_2))
        return [(tok, enc) for tok, enc in pairs if tok is not None and enc is not None]

    def _fits(self, text: str) -> bool:
        return all(
            len(_token_ids(tok, text)) <= _max_length(tok, enc) - 2 for tok, enc in self._encoders()
        )

    def _encode_weighted(self, sections: list[Section]) -> Encoded:
        encoders = self._encoders()
        chunked = [_chunk(tok, enc, sections) for tok, enc in encoders]
        count = max(len(chunks) for chunks in chunked)
        hiddens, pooled = [], None
        for (tok, enc), chunks in zip(encoders, chunked, strict=True):
            length = _max_length(tok, enc)
            chunks = chunks + [([], [])] * (count - len(chunks))
            ids, mask, weights = _chunk_tensors(tok, chunks, length)
            device = enc.device
            use_mask = getattr(enc.config, "use_attention_mask", False)
            out = enc(
                ids.to(device),
                attention_mask=mask.to(device) if use_mask else None,
                output_hidden_states=self.is_sdxl,
            )
            if self.is_sdxl:
                hidden = out.hidden_states[-2]
                if pooled is None and out[0].ndim == 2:
                    pooled = out[0][:1]  # pooled output of the first chunk, as other tools do
            else:
                hidden = out[0]
            hiddens.append(_apply_weights(hidden, weights.to(hidden.device)))
        hidden = torch.cat(hiddens, dim=-1)  # SDXL: the two encoders side by side
        hidden = hidden.reshape(1, -1, hidden.shape[-1])  # chunks one after another
        dtype = encoders[-1][1].dtype
        device = self.pipe._execution_device
        return Encoded(
            hidden.to(device=device, dtype=dtype),
            None if pooled is None else pooled.to(device=device, dtype=dtype),
        )

    # ---- negative and padding ----------------------------------------------------------------------
    def _negative(self, request: GenerationRequest, positive: Encoded) -> Encoded:
        config = getattr(self.pipe, "config", {})
        if self.is_sdxl and not request.negative_prompt and config.get("force_zeros_for_empty_prompt"):
            # SDXL's own rule for an empty negative: zeros, as long as the positive
            return Encoded(
                torch.zeros_like(positive.hidden),
                None if positive.pooled is None else torch.zeros_like(positive.pooled),
            )
        return self.encode_text(request.negative_prompt, request.loras)

    def _empty_chunk(self, request: GenerationRequest) -> Encoded:
        """What pads a shorter conditioning: the encoded empty prompt, one chunk long."""
        return self.encode_text("", request.loras)


# ---- helpers -----------------------------------------------------------------------------------
def _max_length(tokenizer, encoder) -> int:  # noqa: ANN001
    length = int(tokenizer.model_max_length)
    positions = getattr(encoder.config, "max_position_embeddings", length)
    return min(length, positions)


def _token_ids(tokenizer, text: str) -> list[int]:  # noqa: ANN001
    return list(tokenizer(text, add_special_tokens=False, truncation=False, verbose=False).input_ids)


def _chunk(tokenizer, encoder, sections: list[Section]) -> list[tuple[list[int], list[float]]]:  # noqa: ANN001
    """(token ids, weights) per chunk: each section (between BREAKs) starts a new chunk."""
    size = _max_length(tokenizer, encoder) - 2
    chunks: list[tuple[list[int], list[float]]] = []
    for section in sections:
        ids: list[int] = []
        weights: list[float] = []
        for fragment in section:
            tokens = _token_ids(tokenizer, fragment.text)
            ids += tokens
            weights += [fragment.weight] * len(tokens)
        for start in range(0, len(ids), size):
            chunks.append((ids[start : start + size], weights[start : start + size]))
    return chunks or [([], [])]


def _chunk_tensors(tokenizer, chunks, length: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:  # noqa: ANN001
    """Token ids laid out as the tokenizer pads them: BOS, tokens, EOS, then padding."""
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else eos
    rows, masks, weight_rows = [], [], []
    for ids, weights in chunks:
        body = [bos, *ids, eos]
        rows.append(body + [pad] * (length - len(body)))
        masks.append([1] * len(body) + [0] * (length - len(body)))
        weight_rows.append([1.0, *weights, 1.0] + [1.0] * (length - len(body)))
    return (
        torch.tensor(rows, dtype=torch.long),
        torch.tensor(masks, dtype=torch.long),
        torch.tensor(weight_rows, dtype=torch.float32),
    )


def _apply_weights(hidden: torch.Tensor, weights: torch.Tensor) -> torch.Tensor:
    """Scale each token's hidden state by its weight, then restore each chunk's mean.

    The mean restore keeps the overall scale the UNet was trained on (what artists' prompts
    expect). Where a chunk's mean is near zero the ratio is meaningless (it can even flip the
    sign of everything), so it is applied only when it is a modest positive factor.
    """
    if bool((weights == 1.0).all()):
        return hidden
    h = hidden.float()
    original = h.mean(dim=(1, 2), keepdim=True)
    h = h * weights[:, :, None]
    ratio = original / h.mean(dim=(1, 2), keepdim=True)
    sane = (ratio > 0.5) & (ratio < 2.0)
    h = h * torch.where(sane, ratio, torch.ones_like(ratio))
    return h.to(hidden.dtype)


def _pad_same(items: list[Encoded], empty: Callable[[], Encoded]) -> list[Encoded]:
    """Pad shorter conditionings with empty-prompt chunks: blends and guidance need equal lengths."""
    length = max(e.hidden.shape[1] for e in items)
    out = []
    for encoded in items:
        missing = length - encoded.hidden.shape[1]
        if missing > 0:
            filler = empty().hidden
            filler = filler.to(encoded.hidden).repeat(1, missing // filler.shape[1], 1)
            encoded = Encoded(torch.cat([encoded.hidden, filler], dim=1), encoded.pooled)
        out.append(encoded)
    return out
