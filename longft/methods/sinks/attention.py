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


def sink_attention_one_sequence(q, k, v, sinks: int, window: int, rotary, scale: float, softcap=None,
                                band: int | None = None) -> torch.Tensor:
    """q (B, H, Nq, D) the last Nq of the Nk keys k, v (B, H, Nk, D), one document a row (heads
    repeated already). `band` narrows the recent keys (a layer's own sliding window) without moving
    the sinks' slots. Returns (B, H, Nq, D)."""
    n_q, n_k = q.shape[2], k.shape[2]
    offset, band = n_k - n_q, min(band or window, window)
    capacity = sinks + window
    out = torch.empty_like(q)
    for a in range(0, n_q, QUERY_CHUNK):
        qc = q[:, :, a : a + QUERY_CHUNK]
        t = torch.arange(offset + a, offset + a + qc.shape[2], device=q.device)  # the queries' tokens
        first, last = int(t[0]), int(t[-1])
        n_sink = min(sinks, last + 1)
        lo, hi = max(sinks, first - band + 1), last + 1
        lo = min(lo, hi)
        s_idx = torch.arange(lo, hi, device=q.device)
        q_sink = rotate_back(qc, (t - (capacity - 1)).clamp(min=0).float(), rotary)  # query moved to its slot
        s_scores = soft_capped((q_sink @ k[:, :, :n_sink].transpose(-1, -2)).float() * scale, softcap)
        b_scores = soft_capped((qc @ k[:, :, lo:hi].transpose(-1, -2)).float() * scale, softcap)
        s_allowed = torch.arange(n_sink, device=q.device)[None, :] <= t[:, None]
        b_allowed = (s_idx[None, :] <= t[:, None]) & (t[:, None] - s_idx[None, :] < band)
        scores = torch.cat([s_scores.masked_fill(~s_allowed, float("-inf")),
                            b_scores.masked_fill(~b_allowed, float("-inf"))], dim=-1)
        weights = torch.softmax(scores, dim=-1).to(v.dtype)
        out[:, :, a : a + QUERY_CHUNK] = (weights[..., :n_sink] @ v[:, :, :n_sink]
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
