"""One task instance: a prompt of an exact token length with needles at exact token positions."""
from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class Sample:
    task: str
    length: int  # prompt tokens plus the answer budget
    depth: float | None  # where the first answer needle sits in the context, None for tasks without one
    input_ids: list[int]  # head + context + question + answer prefix
    answers: list[str]  # what string matching looks for in a generated answer
    continuations: list[str]  # each answer as written right after the answer prefix (log-likelihood mode)
    distractors: list[list[str]]  # per answer: wrong continuations it is ranked against
    metric: str = "all"  # RULER's string_match_all ("all") or string_match_part ("part")
    max_new_tokens: int = 32
    needle_starts: list[int] = field(default_factory=list)  # token index of each needle in input_ids
    needle_lengths: list[int] = field(default_factory=list)  # and its length in tokens
    context_span: tuple[int, int] = (0, 0)  # [start, end) of the context (haystack + needles) in input_ids


def encode(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def bos(tokenizer) -> list[int]:
    return [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []


def insert_at(filler: list[int], needles: list[tuple[int, list[int]]]) -> tuple[list[int], list[int]]:
    """Insert each (position in filler, needle ids); returns the context and where each needle
    starts in it, in the order the needles were given."""
    order = sorted(range(len(needles)), key=lambda i: (needles[i][0], i))
    out: list[int] = []
    starts = [0] * len(needles)
    cursor = 0
    for i in order:
        pos, ids = needles[i]
        out.extend(filler[cursor:pos])
        cursor = pos
        starts[i] = len(out)
        out.extend(ids)
    out.extend(filler[cursor:])
    return out, starts


def assemble(tokenizer, head: str, filler: list[int], needles: list[tuple[int, list[int]]], tail: str):
    """BOS + head + context + tail: returns (ids, needle starts in ids, context span)."""
    prefix = bos(tokenizer) + encode(tokenizer, head)
    context, starts = insert_at(filler, needles)
    ids = prefix + context + encode(tokenizer, tail)
    return ids, [len(prefix) + s for s in starts], (len(prefix), len(prefix) + len(context))
