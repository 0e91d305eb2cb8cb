"""The text needles are hidden in: held-out documents (the eval sources), or RULER's repeated noise.

Held-out text is tokenized once, line by line, into one token stream; a haystack of n tokens is a
window of that stream at a seeded offset, so every length reads real text. The window ends at the
line or sentence end nearest its drawn end (within SNAP_REACH tokens), so the question never
follows a cut word, as RULER's haystacks end after a whole sentence. A stream shorter than a
requested length is an error before any model runs, never a haystack that repeats itself.
"""
from __future__ import annotations

import random

from ...errors import RecipeError
from ..passkey import filler_lines_from
from .sample import boundaries, snap

NOISE = " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."


class Haystack:
    def __init__(self, tokenizer, texts: list[str], source_label: str = "eval.sources"):
        self.tokens = [t for ids in filler_lines_from(texts, tokenizer) for t in ids]
        self.noise = tokenizer(NOISE, add_special_tokens=False)["input_ids"]
        self.tokenizer = tokenizer
        self.source_label = source_label
        self._ends: list[int] | None = None

    def ending_at_a_boundary(self, start: int, n: int) -> int:
        """The start of the n-token window nearest `start` that ends at a line or sentence end."""
        if self._ends is None:
            self._ends = boundaries(self.tokenizer, self.tokens)
        end = snap(start + n, self._ends)
        return end - n if end - n >= 0 else start

    def require(self, length: int) -> None:
        if len(self.tokens) < length:
            raise RecipeError(
                f"eval.ruler_lengths has {length}: the haystack from {self.source_label} holds only "
                f"{len(self.tokens)} tokens; add held-out text or use lengths <= {len(self.tokens)}"
            )

    def text(self, n: int, rng: random.Random, avoid: list[str]) -> list[int]:
        """n tokens of held-out text in which no string of `avoid` occurs (answers must appear only
        in their needles)."""
        self.require(n)
        for _ in range(50):
            start = self.ending_at_a_boundary(rng.randrange(len(self.tokens) - n + 1), n)
            window = self.tokens[start : start + n]
            decoded = self.tokenizer.decode(window)
            if not any(a in decoded for a in avoid):
                return window
        raise RecipeError(f"could not find {n} tokens of {self.source_label} free of {avoid[:3]}")

    def filler(self, n: int, rng: random.Random, avoid: list[str], noise: bool) -> list[int]:
        """RULER's repeated noise where `noise`, else n tokens of held-out text free of `avoid`."""
        return self.repeat(n) if noise else self.text(n, rng, avoid)

    def repeat(self, n: int) -> list[int]:
        """RULER's noise haystack: the same five sentences over and over, its last n tokens (so it
        ends after a whole sentence, as RULER's does)."""
        reps = n // len(self.noise) + 1
        return (self.noise * reps)[-n:]
