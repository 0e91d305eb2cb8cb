"""Attention sinks read in parallel: what the sink cache of stream.py computes, in one forward.

The stream keeps `sinks` first tokens and the `window` most recent ones, and positions every entry
by its slot in the cache. So the query at token t (counted in its document) sees
- the sink tokens j < sinks, at relative distance p(t) - j, where p(t) = min(t, sinks + window - 1)
  is the query's slot: the query, rotated back by t - p(t), scores them;
- the tokens s with sinks <= s, t - window < s <= t, at their true distance t - s (the cache moves
  a recent key and its query's slot alike): ordinary scores.
One softmax over both. Queries go in chunks, each against the sink keys and its band of recent
keys, so memory is chunk x (window + chunk) and work is linear in the length, as the stream's is;
packed training rows go document by document. Exactly the stream's logits (tests/test_sinks.py),
without its token-by-token loop.
"""
from __future__ import annotations

import torch

from ...attention.boundaries import cu_seq_lens, document_starts
from ...attention.masked import layer_window, no_mask, soft_capped
from ...attention.rope_angles import layer_rotary, rotate_back
from ...attention.segments import repeat_kv, segment_spans
from ...errors import RecipeError

NAME = "longft_sinks"
QUERY_CHUNK = 1024  # queries scored at once: bounds the score matrix at chunk x (window + chunk)
DEFAULT_SINKS = 4  # StreamingLLM's: 4 sink tokens


def _chunk_layout(n_q: int, n_k: int, sinks: int, window: int, band: int | None, device):
    """Per chunk of queries: (start, query tokens t, sink count, first and end band key)."""
    offset, band = n_k - n_q, min(band or window, window)
    for a in range(0, n_q, QUERY_CHUNK):
        t = torch.arange(offset + a, offset + min(a + QUERY_CHUNK, n_q), device=device)
        first, last = int(t[0]), int(t[-1])
        lo, hi = max(sinks, first - band + 1), last + 1
        yield a, t, min(sinks, last + 1), min(lo, hi), hi, band


def _sink_scores(qc, k_sinks, t, sinks: int, window: int, rotary, scale: float, softcap):
    """The chunk's scores against the sink keys, the query moved to its cache slot; computed in
    fp32, as an attention kernel accumulates its scores: the sinks draw much of the weight, so a
    bf16-rounded sink score moves every output."""
    q_sink = rotate_back(qc.float(), (t - (sinks + window - 1)).clamp(min=0).float(), rotary)
    scores = soft_capped((q_sink @ k_sinks.float().transpose(-1, -2)) * scale, softcap)
    allowed = torch.arange(k_sinks.shape[2], device=qc.device)[None, :] <= t[:, None]
    return scores.masked_fill(~allowed, float("-inf"))


def _band_allowed(t, lo: int, hi: int, band: int):
    """(queries, keys lo..hi-1) bool: a key at or before its query and fewer than `band` back."""
    shift = int(t[0]) - lo  # query i is token lo + shift + i
    ones = torch.ones(t.numel(), hi - lo, dtype=torch.bool, device=t.device)
    return ones.tril(shift) & ~ones.tril(shift - band)


def sink_attention_one_sequence(q, k, v, sinks: int, window: int, rotary, scale: float, softcap=None,
                                band: int | None = None) -> torch.Tensor:
    """q (B, H, Nq, D) the last Nq of the Nk keys k, v (B, H, Nk, D), one document a row (heads
    repeated already). `band` narrows the recent keys (a layer's own sliding window) without moving
    the sinks' slots. Returns (B, H, Nq, D).

    Each chunk is one fused SDPA call: the sinks enter as keys of zeros whose scores come in through
    the additive mask (their re-positioned scores, computed apart), the band as ordinary keys, so
    one softmax covers both without the score matrix being built here. A soft cap, which SDPA
    cannot apply, takes the written-out path."""
    if softcap is not None:
        return _sink_attention_explicit(q, k, v, sinks, window, rotary, scale, softcap, band)
    out = torch.empty_like(q)
    B, H, _, D = q.shape
    mask, layout = None, None
    for a, t, n_sink, lo, hi, width in _chunk_layout(q.shape[2], k.shape[2], sinks, window, band, q.device):
        qc = q[:, :, a : a + t.numel()]
        # an fp32 bias beside bf16 queries: the sink scores keep fp32 precision (_chunk_attention)
        if layout != (t.numel(), int(t[0]) - lo, hi - lo, n_sink):  # the band's pattern repeats chunk to chunk
            layout = (t.numel(), int(t[0]) - lo, hi - lo, n_sink)
            mask = torch.empty(B, H, t.numel(), n_sink + hi - lo, device=q.device)
            mask[..., n_sink:] = torch.zeros(t.numel(), hi - lo, device=q.device).masked_fill_(
                ~_band_allowed(t, lo, hi, width), float("-inf"))
        mask[..., :n_sink] = _sink_scores(qc, k[:, :, :n_sink], t, sinks, window, rotary, scale, None)
        keys = torch.cat([k.new_zeros(B, H, n_sink, D), k[:, :, lo:hi]], dim=2)
        values = torch.cat([v[:, :, :n_sink], v[:, :, lo:hi]], dim=2)
        out[:, :, a : a + t.numel()] = _chunk_attention(qc, keys, values, mask, scale, q.device.type == "cpu")
    return out


def _chunk_attention(qc, keys, values, mask, scale: float, kernel_takes_fp32_mask: bool) -> torch.Tensor:
    """One chunk's SDPA call with the fp32 sink scores of `mask` kept exact. The CPU kernel takes an
    fp32 mask beside bf16 queries; CUDA's kernels take it only in the queries' dtype, which would
    round the sink scores to bf16 again, so there a bf16 chunk goes through the kernel in fp32."""
    sdpa = torch.nn.functional.scaled_dot_product_attention
    if kernel_takes_fp32_mask or qc.dtype == torch.float32:
        return sdpa(qc, keys, values, attn_mask=mask, scale=scale)
    return sdpa(qc.float(), keys.float(), values.float(), attn_mask=mask, scale=scale).to(qc.dtype)


def _sink_attention_explicit(q, k, v, sinks: int, window: int, rotary, scale: float, softcap,
                             band: int | None) -> torch.Tensor:
    """The same weights with the scores written out (and soft-capped) per chunk."""
    out = torch.empty_like(q)
    for a, t, n_sink, lo, hi, width in _chunk_layout(q.shape[2], k.shape[2], sinks, window, band, q.device):
        qc = q[:, :, a : a + t.numel()]
        s_scores = _sink_scores(qc, k[:, :, :n_sink], t, sinks, window, rotary, scale, softcap)
        b_scores = soft_capped((qc @ k[:, :, lo:hi].transpose(-1, -2)).float() * scale, softcap)
        scores = torch.cat([s_scores, b_scores.masked_fill(~_band_allowed(t, lo, hi, width), float("-inf"))], dim=-1)
        weights = torch.softmax(scores, dim=-1).to(v.dtype)
        out[:, :, a : a + t.numel()] = (weights[..., :n_sink] @ v[:, :, :n_sink]
                                        + weights[..., n_sink:] @ v[:, :, lo:hi])
    return out


def make_sink_attention(sinks: int, window: int):
    def sink_attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        B, H, q_len, D = query.shape
        key, value = repeat_kv(key, H), repeat_kv(value, H)
        scale = scaling if scaling is not None else D ** -0.5
        rotary = layer_rotary(module.config, module.layer_idx, query.device)
        args = (sinks, window, rotary, scale, kwargs.get("softcap"), layer_window(kwargs))
        cu = cu_seq_lens(kwargs)
        if cu is None or q_len != key.shape[2]:  # one document a row, or generation from a cache
            out = sink_attention_one_sequence(query, key, value, *args)
        else:  # packed rows: each document from its own first token
            flat = [x.transpose(0, 1).reshape(H, B * q_len, D)[None] for x in (query, key, value)]
            out = torch.empty_like(flat[0])
            starts, lengths = segment_spans(document_starts(cu, B, q_len, query.device))
            for s, n in zip(starts.tolist(), lengths.tolist()):
                out[:, :, s : s + n] = sink_attention_one_sequence(*(x[:, :, s : s + n] for x in flat), *args)
            out = out[0].view(H, B, q_len, D).transpose(0, 1)
        return out.transpose(1, 2).contiguous(), None

    return sink_attention


def validate(attention, seq_len: int, window: int | None) -> None:
    unknown = set(attention.params) - {"sinks", "window"}
    if unknown:
        raise RecipeError(f"attention.params has {sorted(unknown)}: sinks takes ['sinks', 'window']")
    s, w = attention.params.get("sinks", DEFAULT_SINKS), attention.params.get("window")
    if not isinstance(s, int) or s < 0:
        raise RecipeError(f"attention.params.sinks = {s!r}: the number of sink tokens kept, an integer >= 0")
    if not isinstance(w, int) or w < 1:
        raise RecipeError(f"attention.params.window = {w!r}: sinks needs a recent window of w >= 1 tokens")


def settings(attention, window: int | None) -> dict:
    return {"method": "sinks", "sinks": attention.params.get("sinks", DEFAULT_SINKS), "window": attention.params["window"]}


def register(saved: dict) -> str:
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, make_sink_attention(int(saved["sinks"]), int(saved["window"])))
    AttentionMaskInterface.register(NAME, no_mask)
    return NAME
