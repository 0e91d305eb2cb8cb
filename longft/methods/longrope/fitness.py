"""Perplexity of LongRoPE candidates, many per forward pass.

The model is loaded once. A forward hook on its rotary embedding replaces the (cos, sin) it
returns with each batch row's own candidate: rescaled frequencies, the first n̂ positions at the
original frequencies, and LongRoPE's attention scale. Rows of different candidates therefore
share a batch, and for n̂ = 0 the values are those transformers' `longrope` type computes for
long inputs (a test holds the two equal). Documents are tokenized once by the caller.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from ...families.logits import output_head
from .candidates import Candidate, SearchSpace


def longrope_attention_scale(scale: float, window: int) -> float:
    """sqrt(1 + ln s / ln L), as transformers' longrope sets it for a factor s > 1."""
    return math.sqrt(1 + math.log(scale) / math.log(window)) if scale > 1 else 1.0


class CandidateFitness:
    def __init__(self, model, docs: list[list[int]], space: SearchSpace, base_inv_freq: torch.Tensor,
                 attention_scale: float, batch_size: int = 4):
        self.model = model.eval()
        self.docs = torch.tensor(docs, dtype=torch.long)
        self.space = space
        self.base = base_inv_freq.float()
        self.attention_scale = attention_scale
        self.batch_size = batch_size
        self._rows: tuple[torch.Tensor, torch.Tensor] | None = None  # (inv_freq per row, n̂ per row)

    def _rotary_hook(self, module, args, kwargs, output):
        inv_freq, start = self._rows
        position_ids = kwargs["position_ids"] if "position_ids" in kwargs else args[1]
        cos, _ = output
        pos = position_ids.float()[..., None].expand(inv_freq.shape[0], -1, -1)  # (rows, n, 1)
        scaled = pos * inv_freq[:, None, :]
        kept = pos * self.base.to(pos.device)
        freqs = torch.where(pos < start[:, None, None], kept, scaled)
        emb = torch.cat((freqs, freqs), dim=-1)
        return (emb.cos() * self.attention_scale).to(cos.dtype), (emb.sin() * self.attention_scale).to(cos.dtype)

    def _summed_nll(self, hidden: torch.Tensor, ids: torch.Tensor, chunk: int = 4096) -> torch.Tensor:
        """Next-token NLL summed per row, the vocabulary projection taken a chunk of positions at a
        time: full logits of a 128k-token row would not fit in memory."""
        head = output_head(self.model)
        total = torch.zeros(ids.shape[0], device=ids.device)
        for start in range(0, ids.shape[1] - 1, chunk):
            end = min(start + chunk, ids.shape[1] - 1)
            logits = head(hidden[:, start:end]).float()
            total += F.cross_entropy(logits.transpose(1, 2), ids[:, start + 1 : end + 1], reduction="none").sum(-1)
        return total

    @torch.no_grad()
    def __call__(self, candidates: list[Candidate]) -> list[float]:
        """Perplexity of each candidate over all documents (token-weighted)."""
        rows = [(c, d) for c in range(len(candidates)) for d in range(len(self.docs))]
        factors = torch.tensor([self.space.factors(c) for c in candidates], dtype=torch.float32)
        starts = torch.tensor([c.start_tokens for c in candidates], dtype=torch.float32)
        nll = torch.zeros(len(candidates), dtype=torch.float64)
        count = torch.zeros(len(candidates), dtype=torch.float64)
        device = self.model.device
        rotary = self.model.get_decoder().rotary_emb
        handle = rotary.register_forward_hook(self._rotary_hook, with_kwargs=True)
        try:
            for i in range(0, len(rows), self.batch_size):
                chunk = rows[i : i + self.batch_size]
                which = torch.tensor([c for c, _ in chunk])
                ids = self.docs[[d for _, d in chunk]].to(device)
                self._rows = ((self.base / factors[which]).to(device), starts[which].to(device))
                hidden = self.model.get_decoder()(input_ids=ids, use_cache=False).last_hidden_state
                nll.index_add_(0, which, self._summed_nll(hidden, ids).double().cpu())
                count.index_add_(0, which, torch.full((len(chunk),), float(ids.shape[1] - 1), dtype=torch.float64))
        finally:
            handle.remove()
            self._rows = None
        return torch.exp(nll / count).tolist()
