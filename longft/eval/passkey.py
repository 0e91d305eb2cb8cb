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

TASK = (
    "There is an important info hidden inside a lot of irrelevant text. Find it and memorize them. "
    "I will quiz you about the important information there."
)
GARBAGE = " The grass is green. The sky is blue. The sun is yellow. Here we go. There and back again."
CODE_NEEDLE = "passkey = {key}  # the pass key\n"
CODE_QUESTION = "\n# recall the pass key\npasskey ="


def _ids(tokenizer, text: str) -> list[int]:
    return tokenizer(text, add_special_tokens=False)["input_ids"]


def landmark_prompt(tokenizer, length: int, depth: float, key: int) -> list[int]:
    head = ([tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []) + _ids(tokenizer, TASK)
    unit = _ids(tokenizer, GARBAGE)
    needle = _ids(tokenizer, f" The pass key is {key}. Remember it. {key} is the pass key.")
    question = _ids(tokenizer, " What is the pass key? The pass key is")
    n_units = max(0, (length - len(head) - len(needle) - len(question)) // len(unit))
    before = round(depth * n_units)
    return head + unit * before + needle + unit * (n_units - before) + question


def code_prompt(tokenizer, filler_lines: list[list[int]], length: int, depth: float, key: int, rng) -> list[int]:
    head = [tokenizer.bos_token_id] if tokenizer.bos_token_id is not None else []
    needle = _ids(tokenizer, CODE_NEEDLE.format(key=key))
    question = _ids(tokenizer, CODE_QUESTION)
    budget = length - len(head) - len(needle) - len(question)
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
    return head + body + question


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
    model, tokenizer, lengths, depths, trials: int, template: str, filler_text: list[str], seed: int = 0, progress=None
) -> dict:
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
                    prompt = code_prompt(tokenizer, filler, length, depth, key, rng)
                else:
                    prompt = landmark_prompt(tokenizer, length, depth, key)
                hits += retrieve(model, tokenizer, prompt, key)
            row.append(hits / trials)
        accuracy.append(row)
        if progress:
            progress(f"passkey at {length} tokens: {sum(row) / len(row):.0%} over depths {list(depths)}")
    return {"lengths": list(lengths), "depths": list(depths), "trials": trials, "template": template, "seed": seed,
            "accuracy": accuracy}
