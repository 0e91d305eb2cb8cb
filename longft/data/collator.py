"""Turn packs into model inputs: position ids restart per document, no loss across boundaries.

Transformers reads packed documents from position ids that restart at 0 (attention_mask
left as None): SDPA and eager get a block-diagonal causal mask, flex attention a block
mask, flash-attn varlen cu_seqlens. It does so only when no KV cache is in play, so the
batch says `use_cache=False` itself instead of trusting the model config. The first token of each document gets label -100 so
no document is asked to predict the next one's start; a supervised pair's prompt
(`doc_masked` leading tokens) carries no loss either.
"""
from __future__ import annotations

import torch


def document_positions(doc_lens: list[int]) -> list[int]:
    return [p for n in doc_lens for p in range(n)]


class PackedCollator:
    def __init__(self, seq_len: int, pad_token_id: int):
        self.seq_len = seq_len
        self.pad_token_id = pad_token_id

    def __call__(self, features: list[dict]) -> dict[str, torch.Tensor]:
        batch_ids, batch_pos, batch_labels = [], [], []
        for f in features:
            ids = list(f["input_ids"])
            doc_lens = list(f["doc_lens"])
            doc_masked = list(f.get("doc_masked") or [0] * len(doc_lens))
            labels = list(ids)
            start = 0
            for n, masked in zip(doc_lens, doc_masked):
                labels[start : start + max(1, masked)] = [-100] * max(1, masked)
                start += n
            pad = self.seq_len - len(ids)
            if pad > 0:  # the tail is one more "document" of padding, never scored
                ids += [self.pad_token_id] * pad
                labels += [-100] * pad
                doc_lens = doc_lens + [pad]
            batch_ids.append(ids)
            batch_pos.append(document_positions(doc_lens))
            batch_labels.append(labels)
        return {
            "input_ids": torch.tensor(batch_ids, dtype=torch.long),
            "position_ids": torch.tensor(batch_pos, dtype=torch.long),
            "labels": torch.tensor(batch_labels, dtype=torch.long),
            "use_cache": False,
        }
