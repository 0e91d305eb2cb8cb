"""Turn packs into model inputs: position ids from a position scheme, the document boundaries
as their own fields, and no loss across a boundary.

The boundaries travel as `cu_seq_lens_q` / `cu_seq_lens_k` with `max_length_q` / `max_length_k`
(transformers' varlen names, passed through the model to the attention function), so position
ids say only where a token is. The 2-D `attention_mask` of ones tells transformers not to infer
documents from position ids itself. The first token of each document gets label -100 so no
document is asked to predict the next one's start; a supervised pair's prompt (`doc_masked`
leading tokens) carries no loss either.

Under sequence parallelism (`boundaries_as_lists`) the offsets are lists of ints: DeepSpeed's batch
sharding cuts every tensor along the sequence but hands other values to each rank whole, and the
attention after its all-to-all needs the boundaries of the whole sequence.

An attention method that lays a batch out in rows of its own (FoT's cross-batch streams) gives
`rows`: it cuts each pack into rows of `rows.row_length` and adds the fields that say how the rows
relate (`rows.fields`), so that layout too travels with the batch. A row may name positions that
carry no loss (`no_loss`: landmark tokens, which the model is never asked to predict), or that
the next-token loss skips over (`skip_over`: the token before one predicts the token after it, and
its own output is never scored).
"""
from __future__ import annotations

import torch

from ..attention.boundaries import cu_seq_lens_from_doc_lens
from ..positions.schemes import POSITION_SCHEMES, document_positions


class PackedCollator:
    def __init__(self, seq_len: int, pad_token_id: int, position_scheme: str = "document",
                 scheme_params: dict | None = None, scheme_length: int | None = None, model_inputs: dict | None = None,
                 boundaries_as_lists: bool = False, rows=None):
        self.rows = rows
        seq_len = rows.row_length if rows is not None else seq_len
        self.seq_len = seq_len
        self.boundaries_as_lists = boundaries_as_lists
        self.model_inputs = dict(model_inputs or {})  # fixed switches for the model's forward (the loss's)
        self.pad_token_id = pad_token_id
        self.positions = POSITION_SCHEMES[position_scheme].make(scheme_params or {}, seq_len, scheme_length or seq_len)
        self.step = 0  # batches made so far (schemes that progress batch by batch read it)

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        related = {}
        if self.rows is not None:
            features = self.rows.split(features)
            related = self.rows.fields(features)
        batch_ids, batch_labels, batch_docs = [], [], []
        for f in features:
            ids = list(f["input_ids"])
            doc_lens = list(f["doc_lens"])
            doc_masked = list(f.get("doc_masked") or [0] * len(doc_lens))
            labels = list(ids)
            start = 0
            for n, masked in zip(doc_lens, doc_masked):
                labels[start : start + max(1, masked)] = [-100] * max(1, masked)
                start += n
            for i in f.get("no_loss") or ():
                labels[i] = -100
            for i in f.get("skip_over") or ():  # labels[i] is the target of position i - 1
                labels[i] = labels[i + 1] if i + 1 < len(labels) else -100
                if i + 1 < len(labels):
                    labels[i + 1] = -100
            pad = self.seq_len - len(ids)
            if pad > 0:  # the tail is one more "document" of padding, never scored
                ids += [self.pad_token_id] * pad
                labels += [-100] * pad
                doc_lens = doc_lens + [pad]
            batch_ids.append(ids)
            batch_labels.append(labels)
            batch_docs.append(doc_lens)
        batch_pos = self.positions(batch_docs, self.step)
        self.step += 1
        cu = cu_seq_lens_from_doc_lens(batch_docs)
        longest = int((cu[1:] - cu[:-1]).max())
        if self.boundaries_as_lists:
            cu = cu.tolist()
        return {
            "input_ids": torch.tensor(batch_ids, dtype=torch.long),
            "position_ids": torch.tensor(batch_pos, dtype=torch.long),
            "labels": torch.tensor(batch_labels, dtype=torch.long),
            "attention_mask": torch.ones(len(batch_ids), self.seq_len, dtype=torch.long),
            "cu_seq_lens_q": cu,
            "cu_seq_lens_k": cu,
            "max_length_q": longest,
            "max_length_k": longest,
            "use_cache": False,
            **related,
            **self.model_inputs,
        }


__all__ = ["PackedCollator", "document_positions"]
