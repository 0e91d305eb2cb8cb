"""Passkey retrieval on a depth x length grid, scored by exact match of the generated key.

Two haystacks:
- landmark: the landmark-attention / LongLoRA template (grass is green ... pass key is N);
- code: held-out source code with `passkey = N` placed at the depth and `passkey = `
  asked at the end, the natural form of the task for a code model.
"""
from __future__ import annotations

import random
import re

import torch

from ..synthetic.passkey_text import CODE_NEEDLE, CODE_QUESTION, GARBAGE, LANDMARK_QUESTION, TASK
from .chat import ChatFrame, frame_prompt, tail_ids


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def _bos(tokenizer) -> list[int]:
    return [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []


def _finish(tokenizer, body: list[int], question: list[int], prefix_len: int, frame: ChatFrame | None) -> list[int]:
    """BOS + body + question, or body + question as the user's turn of the chat template with the answer
    prefix (the question's last `prefix_len` tokens) opening the assistant's."""
    if frame is None:
        return _bos(tokenizer) + body + question
    return frame_prompt(body + question, 0, prefix_len, frame)


def _room(tokenizer, length: int, frame: ChatFrame | None) -> int:
    """Tokens left for the prompt itself: `length` less the BOS or the chat template around it."""
    lead = len(_bos(tokenizer))
    return length - lead - (frame.overhead(lead) if frame else 0)


def landmark_prompt(tokenizer, length: int, depth: float, key: int, frame: ChatFrame | None = None) -> list[int]:
    head = _ids(tokenizer, TASK)
    unit = _ids(tokenizer, GARBAGE)
    needle = _ids(tokenizer, f" The pass key is {key}. Remember it. {key} is the pass key.")
    question, prefix_len = tail_ids(tokenizer, *LANDMARK_QUESTION)
    n_units = max(0, (_room(tokenizer, length, frame) - len(head) - len(needle) - len(question)) // len(unit))
    before = round(depth * n_units)
    return _finish(tokenizer, head + unit * before + needle + unit * (n_units - before), question, prefix_len, frame)


def code_prompt(tokenizer, filler_lines: list[list[int]], length: int, depth: float, key: int, rng,
                frame: ChatFrame | None = None) -> list[int]:
    needle = _ids(tokenizer, CODE_NEEDLE.format(key=key))
    question, prefix_len = tail_ids(tokenizer, *CODE_QUESTION)
    budget = _room(tokenizer, length, frame) - len(needle) - len(question)
    start = rng.randrange(len(filler_lines))
    lines, used = [], 0
    for k in range(len(filler_lines)):
        line = filler_lines[(start + k) % len(filler_lines)]
        if used + len(line) > budget:
            break
        lines.append(line)
        used += len(line)
    at = round(depth * len(lines))
    body = [t for line in lines[:at] for t in line] + needle + [t for line in lines[at:] for t in line]
    return _finish(tokenizer, body, question, prefix_len, frame)


def filler_lines_from(docs_text: list[str], tokenizer) -> list[list[int]]:
    """Each non-blank line of the texts, with its newline, as token ids (the code haystacks)."""
    lines = [line + "\n" for text in docs_text for line in text.splitlines() if line.strip()]
    encoded = tokenizer(lines, add_special_tokens=False)["input_ids"] if lines else []
    return [ids for ids in encoded if ids]


@torch.no_grad()
def retrieve(model, tokenizer, prompt: list[int], key: int) -> bool:
    ids = torch.tensor([prompt], device=model.device)
    answer_len = len(_ids(tokenizer, f" {key}")) + 2
    out = model.generate(
        input_ids=ids,
        attention_mask=torch.ones_like(ids),
        max_new_tokens=answer_len,
        do_sample=False,
        pad_token_id=tokenizer.pad_token_id,
    )
    text = tokenizer.decode(out[0, len(prompt) :], skip_special_tokens=True)
    match = re.match(r"\s*(\d+)", text)
    return bool(match) and match.group(1) == str(key)


def passkey_grid(
    model, tokenizer, lengths, depths, trials: int, template: str, filler_text: list[str], seed: int = 0, progress=None,
    frame: ChatFrame | None = None,
) -> dict:
    """`frame`: the chat template the prompts are put in (eval.chat_template), at the same lengths."""
    rng = random.Random(seed)
    filler = filler_lines_from(filler_text, tokenizer) if template == "code" else None
    accuracy = []
    for length in lengths:
        row = []
        for depth in depths:
            hits = 0
            for _ in range(trials):
                key = rng.randint(10000, 99999)
                if template == "code":
                    prompt = code_prompt(tokenizer, filler, length, depth, key, rng, frame)
                else:
                    prompt = landmark_prompt(tokenizer, length, depth, key, frame)
                hits += retrieve(model, tokenizer, prompt, key)
            row.append(hits / trials)
        accuracy.append(row)
        if progress:
            progress(f"passkey at {length} tokens: {sum(row) / len(row):.0%} over depths {list(depths)}")
    return {"lengths": list(lengths), "depths": list(depths), "trials": trials, "template": template, "seed": seed,
            "chat_template": frame is not None, "accuracy": accuracy}
