"""Tokenize documents with `datasets.map` (multiprocess, cached by datasets, with progress)."""
from __future__ import annotations

import hashlib
import os

import datasets


def tokenizer_fingerprint(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else f"{tokenizer.name_or_path}:{len(tokenizer)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def encoder(tokenizer):
    """A batch of documents {"text": [...], optionally "prompt": [...]} -> one row per document:
    BOS + [prompt] + tokens + EOS, its length, and how many leading tokens carry no loss (BOS and,
    for supervised pairs, the prompt)."""
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id

    head = [bos] if bos is not None else []
    tail = [eos] if eos is not None else []

    def encode(batch):
        ids = tokenizer(batch["text"], add_special_tokens=False)["input_ids"]
        prompts = tokenizer(batch["prompt"], add_special_tokens=False)["input_ids"] if "prompt" in batch else [[]] * len(ids)
        ids_out = [head + p + x + tail for p, x in zip(prompts, ids)]
        return {
            "input_ids": ids_out,
            "length": [len(x) for x in ids_out],
            "masked": [len(head) + len(p) for p in prompts],
        }

    return encode


def tokenize_documents(docs: datasets.Dataset, tokenizer, num_proc: int = 1) -> datasets.Dataset:
    """Every document of `docs`, tokenized as `encoder` does, in order."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    encode = encoder(tokenizer)
    num_proc = max(1, min(num_proc, len(docs) // 8 or 1))
    return docs.map(
        encode,
        batched=True,
        batch_size=64,
        num_proc=num_proc if num_proc > 1 else None,
        remove_columns=docs.column_names,
        desc="tokenizing",
    )
