"""Retrieval drills: short code documents that assign values to names at random depths and look
some of them up again at the end, so a small base learns to copy from anywhere in its window.

The haystack is real source code from the training split (never the held-out split). Names, keys
and values are fresh per document, in several code forms (plain assignments, table entries), with
other assignments as distractors; each lookup line is followed by its value, which is the signal.
A share of drills can take the code passkey's own form instead (`passkey_drill`): one five-digit
key in the line and the question the passkey evaluation asks, so that evaluation then measures a
trained form rather than a transfer from the other forms.
"""
from __future__ import annotations

import random

from .passkey_text import CODE_NEEDLE, CODE_QUESTION
from .values import ADJECTIVES, KINDS, NOUNS, distinct, distinct_values, literal

TABLES = ("settings", "registry", "config", "lookup", "{noun}_values", "{noun}_table", "{adj}_{noun}s")
NAMES = ("{adj}_{noun}", "{noun}_id", "{noun}_key", "secret_{noun}", "{adj}_{noun}_code", "{noun}_token")
EDGE_SHARE = 0.35  # of drills whose first assignment opens the document, and again of those where it closes the code
MIN_CHARS, MAX_CHARS = 40, 440  # a drill's haystack, by default: ~20-200 tokens, inside one 256-token window
RECALL_COMMENTS = ("", "# recall the values above\n", "# lookups\n", "# what was assigned?\n", "\n")


def _name(rng: random.Random, pattern: str, kind: str) -> str:
    return pattern.format(adj=rng.choice(ADJECTIVES), noun=rng.choice(NOUNS), kind=kind)


def _needles(rng: random.Random, count: int) -> list[tuple[str, str]]:
    """(assignment line, lookup prefix) pairs; the lookup prefix is followed by the value's literal."""
    kind = rng.choice(KINDS)
    values = distinct_values(kind, rng, count)
    if rng.random() < 0.5:  # plain assignments
        names = distinct(lambda: _name(rng, rng.choice(NAMES), kind).replace("-", "_"), count)
        prefixes = [f"{name} = " for name in names]
    else:  # entries of one table, keyed by adjective-noun words
        table = _name(rng, rng.choice(TABLES), kind)
        keys = distinct(lambda: f"{rng.choice(ADJECTIVES)}-{rng.choice(NOUNS)}", count)
        prefixes = [f'{table}["{key}"] = ' for key in keys]
    return [(f"{p}{literal(kind, v)}\n", f"{p}{literal(kind, v)}\n") for p, v in zip(prefixes, values)]


def _haystack(rng: random.Random, lines: list[str], budget: int) -> list[str]:
    start = rng.randrange(len(lines))
    hay: list[str] = []
    used = 0
    while used < budget and len(hay) < len(lines):
        line = lines[(start + len(hay)) % len(lines)]
        hay.append(line)
        used += len(line)
    return hay


def drill_document(rng: random.Random, lines: list[str], min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS,
                   edge_share: float = EDGE_SHARE) -> str:
    """One drill of about `max_chars` at most: a slice of code `lines` with 1-6
    assignments placed at random lines (the first one at either end of the code in 2 x `edge_share`
    of drills), then lookups of a random non-empty subset of them, in random order."""
    needles = _needles(rng, rng.randint(1, 6))
    needle_chars = sum(len(a) for a, _ in needles)
    budget = rng.randint(min_chars, max(min_chars, max_chars - 2 * needle_chars))
    hay = _haystack(rng, lines, budget)
    # A window's two ends are where lookups fail first: the far end (an assignment at the top of a
    # file, up to a window back) and the near end (one right before its lookup); each gets a share.
    first, *rest = [assignment for assignment, _ in needles]
    for assignment in rest:
        hay.insert(rng.randint(0, len(hay)), assignment)
    end = rng.random()
    at = 0 if end < edge_share else len(hay) if end < 2 * edge_share else rng.randint(0, len(hay))
    hay.insert(at, first)
    asked = rng.sample(needles, len(needles) if rng.random() < 0.5 else rng.randint(1, len(needles)))
    return "".join(hay) + rng.choice(RECALL_COMMENTS) + "".join(lookup for _, lookup in asked)


def passkey_drill(rng: random.Random, lines: list[str], min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS,
                  edge_share: float = EDGE_SHARE) -> str:
    """A slice of code with the code passkey's line (a key of five digits, as the evaluation draws
    them) at a random line, at either end in 2 x `edge_share` of drills, then the passkey's question
    and its answer."""
    key = rng.randint(10000, 99999)
    needle = CODE_NEEDLE.format(key=key)
    question, prefix = CODE_QUESTION
    hay = _haystack(rng, lines, rng.randint(min_chars, max(min_chars, max_chars - len(needle) - len(question))))
    end = rng.random()
    at = 0 if end < edge_share else len(hay) if end < 2 * edge_share else rng.randint(0, len(hay))
    hay.insert(at, needle)
    return "".join(hay) + question + f"{prefix} {key}\n"


def drill_documents(texts: list[str], count: int, seed: int, min_chars: int = MIN_CHARS, max_chars: int = MAX_CHARS,
                    edge_share: float = EDGE_SHARE, passkey_share: float = 0.0) -> list[str]:
    """`count` drills; `passkey_share` of them (drawn per drill) in the code passkey's form."""
    rng = random.Random(seed)
    lines = [line + "\n" for text in texts for line in text.splitlines() if line.strip()]
    if not lines:
        raise ValueError("no haystack lines to build retrieval drills from")
    # No draw when the share is 0, so the drills of recipes without the option stay as they were.
    return [
        passkey_drill(rng, lines, min_chars, max_chars, edge_share)
        if passkey_share and rng.random() < passkey_share
        else drill_document(rng, lines, min_chars, max_chars, edge_share)
        for _ in range(count)
    ]
