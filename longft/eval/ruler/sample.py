"""One task instance: a prompt of an exact token length, its needles at the line or sentence ends
nearest their drawn token positions."""
from __future__ import annotations

from bisect import bisect_left
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


def answer_budget(tokenizer, continuations: list[str], reserve: int = 0) -> int:
    """Tokens a sample keeps free after its prompt: its answers' own length (and a little), or
    `reserve` where that is more (RULER's tokens_to_generate, when generating)."""
    return max(reserve, sum(len(encode(tokenizer, c)) for c in continuations) + 4)


def bos(tokenizer) -> list[int]:
    return [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []


SENTENCE_ENDS = (".", "!", "?")
SNAP_REACH = 64  # tokens a needle may move to reach a line or sentence end; past it, it stays put


def boundaries(tokenizer, filler: list[int]) -> list[int]:
    """Indices in `filler` where a line or a sentence ends: after a newline, or after . ! ? that the
    next token's whitespace follows (so `torch.no_grad` is not cut)."""
    text = {t: tokenizer.decode([t]) for t in set(filler)}
    ends = [0]
    for i in range(1, len(filler) + 1):
        before = text[filler[i - 1]].rstrip(" ")
        after = text[filler[i]] if i < len(filler) else " "
        if before.endswith("\n") or (before.endswith(SENTENCE_ENDS) and after[:1].isspace()):
            ends.append(i)
    if ends[-1] != len(filler):
        ends.append(len(filler))
    return ends


def snap(position: int, ends: list[int]) -> int:
    """The boundary nearest `position`, if one is within SNAP_REACH tokens."""
    i = bisect_left(ends, position)
    nearest = min(ends[max(i - 1, 0) : i + 1], key=lambda e: (abs(e - position), e))
    return nearest if abs(nearest - position) <= SNAP_REACH else position


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
    """BOS + head + context + tail ids: returns (ids, needle starts in ids, context span). Each
    needle goes at the line or sentence end nearest its position, as RULER puts needles between
    sentences: a needle splits no word of the haystack unless no end lies within SNAP_REACH tokens."""
    prefix = bos(tokenizer) + encode(tokenizer, head)
    ends = boundaries(tokenizer, filler)
    context, starts = insert_at(filler, [(snap(pos, ends), ids) for pos, ids in needles])
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
