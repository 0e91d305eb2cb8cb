"""Perplexity by context length, two ways.

- fixed target: the same target tokens (the last `target_tokens` of a prefix) are scored
  with growing amounts of context before them, so the curve isolates what context adds;
- sliding window: the document is scored window by window with a stride, each token
  predicted from at most `window` tokens of context (as in LongLoRA / YaRN evaluations).

Only the scored positions' logits are made (transformers' `logits_to_keep`), and a batch holds at
most `BATCH_TOKENS` tokens: at 16k tokens and a 49k vocabulary the full logits of four documents
would be 13 GB to score 64 tokens each. Where many tokens are scored (a sliding window, every token of
a document) the logits are made `LOGIT_CHUNK` tokens at a time from the final hidden states.
"""
from __future__ import annotations

import math

import torch
import torch.nn.functional as F


BATCH_TOKENS = 16384  # rows of a length go into one forward up to this many tokens (at least one row)
LOGIT_CHUNK = 2048  # scored tokens whose logits exist at once, past which they are made in chunks


@torch.no_grad()
def token_nll(model, ids: torch.Tensor, scored: int | None = None) -> torch.Tensor:
    """NLL of each of the last `scored` tokens (every token after the first when None) given those
    before it: shape (batch, scored). Only the logits that predict them are computed."""
    from transformers import PreTrainedModel

    from ..families.logits import output_head

    scored = ids.shape[1] - 1 if scored is None else min(scored, ids.shape[1] - 1)
    ids = ids.to(model.device)
    targets = ids[:, -scored:]
    if scored <= LOGIT_CHUNK or not isinstance(model, PreTrainedModel):  # a memory or sink stream keeps its own
        logits = model(input_ids=ids, logits_to_keep=scored + 1).logits[:, -(scored + 1) : -1].float()
        return F.cross_entropy(logits.transpose(1, 2), targets, reduction="none").cpu()
    hidden = model(input_ids=ids, logits_to_keep=1, output_hidden_states=True).hidden_states[-1][:, -(scored + 1) : -1]
    head = output_head(model)
    return torch.cat([
        F.cross_entropy(head(hidden[:, i : i + LOGIT_CHUNK]).float().transpose(1, 2), targets[:, i : i + LOGIT_CHUNK],
                        reduction="none")
        for i in range(0, scored, LOGIT_CHUNK)
    ], dim=1).cpu()


def rows_per_batch(length: int, batch_size: int) -> int:
    return max(1, min(batch_size, BATCH_TOKENS // max(1, length)))


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
        rows = rows_per_batch(c, batch_size)
        for i in range(0, len(usable), rows):
            batch = torch.tensor([d[longest - c :] for d in usable[i : i + rows]])
            nll = token_nll(model, batch, target_tokens)
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
            new = end - scored_until
            if new > 0:
                nll = token_nll(model, ids[begin:end][None], new)[0]  # predicts tokens end-new .. end-1
                total += nll.sum().item()
                count += new
                scored_until = end
            if end == len(doc):
                break
    return math.exp(total / count)
