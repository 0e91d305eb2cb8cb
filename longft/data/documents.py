"""Long documents from sources, tokenized: what evaluation scores and a LongRoPE search measures fitness on."""
from __future__ import annotations

from .sources import load_documents


def long_documents(sources: list[dict], tokenizer, min_tokens: int, num_docs: int) -> list[list[int]]:
    """The first `num_docs` documents with at least `min_tokens` tokens (BOS included)."""
    docs = load_documents(sources)
    out = []
    for text in docs["text"]:
        if len(text) < min_tokens:  # a token covers at least one character
            continue
        ids = tokenizer(text)["input_ids"]
        if len(ids) >= min_tokens:
            out.append(ids)
            if len(out) == num_docs:
                break
    return out
