"""Landmark attention at inference: the current block attends to itself and to blocks retrieved
from a cache by their landmarks' scores.

The cache holds each finished block's keys turned back to position 0 (and its values), one
block of mem_freq + 1 tokens at a time, the landmark last. For each query and head:
- every retrievable block's landmark is scored against the query, all at one position (the first
  slot's landmark), so no block is preferred for being near; the `top_k` best are retrieved;
- the last `local_blocks` finished blocks are always kept, not counted in top_k;
- the kept blocks, in their original order, are re-positioned at compacted positions: slot j holds
  positions j(mem_freq + 1) .. j(mem_freq + 1) + mem_freq, and the current block follows them, so
  every distance stays within what training saw (the paper re-applies RoPE the same way);
- the weights are the training-time grouped softmax over the kept blocks and the current block.
Landmarks are scored in float64, near-ties going to the more recent block (select_blocks).
With top_k covering every block the slots are the blocks' own positions, and the attention is
exactly the training-time one (a test holds the two equal).
"""
from __future__ import annotations

import torch

from ...attention.rope_angles import rotate_back

NEG = float("-inf")
RECENCY_STEP = 1e-5  # added to a block's landmark score per block it is nearer (score units)


def slot_count(blocks: int, top_k: int, local_blocks: int) -> int:
    """How many finished blocks a query attends to when `blocks` are in the cache."""
    local = min(local_blocks, blocks)
    return min(top_k, blocks - local) + local


def select_blocks(landmark_scores: torch.Tensor, top_k: int, blocks: int, local_blocks: int) -> torch.Tensor:
    """landmark_scores (..., R): each retrievable block's landmark score (R = blocks - local) ->
    the kept blocks' indices (..., slots), ascending: the top_k best, then the local ones.

    Near-ties go to the more recent block. The first layer's landmark keys are one token's key,
    equal but for rounding, so without this its choice would turn on rounding (which differs with
    how many queries share a product): a step far above rounding, far below a real difference."""
    local = min(local_blocks, blocks)
    retrievable = blocks - local
    lead = landmark_scores.shape[:-1]
    chosen = landmark_scores.new_zeros(*lead, 0, dtype=torch.long)
    if retrievable and top_k:
        recency = torch.arange(retrievable, device=landmark_scores.device, dtype=torch.float64) * RECENCY_STEP
        chosen = (landmark_scores.double() + recency).topk(min(top_k, retrievable), dim=-1).indices.sort(dim=-1).values
    near = torch.arange(retrievable, blocks, device=landmark_scores.device).expand(*lead, local)
    return torch.cat([chosen, near], dim=-1)


def at_slots(keys0: torch.Tensor, rotary, block_size: int) -> torch.Tensor:
    """keys at position 0 (..., S, T, D) -> rotated to slot j's positions j*T + t."""
    slots = keys0.shape[-3]
    positions = torch.arange(slots * block_size, device=keys0.device).view(slots, block_size).float()
    return rotate_back(keys0, -positions, rotary)


def retrieval_attention(query, cur_key, cur_value, landmarks0, blocks_key0, blocks_value, rotary, scaling: float,
                        block_size: int, top_k: int, local_blocks: int) -> torch.Tensor:
    """One chunk of queries of the current block -> (B, H, c, D).

    query (B, H, c, D): rotated at their compacted positions. Everything else has the model's kv
    heads, Hkv dividing H (query head h reads kv head h // (H / Hkv)), so a grouped-query model's
    cache is never repeated per query head: only the selected blocks are gathered. cur_key /
    cur_value (B, Hkv, n, D): the current block's keys so far (this chunk's last), rotated likewise;
    a block's landmark, its last token, is never a key of its own block. blocks_key0 / blocks_value
    (B, Hkv, M, T, D): the finished blocks, keys at position 0, T = block_size = mem_freq + 1,
    landmark last (M may be 0), on any device (the CPU, where the cache is kept off the accelerator);
    landmarks0 (B, Hkv, M, D): their landmarks' keys at position 0, on the queries' device (they are
    scored for every query)."""
    B, H, c, D = query.shape
    Hkv, n = cur_key.shape[1], cur_key.shape[2]
    G = H // Hkv
    q = query.float().view(B, Hkv, G, c, D)  # query heads grouped under their kv head
    s_cur = (q @ cur_key.float()[:, :, None].transpose(-1, -2)) * scaling  # (B, Hkv, G, c, n)
    offset = n - c  # the chunk's first query is key `offset` of the block
    causal = torch.arange(n, device=q.device)[None, :] <= (offset + torch.arange(c, device=q.device))[:, None]
    own_landmark = (torch.arange(n, device=q.device) == block_size - 1)[None, :]
    M, T = landmarks0.shape[2], block_size
    s_cur = s_cur.masked_fill(~causal | own_landmark, NEG)
    cur_v = cur_value[:, :, None]  # (B, Hkv, 1, n, D)
    if M == 0:
        return (torch.softmax(s_cur, dim=-1).to(cur_value.dtype) @ cur_v).view(B, H, c, D)
    local = min(local_blocks, M)
    retrievable = M - local
    # score every retrievable landmark at slot 0's landmark position
    lm_keys = rotate_back(landmarks0[:, :, :retrievable], torch.tensor(-(T - 1.0), device=q.device), rotary)
    retrieval_scores = q.double() @ lm_keys.double()[:, :, None].transpose(-1, -2) * scaling  # (B, Hkv, G, c, R)
    chosen = select_blocks(retrieval_scores, top_k, M, local_blocks)  # (B, Hkv, G, c, S)
    S = chosen.shape[-1]
    index = chosen[..., None, None].expand(B, Hkv, G, c, S, T, D).to(blocks_key0.device)
    cache_view = (B, Hkv, G, c, M, T, D)  # a view of the cache per query: nothing is copied before the gather
    keys = torch.gather(blocks_key0[:, :, None, None].expand(cache_view), 4, index).to(q.device)
    values = torch.gather(blocks_value[:, :, None, None].expand(cache_view), 4, index).to(q.device)
    keys = at_slots(keys, rotary, T)
    s_mem = torch.einsum("bkgcd,bkgcstd->bkgcst", q, keys.float()) * scaling  # (B, Hkv, G, c, S, T)
    lm_scores, tok_scores = s_mem[..., T - 1], s_mem[..., : T - 1]
    top = torch.logsumexp(torch.cat([s_cur, lm_scores], dim=-1), dim=-1, keepdim=True)
    w_cur = torch.exp(s_cur - top)
    w_blocks = torch.exp(lm_scores - top)[..., None] * torch.softmax(tok_scores, dim=-1)  # (B, Hkv, G, c, S, T-1)
    out = w_cur.to(cur_value.dtype) @ cur_v
    out = out + torch.einsum("bkgcst,bkgcstd->bkgcd", w_blocks.to(values.dtype), values[..., : T - 1, :])
    return out.view(B, H, c, D)
