"""Prompt log-probs of an engine against transformers', by length band."""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch


@dataclass(frozen=True)
class Band:
    length: int
    prompts: int  # prompts the engine scored (those past its context are missing)
    expected: int
    reference_ppl: float
    engine_ppl: float
    gap: float  # |difference of mean log-prob per token|, nats

    def agrees(self, tolerance: float) -> bool:
        return self.prompts == self.expected and math.isfinite(self.engine_ppl) and self.gap <= tolerance


@torch.no_grad()
def reference_logprob(model, ids: list[int], start: int) -> float:
    """transformers' sum of the log-probs of ids[start:], each given the ids before it."""
    tensor = torch.tensor([ids])
    logits = model(input_ids=tensor).logits.float()[0, start - 1 : -1]
    return torch.log_softmax(logits, dim=-1).gather(1, tensor[0, start:, None]).sum().item()


def compare_band(model, length: int, expected: int, scored: list) -> Band:
    if not scored:
        return Band(length, 0, expected, math.nan, math.nan, math.inf)
    ref = sum(reference_logprob(model, s.ids, s.start) for s in scored)
    eng = sum(s.total_logprob for s in scored)
    count = sum(s.count for s in scored)
    gap = abs(ref - eng) / count if math.isfinite(eng) else math.inf
    return Band(length, len(scored), expected, perplexity(-ref / count), perplexity(-eng / count), gap)


def perplexity(nll: float) -> float:
    """exp(mean NLL); NaN stays NaN, and one too large for a float is inf."""
    try:
        return math.exp(nll)
    except OverflowError:
        return math.inf


def format_bands(bands: list[Band], engine: str, tolerance: float, served: int) -> str:
    rows = [("length", "prompts", "transformers ppl", f"{engine} ppl", "gap (nats/token)", "")]
    for b in bands:
        if b.prompts < b.expected:
            verdict = f"NOT SERVED: {engine} takes at most {served} tokens"
        else:
            verdict = "agrees" if b.agrees(tolerance) else "DIFFERS"
        rows.append((str(b.length), f"{b.prompts}/{b.expected}", f"{b.reference_ppl:.3f}", f"{b.engine_ppl:.3f}",
                     f"{b.gap:.4f}", verdict))
    widths = [max(len(r[i]) for r in rows) for i in range(len(rows[0]))]
    lines = ["  ".join(c.ljust(w) for c, w in zip(r, widths)).rstrip() for r in rows]
    lines.insert(1, "  ".join("-" * w for w in widths[:-1]))
    return "\n".join(lines)
