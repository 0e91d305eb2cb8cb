"""Perplexity by context length, two ways.

- fixed target: the same target tokens (the last `target_tokens` of a prefix) are scored
  with growing amounts of context before them, so the curve isolates what context adds;
- sliding window: the document is scored window by window with a stride, each token
  predicted from at most `window` tokens of context (as in LongLoRA / YaRN evaluations).
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


@torch.no_grad()
def token_nll(model, ids: torch.Tensor) -> torch.Tensor:
    """NLL of each token given those before it: shape (batch, length - 1)."""
    logits = model(input_ids=ids.to(model.device)).logits.float()
    return F.cross_entropy(logits[:, :-1].transpose(1, 2), ids[:, 1:].to(model.device), reduction="none").cpu()


def fixed_target_perplexity(
    model, docs: list[list[int]], context_lengths: list[int], target_tokens: int, batch_size: int = 4, progress=None
) -> dict[int, float]:
    longest = max(context_lengths)
    usable = [d[:longest] for d in docs if len(d) >= longest]
    if not usable:
        raise ValueError(f"no evaluation document has {longest} tokens")
    out = {}
    for c in context_lengths:
        total, count = 0.0, 0
        for i in range(0, len(usable), batch_size):
            batch = torch.tensor([d[longest - c :] for d in usable[i : i + batch_size]])
            nll = token_nll(model, batch)[:, -target_tokens:]
            total += nll.sum().item()
            count += nll.numel()
        out[c] = math.exp(total / count)
        if progress:
            progress(f"fixed-target perplexity with {c} tokens of context: {out[c]:.3f}")
    return out


def sliding_window_perplexity(model, docs: list[list[int]], window: int, stride: int) -> float:
    """Every token after the first is scored once, from at most `window` tokens of context."""
    total, count = 0.0, 0
    for doc in docs:
        ids = torch.tensor(doc)
        scored_until = 1  # token 0 is never predicted
        for begin in range(0, len(doc), stride):
            end = min(begin + window, len(doc))
            nll = token_nll(model, ids[begin:end][None])[0]  # predicts tokens begin+1 .. end-1
            new = end - scored_until
            if new > 0:
                total += nll[-new:].sum().item()
                count += new
                scored_until = end
            if end == len(doc):
                break
    return math.exp(total / count)
