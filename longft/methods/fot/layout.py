"""FoT's cross-batch training layout (the authors' document-aware pipeline and cross-batch stepping).

A pack from longft's packer is one stream of `windows_per_stream` (k) x `window` tokens; it becomes
k consecutive rows, so a document's consecutive windows sit on consecutive rows. The memory layer
of a row attends to up to `cross_batch` (d - 1) rows right before it, nearest first: the earlier
windows of its own stream (positives) and, past them, rows of the previous stream (negatives:
other documents). A row never sees a row after it. With `stepping`, the k rows of a stream reach
back further and further, so one batch trains several memory sizes at once; with k = 4 and
cross_batch = 3 that is LongLLaMA's quarter-batch mix of (positives, negatives) =
(0, 0), (1, 1), (2, 1), (3, 0).

Inside a row, packed documents stay apart as everywhere in longft (the boundaries go with the
batch); a document cut at a row's edge continues on the next row, with positions from 0 again,
as it would start a new local window at inference.
"""
from __future__ import annotations

import torch


def reach(row: int, windows_per_stream: int, cross_batch: int, stepping: bool) -> int:
    """How many rows right before `row` (its index in the batch) its memory layers see."""
    contexts = cross_batch + 1
    if stepping and windows_per_stream > 1:
        step = -(-contexts // (windows_per_stream - 1))
        contexts = min((row % windows_per_stream) * step + 1, contexts)
    return min(contexts, row + 1) - 1


def memory_rows(rows: int, windows_per_stream: int, cross_batch: int, stepping: bool) -> list[list[int]]:
    """For each row of a batch: the earlier rows its memory layers see, nearest first."""
    return [[r - j for j in range(1, reach(r, windows_per_stream, cross_batch, stepping) + 1)] for r in range(rows)]


def positives_and_negatives(rows: int, windows_per_stream: int, cross_batch: int, stepping: bool) -> list[tuple[int, int]]:
    """(rows of the same stream, rows of other streams) in each row's memory."""
    out = []
    for r, seen in enumerate(memory_rows(rows, windows_per_stream, cross_batch, stepping)):
        same = sum(1 for s in seen if s // windows_per_stream == r // windows_per_stream)
        out.append((same, len(seen) - same))
    return out


def split_pack(feature: dict, window: int, windows: int) -> list[dict]:
    """One pack -> `windows` row features of at most `window` tokens; documents cut at the edges."""
    ids = list(feature["input_ids"])
    doc_lens = list(feature["doc_lens"])
    masked = list(feature.get("doc_masked") or [0] * len(doc_lens))
    rows = [{"input_ids": ids[i * window : (i + 1) * window], "doc_lens": [], "doc_masked": []} for i in range(windows)]
    start = 0
    for n, m in zip(doc_lens, masked):
        pos = start
        while pos < start + n:
            row = pos // window
            piece = min(start + n, (row + 1) * window) - pos
            rows[row]["doc_lens"].append(piece)
            rows[row]["doc_masked"].append(max(0, min(m - (pos - start), piece)))
            pos += piece
        start += n
    return rows


class CrossBatchRows:
    """What the collator does for FoT: packs -> rows, and the memory fields of the batch."""

    def __init__(self, window: int, windows_per_stream: int, cross_batch: int, stepping: bool):
        self.row_length = window
        self.windows_per_stream = windows_per_stream
        self.cross_batch, self.stepping = cross_batch, stepping

    def split(self, features: list[dict]) -> list[dict]:
        return [row for f in features for row in split_pack(f, self.row_length, self.windows_per_stream)]

    def fields(self, rows: list[dict]) -> dict:
        seen = memory_rows(len(rows), self.windows_per_stream, self.cross_batch, self.stepping)
        width = max((len(s) for s in seen), default=0)
        table = torch.full((len(rows), width), -1, dtype=torch.long)
        for r, s in enumerate(seen):
            table[r, : len(s)] = torch.tensor(s, dtype=torch.long)
        real = torch.tensor([len(row["input_ids"]) for row in rows])
        valid = torch.arange(self.row_length)[None, :] < real[:, None]  # padding is never memory
        return {"fot_memory_rows": table, "fot_memory_valid": valid}


def cross_batch_rows(attention) -> CrossBatchRows:
    p = attention.params
    return CrossBatchRows(p["window"], p.get("windows_per_stream", 1), p.get("cross_batch", 0), p.get("stepping", False))
