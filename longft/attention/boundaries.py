"""Document boundaries as the batch carries them, in the form each attention path needs.

The collator sends `cu_seq_lens_q` / `cu_seq_lens_k` (transformers' and flash-attn's varlen
convention: cumulative document lengths over the batch flattened row by row, every row
boundary a document boundary) and `max_length_q` / `max_length_k`. Position ids only say
where a token is; which document it belongs to comes from here and nowhere else, so a
position scheme with gaps inside a document (PoSE, randomized) keeps the document whole.
"""
from __future__ import annotations

import torch


def cu_seq_lens(kwargs: dict) -> torch.Tensor | None:
    """The offsets as a tensor. Under sequence parallelism they travel as a list of ints, which
    DeepSpeed's batch sharding hands to every rank whole (it cuts every tensor along the sequence)."""
    cu = kwargs.get("cu_seq_lens_q")
    return torch.tensor(cu, dtype=torch.int32) if isinstance(cu, (list, tuple)) else cu


def document_starts(cu: torch.Tensor, batch: int, seq_len: int, device) -> torch.Tensor:
    """(batch, seq_len) bool, True at each document's first token."""
    starts = torch.zeros(batch * seq_len, dtype=torch.bool, device=device)
    starts[cu[:-1].to(device=device, dtype=torch.long)] = True
    return starts.view(batch, seq_len)


def row_starts(cu: torch.Tensor | None, batch: int, seq_len: int, device) -> torch.Tensor:
    """document_starts from the offsets, or one document a row where the batch carries none."""
    if cu is not None:
        return document_starts(cu, batch, seq_len, device)
    starts = torch.zeros(batch, seq_len, dtype=torch.bool, device=device)
    starts[:, 0] = True
    return starts


def document_ids(starts: torch.Tensor) -> torch.Tensor:
    """(batch, seq_len) long: the same number for every token of one document."""
    return starts.long().flatten().cumsum(0).view(starts.shape)


def index_in_document(starts: torch.Tensor) -> torch.Tensor:
    """(batch, seq_len) long: 0 at each document's first token, counting up inside it."""
    flat = starts.flatten()
    idx = torch.arange(flat.numel(), device=flat.device)
    last_start = torch.cummax(torch.where(flat, idx, torch.zeros_like(idx)), dim=0).values
    return (idx - last_start).view(starts.shape)


def dense_document_mask(starts: torch.Tensor) -> torch.Tensor:
    """(batch, 1, N, N) bool: causal and inside one document. Memory N² per row: short lengths only."""
    ids = document_ids(starts)
    n = starts.shape[1]
    causal = torch.ones(n, n, dtype=torch.bool, device=starts.device).tril()
    return ((ids[:, :, None] == ids[:, None, :]) & causal)[:, None]


def cu_seq_lens_from_doc_lens(rows: list[list[int]], device=None) -> torch.Tensor:
    """Every row's document lengths (padding included, summing to the row length) -> int32 offsets."""
    lengths = torch.tensor([n for row in rows for n in row], dtype=torch.int32, device=device)
    return torch.cat([torch.zeros(1, dtype=torch.int32, device=device), lengths.cumsum(0, dtype=torch.int32)])
