"""What `longft export --dynamic-as-fixed` gives up, measured: held-out perplexity of the dynamic NTK
model and of its fixed-base export at the same lengths, inside the window and past it.

The two agree at the target (dynamic NTK reaches exactly the fixed base there) and differ inside
the window, where dynamic NTK keeps the original base; the figures say by how much for this model.
"""
from __future__ import annotations

import math

import torch

from ..eval.perplexity import token_nll
MIN_TOKENS = 16


def comparison_lengths(window: int, target: int) -> list[int]:
    """3/4 of the window, the window, then doubling up to the target: 256 -> 1024 gives
    192, 256, 512, 1024."""
    lengths = {window * 3 // 4, window, target}
    length = 2 * window
    while length < target:
        lengths.add(length)
        length *= 2
    return sorted(n for n in lengths if MIN_TOKENS <= n <= target)


@torch.no_grad()
def perplexity_by_length(model, prompts: dict[int, list[list[int]]]) -> dict[int, float]:
    """Every token after the first of each prompt, one prompt a forward."""
    out = {}
    for length, docs in prompts.items():
        nll = torch.cat([token_nll(model, torch.tensor([doc])).flatten() for doc in docs])
        out[length] = math.exp(nll.mean().item())
    return out


def comparison_record(dynamic: dict[int, float], fixed: dict[int, float], window: int, rope_theta: float,
                      num_docs: int) -> dict:
    return {
        "fixed_rope_theta": rope_theta,
        "original_window": window,
        "held_out_documents": num_docs,
        "perplexity": [{"tokens": n, "dynamic": round(dynamic[n], 4), "fixed": round(fixed[n], 4)} for n in dynamic],
    }


def format_comparison(record: dict) -> str:
    window = record["original_window"]
    lines = [f"held-out perplexity, dynamic NTK against its fixed-base export ({record['held_out_documents']} "
             f"documents; window {window}):", f"  {'tokens':>8}  {'dynamic':>9}  {'fixed':>9}  {'fixed/dynamic':>13}"]
    for row in record["perplexity"]:
        where = "inside the window" if row["tokens"] <= window else ""
        lines.append(f"  {row['tokens']:>8}  {row['dynamic']:>9.3f}  {row['fixed']:>9.3f}  "
                     f"{row['fixed'] / row['dynamic']:>13.3f}  {where}".rstrip())
    return "\n".join(lines)
