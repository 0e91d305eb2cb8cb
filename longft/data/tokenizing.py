"""Tokenize documents with `datasets.map` (multiprocess, cached by datasets, with progress)."""
from __future__ import annotations

import hashlib
import os

import datasets


def tokenizer_fingerprint(tokenizer) -> str:
    backend = getattr(tokenizer, "backend_tokenizer", None)
    text = backend.to_str() if backend is not None else f"{tokenizer.name_or_path}:{len(tokenizer)}"
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def tokenize_documents(docs: datasets.Dataset, tokenizer, num_proc: int = 1) -> datasets.Dataset:
    """One row per document: BOS + tokens + EOS, and the length."""
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")
    bos, eos = tokenizer.bos_token_id, tokenizer.eos_token_id

    def encode(batch):
        ids = tokenizer(batch["text"], add_special_tokens=False)["input_ids"]
        ids = [([bos] if bos is not None else []) + x + ([eos] if eos is not None else []) for x in ids]
        return {"input_ids": ids, "length": [len(x) for x in ids]}

    num_proc = max(1, min(num_proc, len(docs) // 8 or 1))
    return docs.map(
        encode,
        batched=True,
        batch_size=64,
        num_proc=num_proc if num_proc > 1 else None,
        remove_columns=docs.column_names,
        desc="tokenizing",
    )
