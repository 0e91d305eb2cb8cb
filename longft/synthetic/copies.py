"""Copy drills: a line of random values, then the same line again, and only the repeat is scored.

The values are drawn afresh for every document, so the weights cannot predict the repeat: the only
way to score it is to find the line earlier in the document and copy it token by token. That is the
induction head passkey and the RULER tasks need, and random tokens alone take a long plateau to
form it (benchmarks/induction_probe.py); mixed with code it forms sooner.

A line is both halves of its document: `prompt` (the first copy, never scored) and `text` (the repeat).
"""
from __future__ import annotations

import random

from .values import ADJECTIVES, NOUNS


def copy_item(rng: random.Random) -> str:
    """One value of the kinds identifiers and literals take in code: a number, a word, a name."""
    kind = rng.randrange(3)
    if kind == 0:
        return str(rng.randrange(10 ** rng.randint(1, 6)))
    if kind == 1:
        return rng.choice(ADJECTIVES if rng.random() < 0.5 else NOUNS)
    return f"{rng.choice(ADJECTIVES)}_{rng.choice(NOUNS)}"


def copy_line(rng: random.Random, min_items: int, max_items: int) -> str:
    return " ".join(copy_item(rng) for _ in range(rng.randint(min_items, max_items))) + "\n"


def copy_lines(count: int, seed: int, min_items: int, max_items: int) -> list[str]:
    """`count` lines, reproducible from `seed`."""
    rng = random.Random(seed)
    return [copy_line(rng, min_items, max_items) for _ in range(count)]
