"""A weighted mix, end to end: load and tokenize each source (datasets, memory-mapped where the
source is on disk), cut the documents as the packer's split policy would, plan the copies of the
pieces from their lengths alone, and write the chosen pieces, shuffled, as one dataset the packer
takes as it is."""
from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np

from ..packing import column_array, masked_in_piece, split_documents
from ..sources import load_source
from ..tokenizing import tokenize_documents
from .definition import Mix
from .report import build_report
from .sampling import plan_cells


def pieces_of(lengths: np.ndarray, seq_len: int, split_policy: str, min_tokens: int) -> np.ndarray:
    """(document, start, end) rows, as the packer cuts documents."""
    pieces, _ = split_documents(lengths.tolist(), seq_len, split_policy, min_tokens)
    return np.array(pieces, dtype=np.int64).reshape(-1, 3)


def sample_mix(mix: Mix, tokenizer, seq_len: int, split_policy: str, min_tokens: int, num_proc: int = 1,
               log=print, workdir: Path | None = None) -> tuple[datasets.Dataset, dict]:
    """`workdir`: where sources read only as far as their share of mix.tokens write what they read."""
    from ..budget import budgeted, read_budget, read_within_budget

    tokenized, doc_lengths, pieces = [], [], []
    for k, ms in enumerate(mix.sources, 1):
        if mix.tokens is not None and budgeted(ms.source) and workdir is not None:
            share = read_budget(mix.tokens, seq_len, ms.weight)
            log(f"[mix] source {k}/{len(mix.sources)} {ms.name!r}: its share, {share:,} tokens", flush=True)
            tokenized.append(read_within_budget(ms.source, tokenizer, share, max(min_tokens, ms.min_tokens),
                                                workdir / str(k), log))
        else:
            log(f"[mix] source {k}/{len(mix.sources)} {ms.name!r}: loading and tokenizing", flush=True)
            tokenized.append(tokenize_documents(load_source(ms.source), tokenizer, num_proc))
        doc_lengths.append(column_array(tokenized[-1], "length").astype(np.int64))
        pieces.append(pieces_of(doc_lengths[-1], seq_len, split_policy, min_tokens))
    piece_lengths = [p[:, 2] - p[:, 1] for p in pieces]
    piece_doc_lengths = [docs[p[:, 0]] for docs, p in zip(doc_lengths, pieces)]
    cells = plan_cells(mix, piece_lengths, piece_doc_lengths)
    log(f"[mix] drew {sum(int(c.copies.sum()) for c in cells):,} pieces; writing them in a seeded order", flush=True)

    doc_offsets = np.cumsum([0] + [len(t) for t in tokenized])
    source_index = {ms.name: i for i, ms in enumerate(mix.sources)}
    chosen = [np.zeros((0, 3), dtype=np.int64)]
    for c in cells:
        i = source_index[c.source]
        rows = pieces[i][np.repeat(c.pieces, c.copies)]
        chosen.append(rows + np.array([doc_offsets[i], 0, 0]))
    chosen = np.concatenate(chosen)
    chosen = chosen[np.random.default_rng(mix.seed).permutation(len(chosen))]
    mixed = cut_pieces(datasets.concatenate_datasets(tokenized), chosen, num_proc)
    return mixed, build_report(mix, piece_lengths, piece_doc_lengths, cells)


def cut_pieces(tokenized: datasets.Dataset, chosen: np.ndarray, num_proc: int) -> datasets.Dataset:
    """Rows (document, start, end) -> a tokenized dataset of those slices, in that order."""
    starts, ends = chosen[:, 1], chosen[:, 2]

    def cut(batch, rows):
        out = {"input_ids": [], "length": [], "masked": []}
        for ids, masked, row in zip(batch["input_ids"], batch["masked"], rows):
            s, e = int(starts[row]), int(ends[row])
            out["input_ids"].append(ids[s:e])
            out["length"].append(e - s)
            out["masked"].append(masked_in_piece(masked, s, e))
        return out

    selected = tokenized.select(chosen[:, 0])
    return selected.map(cut, with_indices=True, batched=True, batch_size=256, desc="cutting the mix's pieces",
                        num_proc=num_proc if num_proc > 1 and len(selected) > 1024 else None)
