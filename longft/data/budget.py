"""A source read only as far as a token budget: its documents in their own order, tokenized in
batches as they arrive, until the documents long enough to keep hold `tokens` (plus one sequence,
so that the packer's own budget is met after it drops chunk remainders).

This is how an `hf` source meets data.max_train_tokens or its share of a mix's `tokens`: a streamed
corpus (SlimPajama, RedPajama) is never on disk or in memory whole, and a non-streamed one takes
the same documents, so both give the same packs. The tokenized rows are written by
`datasets.Dataset.from_generator` into `workdir` (arrow on disk, not lists in memory); the caller
removes it once the packs are saved."""
from __future__ import annotations

import math
from pathlib import Path

import datasets

from .sources import hf
from .tokenizing import encoder

BATCH_DOCS = 256  # documents tokenized per call


def read_budget(tokens: int, seq_len: int, weight: float | None = None) -> int:
    """How far a budgeted source reads: its share of `tokens` (all of it, or ceil(weight x tokens)
    in a mix) plus one sequence. What the dry run reports and what prepare reads both come from here."""
    share = tokens if weight is None else math.ceil(weight * tokens)
    return share + seq_len


def budgeted(source: dict) -> bool:
    """Sources that stop reading at a budget (the others are loaded whole and sampled by the packer)."""
    return source.get("type") == "hf"


def _rows(source: dict, tokenizer, tokens: int, min_doc_tokens: int):
    encode = encoder(tokenizer)
    field = hf.text_field(source)
    kept, batch = 0, []

    def flush():
        nonlocal kept
        out = encode({"text": batch})
        batch.clear()
        for ids, length, masked in zip(out["input_ids"], out["length"], out["masked"]):
            if length >= min_doc_tokens:
                kept += length
            yield {"input_ids": ids, "length": length, "masked": masked}

    for row in hf.open_rows(source, streaming=bool(source.get("streaming"))):
        batch.append(row[field])
        if len(batch) == BATCH_DOCS:
            yield from flush()
            if kept >= tokens:
                return
    if batch:
        yield from flush()


def read_within_budget(source: dict, tokenizer, tokens: int, min_doc_tokens: int, workdir: Path,
                       log=print) -> datasets.Dataset:
    """Tokenized rows (input_ids, length, masked) of the documents the budget takes, in source order.
    The stream stops at the first batch that meets the budget."""
    workdir.mkdir(parents=True, exist_ok=True)
    log(f"[data] {source['type']} source {source['path']!r}: reading until {tokens:,} tokens"
        + (" (streamed)" if source.get("streaming") else ""), flush=True)
    ds = datasets.Dataset.from_generator(
        _rows, gen_kwargs={"source": source, "tokenizer": tokenizer, "tokens": tokens, "min_doc_tokens": min_doc_tokens},
        cache_dir=str(workdir), features=TOKENIZED,
    )
    log(f"[data] {source['path']!r}: {len(ds):,} documents read, {sum(ds['length']):,} tokens", flush=True)
    return ds


TOKENIZED = datasets.Features({
    "input_ids": datasets.List(datasets.Value("int64")),
    "length": datasets.Value("int64"),
    "masked": datasets.Value("int64"),
})
