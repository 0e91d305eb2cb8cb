"""Causal attention inside segments of a sequence (documents, or S²-Attn's groups).

Segments of one length are gathered into one SDPA batch, so the work and memory are the sum
of segment² — linear in N for bounded segments — never a dense N x N mask.
"""
from __future__ import annotations

import torch
import torch.nn.functional as F


def segment_spans(starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Flat start indices and lengths of the segments, over the batch flattened row by row."""
    flat = starts.flatten().nonzero().flatten()
    ends = torch.cat([flat[1:], torch.tensor([starts.numel()], device=starts.device)])
    return flat, ends - flat


def repeat_kv(x: torch.Tensor, heads: int) -> torch.Tensor:
    return x if x.shape[1] == heads else x.repeat_interleave(heads // x.shape[1], dim=1)


def sdpa_in_segments(q, k, v, starts, scale):
    """Causal attention inside each segment. Segments of one length are gathered into one
    batch, so the work is the sum of segment² (N*G), never N*N."""
    B, h, N, D = q.shape
    fq, fk, fv = (x.transpose(1, 2).reshape(B * N, h, D) for x in (q, k, v))
    first, lengths = segment_spans(starts)
    out = torch.empty_like(fq)
    for length in lengths.unique().tolist():
        chosen = first[lengths == length]
        count, begin = len(chosen), int(chosen[0])
        if int(chosen[-1]) - begin == (count - 1) * length:  # one contiguous run: views, no gather
            run = slice(begin, begin + count * length)
            o = F.scaled_dot_product_attention(
                *(x[run].view(count, length, h, D).transpose(1, 2) for x in (fq, fk, fv)), is_causal=True, scale=scale
            )
            out[run] = o.transpose(1, 2).reshape(count * length, h, D)
            continue
        idx = chosen[:, None] + torch.arange(length, device=q.device)
        o = F.scaled_dot_product_attention(
            fq[idx].transpose(1, 2), fk[idx].transpose(1, 2), fv[idx].transpose(1, 2), is_causal=True, scale=scale
        )
        out[idx] = o.transpose(1, 2).to(out.dtype)  # autocast gives bf16 here; the slice branch casts on copy
    return out.view(B, N, h, D).transpose(1, 2)
