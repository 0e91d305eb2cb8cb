"""Landmark attention as a transformers attention function, for training and full-sequence scoring.

Landmarks sit at fixed places: the collator puts one after every `mem_freq` tokens of each
document, so position k of a document (counted from 0) is a landmark when (k + 1) is a multiple of
mem_freq + 1. Which tokens are landmarks and which block each token is in therefore follow from
the document boundaries the batch already carries (one document a row without them); nothing
else travels with the batch. Dense over the allowed pairs: memory N² a row, the training lengths'
path (retrieval from a block cache is the inference path).
"""
from __future__ import annotations

import torch

from ...attention.boundaries import cu_seq_lens, document_starts, index_in_document
from ...attention.masked import allowed_pairs, no_mask
from ...attention.segments import repeat_kv
from .grouped_softmax import landmark_attention

NAME = "longft_landmark"


def landmark_places(starts: torch.Tensor, mem_freq: int) -> tuple[torch.Tensor, torch.Tensor]:
    """(is_landmark, block) per position (B, N) from the documents' first tokens."""
    k = index_in_document(starts)
    return (k + 1) % (mem_freq + 1) == 0, k // (mem_freq + 1)


def make_landmark_attention(mem_freq: int):
    def attention(module, query, key, value, attention_mask, scaling=None, dropout=0.0, **kwargs):
        B, H, n, d = query.shape
        if key.shape[2] != n:
            raise NotImplementedError("landmark attention over a KV cache is the block-retrieval inference path")
        cu = cu_seq_lens(kwargs)
        if cu is not None:
            starts = document_starts(cu, B, n, query.device)
        else:  # one document a row
            starts = torch.zeros(B, n, dtype=torch.bool, device=query.device)
            starts[:, 0] = True
        is_landmark, block = landmark_places(starts, mem_freq)
        key, value = repeat_kv(key, H), repeat_kv(value, H)
        scale = scaling if scaling is not None else d ** -0.5
        out = landmark_attention(query, key, value, allowed_pairs(B, n, n, query.device, kwargs), block, is_landmark, scale)
        return out.transpose(1, 2).contiguous(), None

    return attention


def register(mem_freq: int) -> str:
    """Register the function under NAME (its layout comes from the boundaries: no mask is built)."""
    from transformers import AttentionInterface
    from transformers.masking_utils import AttentionMaskInterface

    AttentionInterface.register(NAME, make_landmark_attention(mem_freq))
    AttentionMaskInterface.register(NAME, no_mask)
    return NAME
