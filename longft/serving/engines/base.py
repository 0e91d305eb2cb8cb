"""What an engine gives serve-check."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable


@dataclass(frozen=True)
class Scored:
    """One prompt as an engine scored it: the log-probs of ids[start:], each given the ids before it,
    summed over `count` tokens. serve-check scores the same ids with transformers."""
    ids: list[int]
    start: int
    total_logprob: float
    count: int


@dataclass(frozen=True)
class Engine:
    # (engine python or None) -> None; raises RecipeError naming what to install, before any model loads
    preflight: Callable
    # (checkpoint folder, tokenizer, prompts {length: [token ids]}, engine python or None, context or None:
    #  the engine's own default) -> ({length: [Scored]}, the longest context the engine serves)
    score: Callable
    what: str  # one line for the report: what was compared
