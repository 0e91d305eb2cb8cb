"""The grouped softmax as one softmax with a bias per query and earlier block: what lets it run
without N² memory (a chunk of queries at a time in torch, or flex attention with a block mask).

For a query i and a token j of an earlier block b, grouped_softmax.py's weight is
exp(s[i, j] + s[i, lm_b] - lse_b(i) - LSE_top(i)). The term c[i, b] = s[i, lm_b] - lse_b(i) depends on
the query and the block only, and the tokens of block b sum exp(s[i, j] + c[i, b]) to exp(s[i, lm_b]).
So an ordinary softmax over the non-landmark keys a query sees, with c[i, b] added to the scores of
earlier blocks, is normalised by exactly LSE_top and gives the grouped softmax's weights. c needs
each block's log-sum-exp per query: (B, H, N, G) for G blocks in a row, computed a chunk of queries
at a time; in training each chunk is recomputed in the backward pass, so no chunk's scores are kept.

Blocks are numbered along the row (RowBlocks): every block of every document has its own number,
so one index per key names its block across packed documents.
"""
from __future__ import annotations

import functools

import torch
from torch.utils.checkpoint import checkpoint

from ...attention.boundaries import document_ids, index_in_document
from .layout import places_at

NEG = float("-inf")
CHUNK_SCORES = 1 << 21  # query x key scores one chunk holds per head: chunk length x N


class RowBlocks:
    """Where each position of a row sits, all (B, N): its document, its block numbered along the
    row, whether it is a landmark; and landmark_at (B, G), the position closing each block."""

    def __init__(self, starts: torch.Tensor, mem_freq: int):
        self.size = mem_freq + 1
        self.doc = document_ids(starts)
        k = index_in_document(starts)
        self.is_landmark = places_at(k, mem_freq)[0]
        self.doc_first = torch.arange(starts.shape[-1], device=starts.device) - k  # each position's document start
        after_landmark = torch.roll(self.is_landmark, 1, -1)
        after_landmark[:, 0] = False
        self.block = torch.cumsum((starts | after_landmark).long(), dim=-1) - 1  # a new block: a document's
        self.count = int(self.block.max()) + 1  # first token, or the token after a landmark
        pos = torch.arange(starts.shape[-1], device=starts.device).expand_as(self.block)
        self.landmark_at = torch.zeros(starts.shape[0], self.count, dtype=torch.long, device=starts.device).scatter_reduce(
            -1, self.block, torch.where(self.is_landmark, pos, torch.zeros_like(pos)), reduce="amax")

    def keys_for(self, lo: int) -> int:
        """The first key any query from lo on can see: none before the earliest of their documents'
        starts (the query lo's, documents running in order); causal, none past the last query."""
        return int(self.doc_first[:, lo].min())

    def query_rows(self, lo: int, hi: int, klo: int):
        """For queries lo..hi against keys klo..hi: (current, earlier), each (B, 1, c, hi - klo)
        bool. A query sees a key that is causal, in its document and not a landmark; current: one
        it sees in its own block; earlier: one it sees in an earlier block."""
        qi = torch.arange(lo, hi, device=self.block.device)[:, None]
        ki = torch.arange(klo, hi, device=self.block.device)[None, :]
        sees = (ki <= qi)[None] & (self.doc[:, lo:hi, None] == self.doc[:, None, klo:hi]) & ~self.is_landmark[:, None, klo:hi]
        same = self.block[:, lo:hi, None] == self.block[:, None, klo:hi]
        return (sees & same)[:, None], (sees & ~same)[:, None]


def chunk_length(n: int, block: int) -> int:
    """Queries per chunk: CHUNK_SCORES / N of them, at least one block."""
    return max(block, CHUNK_SCORES // max(n, 1))


def _bias(s: torch.Tensor, earlier: torch.Tensor, rows: RowBlocks, klo: int) -> torch.Tensor:
    """c[i, b] = s[i, lm_b] - lse_b(i) for a chunk's scores s (B, H, c, keys from klo) (fp32):
    (B, H, c, G). Blocks outside the keys are no query's earlier blocks; their c is never read."""
    B, H, c, m = s.shape
    index = rows.block[:, None, None, klo:klo + m].expand_as(s)
    masked = s.masked_fill(~earlier, NEG)
    peak = torch.full((B, H, c, rows.count), NEG, dtype=s.dtype, device=s.device).scatter_reduce(
        -1, index, masked, reduce="amax", include_self=True)
    peak = torch.where(torch.isinf(peak), torch.zeros_like(peak), peak).detach()
    total = torch.zeros_like(peak).scatter_add(-1, index, torch.exp(masked - peak.gather(-1, index)))
    # a block no query of the chunk sees as earlier gets a neutral log 1, never read
    lse = peak + torch.log(torch.where(total > 0, total, torch.ones_like(total)))
    where = (rows.landmark_at - klo).clamp(0, m - 1)
    at_landmark = s.gather(-1, where[:, None, None, :].expand(B, H, c, rows.count))
    return at_landmark - lse


def _chunk_scores(q, k, lo, hi, klo, scale):
    s = torch.matmul(q[:, :, lo:hi], k[:, :, klo:hi].transpose(-1, -2)) * scale
    return s.float() if s.dtype in (torch.float16, torch.bfloat16) else s  # exp in fp32 at least


def _chunk_output(q, k, v, rows: RowBlocks, lo: int, hi: int, scale: float) -> torch.Tensor:
    klo = rows.keys_for(lo)
    s = _chunk_scores(q, k, lo, hi, klo, scale)
    current, earlier = rows.query_rows(lo, hi, klo)
    spread = s + _bias(s, earlier, rows, klo).gather(-1, rows.block[:, None, None, klo:hi].expand_as(s))
    logits = torch.where(current, s, torch.where(earlier, spread, torch.full_like(s, NEG)))
    return torch.matmul(torch.softmax(logits, dim=-1).to(v.dtype), v[:, :, klo:hi])


def _chunk_bias(q, k, rows: RowBlocks, lo: int, hi: int, scale: float) -> torch.Tensor:
    klo = rows.keys_for(lo)
    s = _chunk_scores(q, k, lo, hi, klo, scale)
    return _bias(s, rows.query_rows(lo, hi, klo)[1], rows, klo)


def _by_chunks(fn, q, k, *rest, rows: RowBlocks, scale: float) -> torch.Tensor:
    n = q.shape[2]
    step = chunk_length(n, rows.size)
    parts = []
    for lo in range(0, n, step):
        hi = min(n, lo + step)
        if torch.is_grad_enabled() and q.requires_grad:
            parts.append(checkpoint(fn, q, k, *rest, rows, lo, hi, scale, use_reentrant=False))
        else:
            parts.append(fn(q, k, *rest, rows, lo, hi, scale))
    return torch.cat(parts, dim=2)


def chunked_attention(query, key, value, rows: RowBlocks, scale: float) -> torch.Tensor:
    """(B, H, N, D) -> (B, H, N, D) under the grouped softmax, a chunk of queries at a time."""
    return _by_chunks(_chunk_output, query, key, value, rows=rows, scale=scale)


def block_bias(query, key, rows: RowBlocks, scale: float) -> torch.Tensor:
    """c (B, H, N, G): what each query adds to the scores of each earlier block's tokens."""
    return _by_chunks(_chunk_bias, query, key, rows=rows, scale=scale)


def flex_attention_grouped(query, key, value, rows: RowBlocks, scale: float) -> torch.Tensor:
    """The same weights through flex attention: the block mask keeps the keys a query sees, the
    score_mod adds its block's bias to an earlier block's scores (it is differentiable: flex
    attention carries gradients into a captured tensor)."""
    from torch.nn.attention.flex_attention import create_block_mask, flex_attention

    B, H, n, _ = query.shape
    bias = block_bias(query, key, rows, scale)
    doc, block, is_landmark = rows.doc, rows.block, rows.is_landmark

    def mask_mod(b, h, qi, ki):
        return (ki <= qi) & (doc[b, qi] == doc[b, ki]) & ~is_landmark[b, ki]

    def score_mod(score, b, h, qi, ki):
        kb = block[b, ki]
        return torch.where(kb == block[b, qi], score, score + bias[b, h, qi, kb])

    mask = create_block_mask(mask_mod, B, None, n, n, device=query.device)
    run = _compiled(flex_attention) if query.is_cuda else flex_attention  # uncompiled, it writes out N² scores
    return run(query, key, value, score_mod=score_mod, block_mask=mask, scale=scale)


@functools.lru_cache(maxsize=None)
def _compiled(fn):
    return torch.compile(fn, dynamic=False)
