"""Held-out prompts for serve-check: the first tokens of held-out documents, one set a length."""
from __future__ import annotations

from ..errors import RecipeError

MIN_LENGTH = 80  # lm-eval scores the last 64 tokens of a prompt; the rest is its context


def default_lengths(window: int, serving: int) -> list[int]:
    """One band inside the original window, then doubling past it up to the served length (less the
    one token an engine generates): for 256 -> 1024, 192, 512, 1023."""
    lengths = {max(MIN_LENGTH, window * 3 // 4)}
    length = 2 * window
    while length < serving:
        lengths.add(length)
        length *= 2
    lengths.add(serving - 1)
    return sorted(n for n in lengths if MIN_LENGTH <= n < serving)


def check_lengths(lengths: list[int], serving: int) -> None:
    for n in lengths:
        if n < MIN_LENGTH:
            raise RecipeError(f"--lengths {n}: a prompt needs at least {MIN_LENGTH} tokens")
        if n >= serving:
            raise RecipeError(
                f"--lengths {n}: the export serves at most {serving} tokens (max_position_embeddings, one left for the "
                f"generated token); give lengths below {serving}"
            )


def serving_prompts(sources: list[dict], tokenizer, lengths: list[int], num_docs: int) -> dict[int, list[list[int]]]:
    from ..data.documents import long_documents

    docs = long_documents(sources, tokenizer, max(lengths), num_docs)
    if not docs:
        raise RecipeError(f"the held-out sources have no document of {max(lengths)} tokens; pass shorter --lengths "
                          "or a recipe whose eval.sources hold longer documents")
    return {n: [d[:n] for d in docs] for n in lengths}
