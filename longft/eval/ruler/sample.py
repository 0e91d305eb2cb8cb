"""One task instance: a prompt of an exact token length with needles at exact token positions."""
from __future__ import annotations

from dataclasses import dataclass, field, replace

from ..chat import ChatFrame, frame_prompt, tail_ids  # noqa: F401 (the tasks' import)


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
    answer_prefix_tokens: int = 0  # the last tokens of input_ids: the start of the answer, not the question


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


def assemble(tokenizer, head: str, filler: list[int], needles: list[tuple[int, list[int]]], tail: list[int]):
    """BOS + head + context + tail ids: returns (ids, needle starts in ids, context span)."""
    prefix = bos(tokenizer) + encode(tokenizer, head)
    context, starts = insert_at(filler, needles)
    ids = prefix + context + tail
    return ids, [len(prefix) + s for s in starts], (len(prefix), len(prefix) + len(context))


def in_chat_frame(tokenizer, sample: Sample, frame: ChatFrame, length: int) -> Sample:
    """The sample (built `frame.overhead` tokens short) as the user's turn of the chat template, its
    answer prefix opening the assistant's turn; needle and context positions move with it."""
    lead = len(bos(tokenizer))
    shift = len(frame.before) - lead
    ids = frame_prompt(sample.input_ids, lead, sample.answer_prefix_tokens, frame)
    start, end = sample.context_span
    return replace(sample, length=length, input_ids=ids, needle_starts=[s + shift for s in sample.needle_starts],
                   context_span=(start + shift, end + shift))
