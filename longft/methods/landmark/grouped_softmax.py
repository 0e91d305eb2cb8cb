"""Landmark attention's grouped softmax (Mohtashami & Jaggi 2023), the training-time attention.

The sequence is cut into blocks; a landmark token closes each full block. A query in block q
shares one softmax between the keys of its own block (landmarks excluded) and the landmarks of
the earlier blocks it can see; the weight a landmark gets is then spread over its block's tokens by
a softmax within that block. So for a key j of an earlier block b:

    w[i, j] = softmax_top(i)[landmark of b] * softmax_within_b(i)[j]

and landmarks carry no value of their own. Written in log space: w = exp(A - LSE_top) with
A[i, j] = s[i, j] for the query's block and s[i, j] + s[i, lm_b] - lse_b(i) for an earlier block,
so autograd gives the exact gradient. Which keys a query may see at all (causal, the same
document) is the caller's `allowed` mask: documents never see each other's blocks or landmarks.
"""
from __future__ import annotations

import torch

NEG = float("-inf")


def block_layout(is_landmark: torch.Tensor, doc_start: torch.Tensor) -> torch.Tensor:
    """Block index of each position (B, N): counted from each document's start, a landmark in the
    block it closes. `doc_start` is True at each document's first token."""
    closes = is_landmark.long()
    before = torch.cumsum(closes, dim=-1) - closes  # landmarks strictly before j, over the row
    # subtract the count at the start of each position's document
    start_count = torch.where(doc_start, before, torch.zeros_like(before))
    start_count = torch.cummax(start_count, dim=-1).values
    return before - start_count


def closing_landmark(is_landmark: torch.Tensor) -> torch.Tensor:
    """For each position (B, N), the position of the next landmark at or after it: the one that
    closes its block (itself for a landmark; itself where no landmark follows). A document's unclosed
    last block points past its end; no query counts that block as an earlier one, so it never groups."""
    n = is_landmark.shape[-1]
    pos = torch.arange(n, device=is_landmark.device).expand_as(is_landmark)
    marks = torch.where(is_landmark, pos, torch.full_like(pos, n))
    after = torch.flip(torch.cummin(torch.flip(marks, [-1]), dim=-1).values, [-1])  # next landmark at or after j
    return torch.where(after < n, after, pos)


def grouped_softmax_weights(scores: torch.Tensor, allowed: torch.Tensor, block: torch.Tensor,
                            is_landmark: torch.Tensor) -> torch.Tensor:
    """Attention weights (B, H, N, N) from scores (B, H, N, N), queries and keys the same positions.

    allowed (B, 1 or H, N, N) bool: which keys each query may see (causal and within its document);
    block (B, N): block_layout's index; is_landmark (B, N) bool."""
    qb = block[:, None, :, None]
    kb = block[:, None, None, :]
    lm = is_landmark[:, None, None, :]
    current = allowed & (kb == qb) & ~lm
    earlier = allowed & (kb < qb)
    landmarks = earlier & lm
    tokens = earlier & ~lm

    s = scores.float() if scores.dtype in (torch.float16, torch.bfloat16) else scores  # exp in fp32 at least
    # each key's block: its closing landmark's position; log-sum-exp of an earlier block's tokens
    # per query, grouped by that position
    index = closing_landmark(is_landmark)[:, None, None, :].expand_as(s)
    masked = s.masked_fill(~tokens, NEG)
    peak = torch.full_like(s, NEG).scatter_reduce(-1, index, masked, reduce="amax", include_self=True)
    peak = torch.where(torch.isinf(peak), torch.zeros_like(peak), peak).detach()
    total = torch.zeros_like(s).scatter_add(-1, index, torch.exp(masked - peak.gather(-1, index)))
    # empty groups and queries that see nothing get a neutral 1 / 0 in place of log 0 and -inf, so
    # that no inf reaches a gradient through the branch torch.where does not take
    lse_block = (peak + torch.log(torch.where(total > 0, total, torch.ones_like(total)))).gather(-1, index)
    top = torch.logsumexp(s.masked_fill(~(current | landmarks), NEG), dim=-1, keepdim=True)
    top = torch.where(torch.isinf(top), torch.zeros_like(top), top)
    spread = s + s.gather(-1, index) - lse_block  # + the closing landmark's score
    logits = torch.where(current, s, torch.where(tokens, spread, torch.full_like(s, NEG)))
    return torch.exp(logits - top).to(scores.dtype)


def landmark_attention(query: torch.Tensor, key: torch.Tensor, value: torch.Tensor, allowed: torch.Tensor,
                       block: torch.Tensor, is_landmark: torch.Tensor, scaling: float) -> torch.Tensor:
    """(B, H, N, D) queries, keys, values (keys and values already repeated for grouped-query
    heads) -> (B, H, N, D) outputs under the grouped softmax."""
    scores = torch.matmul(query, key.transpose(-1, -2)) * scaling
    return torch.matmul(grouped_softmax_weights(scores, allowed, block, is_landmark).to(value.dtype), value)
