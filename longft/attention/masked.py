"""Shared by the attention methods that change what a query sees or how sharply (log-n, window,
hybrid): the batch's layout as one tensor of allowed (query, key) pairs, and attention over it.

Works in training (packed rows, boundaries from the batch), in evaluation (one document a row)
and in generation with a KV cache (queries are the last q_len of kv_len positions).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from .boundaries import cu_seq_lens, document_ids, document_starts
from .segments import repeat_kv


def layer_window(kwargs: dict, window: int | None = None) -> int | None:
    """The tighter of a method's window and the layer's own (`sliding_window`, which transformers
    passes to a sliding layer's attention: Mistral, Gemma 2/3, EXAONE 4 ...); None for neither."""
    own = kwargs.get("sliding_window")
    windows = [w for w in (window, own) if w]
    return min(windows) if windows else None


def allowed_pairs(batch: int, q_len: int, kv_len: int, device, kwargs: dict, window: int | None = None) -> torch.Tensor:
    """(batch, 1, q_len, kv_len) bool: causal, inside one document, and within `window` keys (and
    within the layer's own sliding window)."""
    window = layer_window(kwargs, window)
    offset = kv_len - q_len
    qi = torch.arange(q_len, device=device)[:, None] + offset
    ki = torch.arange(kv_len, device=device)[None, :]
    allowed = ki <= qi
    if window is not None:
        allowed = allowed & (qi - ki < window)
    allowed = allowed[None].expand(batch, -1, -1)
    cu = cu_seq_lens(kwargs)
    if cu is not None and q_len == kv_len:
        ids = document_ids(document_starts(cu, batch, kv_len, device))
        allowed = allowed & (ids[:, :, None] == ids[:, None, :])
    return allowed[:, None]


def mask_unless_causal(batch: int, q_len: int, kv_len: int, device, kwargs: dict,
                       window: int | None = None) -> torch.Tensor | None:
    """allowed_pairs, or None where SDPA's own causal rule says the same: no documents, no window,
    and the queries are the whole sequence (evaluation, prefill) or its newest token (decoding).
    At 16k tokens the dense mask is 256 MB that SDPA must read, and it keeps SDPA from skipping
    the blocks above the diagonal."""
    plain = layer_window(kwargs, window) is None and (q_len == 1 or (q_len == kv_len and cu_seq_lens(kwargs) is None))
    return None if plain else allowed_pairs(batch, q_len, kv_len, device, kwargs, window)


def query_positions(kwargs: dict, batch: int, q_len: int, kv_len: int, device) -> torch.Tensor:
    """(batch, q_len) positions of the queries: the batch's position ids, else counted in the cache."""
    pos = kwargs.get("position_ids")
    if pos is not None and pos.shape[-1] == q_len:
        return pos.to(device).expand(batch, -1)
    return (torch.arange(q_len, device=device) + kv_len - q_len).expand(batch, -1)


def key_positions(kwargs: dict, batch: int, kv_len: int, device) -> torch.Tensor:
    """(batch, kv_len) positions of the keys: the batch's position ids, else a cache's keys at 0..kv_len-1."""
    pos = kwargs.get("position_ids")
    if pos is not None and pos.shape[-1] == kv_len:
        return pos.to(device).expand(batch, -1)
    return torch.arange(kv_len, device=device).expand(batch, -1)


def logn_factor(positions: torch.Tensor, base: int) -> torch.Tensor:
    """max(1, log n / log L) for the query at position n (counted from 1), L the trained length."""
    n = (positions + 1).clamp(min=1).float()
    return torch.clamp(torch.log(n) / math.log(base), min=1.0)


def soft_capped(scores: torch.Tensor, softcap: float | None) -> torch.Tensor:
    """Gemma 2's soft cap on attention logits (cap * tanh(logits / cap)); the logits as they are without one."""
    return torch.tanh(scores / softcap) * softcap if softcap else scores


def scored_attention(query, key, value, allowed, scaling, softcap: float | None = None) -> torch.Tensor:
    """Attention of (B, H, N, D) queries over keys and values with as many heads, over the allowed
    pairs; with a soft cap (Gemma 2: logits -> cap * tanh(logits / cap) before the mask) the scores
    are written out, as the family's eager attention does. Returns (B, H, N, D)."""
    if not softcap:
        return F.scaled_dot_product_attention(query, key, value, attn_mask=allowed, scale=scaling)
    scale = scaling if scaling is not None else query.shape[-1] ** -0.5
    scores = soft_capped((query @ key.transpose(-1, -2)).float() * scale, softcap)
    scores = scores.masked_fill(~allowed, float("-inf"))
    return torch.softmax(scores, dim=-1).to(value.dtype) @ value


def causal_attention(query, key, value, scaling) -> torch.Tensor:
    """What `mask_unless_causal` returns None for: causal over the square, or every key for one
    newest query; SDPA groups the KV heads itself (enable_gqa), so they are not repeated."""
    q_len, kv_len = query.shape[2], key.shape[2]
    return F.scaled_dot_product_attention(query, key, value, is_causal=q_len == kv_len and q_len > 1,
                                          scale=scaling, enable_gqa=key.shape[1] != query.shape[1])


def attend(query, key, value, allowed, scaling, query_scale: torch.Tensor | None = None, softcap: float | None = None):
    """Attention over the allowed pairs (None: causal, see `mask_unless_causal`); `query_scale`
    (batch, q_len) multiplies each query's logits (before a soft cap, as a sharper query would).
    Returns (B, N, H, D), the layout transformers expects back."""
    if query_scale is not None:
        query = query * query_scale[:, None, :, None].to(query.dtype)
    if allowed is None and not softcap:
        return causal_attention(query, key, value, scaling).transpose(1, 2).contiguous()
    if allowed is None:  # the soft cap writes the scores out, over the causal pairs
        allowed = allowed_pairs(query.shape[0], query.shape[2], key.shape[2], query.device, {})
    heads = query.shape[1]
    key, value = repeat_kv(key, heads), repeat_kv(value, heads)
    return scored_attention(query, key, value, allowed, scaling, softcap).transpose(1, 2).contiguous()


def no_mask(*args, **kwargs):
    """These methods build their own masks from the batch; transformers need not."""
    return None
