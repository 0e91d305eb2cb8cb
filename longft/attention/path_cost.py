"""What keeping documents apart costs on each path, from the batch's document lengths (known when the
batch is built), so that `path: auto` takes the cheaper one.

In units of one causal query-key pair of the segments path (forward and backward, measured on the CPU
at 4 heads x 64 through the path itself; benchmarks/document_paths.py prints the figures again):
- `dense` computes every pair of the row under a boolean mask: about 1.0 unit per N² pair;
- `segments` computes each document's causal pairs, L(L+1)/2, in one SDPA call per distinct
  document length; a call has a fixed cost of about 0.6 ms with its backward (~15,000 pairs at
  4 x 64, less where heads x head_dim is larger: a pair costs more, the call the same), and documents
  of one length that are not one contiguous run are gathered, ~125 pairs a token.
Dense wins only where the rows are short and cut into many documents of many lengths; it stays
capped by `dense_mask_max_tokens` for its N² memory.
"""
from __future__ import annotations

import torch

DENSE_PAIR_COST = 1.0  # dense per N² pair, in causal pairs
CALL_COST_PAIRS_AT_256 = 15000.0  # one SDPA call's fixed cost, in causal pairs at heads x head_dim = 256
GATHER_COST_PAIRS = 125.0  # a token of a length shared by several documents, gathered and scattered back


def costs(cu: torch.Tensor, batch: int, seq_len: int, heads: int, head_dim: int) -> dict[str, float]:
    """Estimated cost of each path for one batch, from its document offsets `cu`."""
    lengths = (cu[1:] - cu[:-1]).to(torch.float64)
    lengths = lengths[lengths > 0]
    distinct, counts = torch.unique(lengths, return_counts=True)
    call = CALL_COST_PAIRS_AT_256 * 256 / max(1, heads * head_dim)
    shared = float((distinct * counts)[counts > 1].sum())  # at most these are gathered
    return {"dense": DENSE_PAIR_COST * batch * seq_len * seq_len,
            "segments": float((lengths * (lengths + 1) / 2).sum()) + len(distinct) * call + shared * GATHER_COST_PAIRS}


def cheaper_path(cu: torch.Tensor, batch: int, seq_len: int, heads: int, head_dim: int, dense_max_tokens: int) -> str:
    if seq_len > dense_max_tokens:
        return "segments"
    estimate = costs(cu, batch, seq_len, heads, head_dim)
    return "dense" if estimate["dense"] < estimate["segments"] else "segments"
