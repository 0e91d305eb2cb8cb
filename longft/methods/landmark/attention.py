"""Landmark attention as a transformers attention function: the grouped softmax in training, block
retrieval at inference.

Training: landmarks sit at fixed places, since the collator (layout.py) puts one after every
`mem_freq` tokens of each document, so position k of a document (counted from 0) is a landmark
when (k + 1) is a multiple of mem_freq + 1. Which tokens are landmarks and which block each token
is in therefore follow from the document boundaries the batch already carries (one document a row
without them); nothing else travels with the batch. Paths, one meaning (block_bias.py says why the
last two are the same weights):
- `dense`: the grouped softmax over the whole row, memory N² a row;
- `segments`: one document at a time, memory the sum of their squares;
- `chunked`: a chunk of queries at a time against the whole row, each chunk recomputed in the
  backward pass: memory chunk x N, plus a bias per query and block;
- `flex`: flex attention with a block mask and that bias as its score_mod (no backward on the CPU,
  where flex attention has none: its CPU twin is `chunked`).
`auto` is segments while the longest document's scores stay under SEGMENTS_MAX_TOKENS, else chunked.

Inference: with `landmark_memory` (memory.py's BlockMemory) in the forward's kwargs, the chunk of
the current block attends through the block cache (retrieval.py).
"""
from __future__ import annotations

import torch

from ...attention.boundaries import cu_seq_lens, index_in_document, row_starts
from ...attention.masked import allowed_pairs, no_mask
from ...attention.segments import repeat_kv, segment_spans
from .block_bias import RowBlocks, chunked_attention, flex_attention_grouped
from .grouped_softmax import landmark_attention
from .layout import places_at
from .memory import placed_from, turned_to_start
from .retrieval import retrieval_attention

NAME = "longft_landmark"


def landmark_places(starts: torch.Tensor, mem_freq: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(is_landmark, block) per position (B, N) from the documents' first tokens."""
    return places_at(index_in_document(starts), mem_freq)


def dense_path(query, key, value, starts, mem_freq: int, scale: float, kwargs) -> torch.Tensor:
    """The grouped softmax over whole rows; documents kept apart by the allowed pairs."""
    B, _, n, _ = query.shape
    is_landmark, block = landmark_places(starts, mem_freq)
    return landmark_attention(query, key, value, allowed_pairs(B, n, n, query.device, kwargs), block, is_landmark, scale)


def segments_path(query, key, value, starts, mem_freq: int, scale: float, kwargs) -> torch.Tensor:
    """One document at a time, each causal on its own: the same weights, memory per document."""
    out = torch.zeros_like(query)
    B, _, n, _ = query.shape
    for b in range(B):
        edges = torch.nonzero(starts[b]).flatten().tolist() + [n]
        for lo, hi in zip(edges[:-1], edges[1:]):
            is_landmark, block = places_at(torch.arange(hi - lo, device=query.device)[None], mem_freq)
            causal = torch.ones(hi - lo, hi - lo, dtype=torch.bool, device=query.device).tril()[None, None]
            out[b : b + 1, :, lo:hi] = landmark_attention(query[b : b + 1, :, lo:hi], key[b : b + 1, :, lo:hi],
                                                          value[b : b + 1, :, lo:hi], causal, block, is_landmark, scale)
    return out


def chunked_path(query, key, value, starts, mem_freq: int, scale: float, kwargs) -> torch.Tensor:
    return chunked_attention(query, key, value, RowBlocks(starts, mem_freq), scale)


def flex_path(query, key, value, starts, mem_freq: int, scale: float, kwargs) -> torch.Tensor:
    return flex_attention_grouped(query, key, value, RowBlocks(starts, mem_freq), scale)


PATHS = {"dense": dense_path, "segments": segments_path, "chunked": chunked_path, "flex": flex_path}
PATH_CHOICES = ("auto", *PATHS)
SEGMENTS_MAX_TOKENS = 2048  # longer documents take `chunked`, faster and lighter there (benchmarks/landmark_paths.py)


def auto_choice(starts: torch.Tensor) -> str:
    longest = int(segment_spans(starts)[1].max())  # every row opens a document, so no span crosses rows
    return "segments" if longest <= SEGMENTS_MAX_TOKENS else "chunked"


def auto_path(query, key, value, starts, mem_freq: int, scale: float, kwargs) -> torch.Tensor:
    return PATHS[auto_choice(starts)](query, key, value, starts, mem_freq, scale, kwargs)


def cached_attention(module, query, key, value, memory, scale: float) -> torch.Tensor:
    """One chunk of the current block through the block cache; stores the chunk's keys and values."""
    rotary = memory.rotary(module.config, module.layer_idx, query.device)
    lm, bk, bv, ck, cv = memory.layer_state(module.layer_idx, key)
    first = memory.first_position()
    keys0 = torch.cat([ck, turned_to_start(key, first + memory.filled, rotary)], dim=2)
    values = torch.cat([cv, value], dim=2)
    memory.store(module.layer_idx, keys0, values)
    current = torch.cat([placed_from(ck, first, rotary), key], dim=2)  # the block's earlier keys, re-placed
    return retrieval_attention(query, current, values, lm, bk, bv, rotary, scale, memory.block_size, memory.top_k,
                               memory.local_blocks)


def make_landmark_attention(mem_freq: int, path: str = "auto"):
    run = auto_path if path == "auto" else PATHS[path]

    def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        B, H, n, d = query.shape
        scale = scaling if scaling is not None else d ** -0.5
        memory = kwargs.get("landmark_memory")
        if memory is not None:
            return cached_attention(module, query, key, value, memory, scale).transpose(1, 2).contiguous(), None
        if key.shape[2] != n:
            raise NotImplementedError("landmark attention reads a cache only as blocks: use the landmark memory "
                                      "(longft eval's inference model), not a KV cache")
        starts = row_starts(cu_seq_lens(kwargs), B, n, query.device)
        out = run(query, repeat_kv(key, H), repeat_kv(value, H), starts, mem_freq, scale, kwargs)
        return out.transpose(1, 2).contiguous(), None

    return attention


def register(saved: dict, path: str = "auto") -> str:
    """Register the function under NAME (its layout comes from the boundaries: no mask is built)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, make_landmark_attention(saved["mem_freq"], path))
    AttentionMaskInterface.register(NAME, no_mask)
    return NAME
