"""What the collator does for landmark attention: a landmark after every `mem_freq` tokens of each
document of a pack, and no loss at a landmark. With next_token_from `landmark` the landmark's output
predicts the next text token (and the token before it predicts nothing); with `text` the token
before it does, and the landmark's output is never scored.

A pack holds `data.seq_len` text tokens, so a row holds at most seq_len + seq_len // mem_freq
tokens. mem_freq need not divide seq_len: a document's last block may be short, and has no landmark
until it fills, so it is only ever a query's own block. The documents' lengths grow by
their landmarks and travel with the batch as always, so the attention function finds every
landmark and block from the boundaries alone.
"""
from __future__ import annotations

from .tokens import insert_landmarks


def places_at(k, mem_freq: int):
    """(is_landmark, block) of the tokens at index k (a tensor) of their document: the places this
    collator puts landmarks, which the attention paths read back from the boundaries alone."""
    return (k + 1) % (mem_freq + 1) == 0, k // (mem_freq + 1)


def row_length(seq_len: int, mem_freq: int) -> int:
    """Tokens in a row of seq_len text tokens with its landmarks."""
    return seq_len + seq_len // mem_freq


def text_logits(logits, ids: list[int], landmark: int, from_landmark: bool = True):
    """From a forward over text with its landmarks: each text token's next-token logits (where a
    landmark follows it, the landmark's when `from_landmark`)."""
    import torch

    rows = [logits[i + 1] if from_landmark and i + 1 < len(ids) and ids[i + 1] == landmark else logits[i]
            for i, t in enumerate(ids) if t != landmark]
    return torch.stack(rows)


class LandmarkRows:
    def __init__(self, seq_len: int, mem_freq: int, landmark: int, from_landmark: bool = True):
        self.row_length = row_length(seq_len, mem_freq)
        self.mem_freq, self.landmark, self.from_landmark = mem_freq, landmark, from_landmark

    def split(self, features: list[dict]) -> list[dict]:
        rows = []
        for f in features:
            doc_lens = list(f["doc_lens"])
            masked = list(f.get("doc_masked") or [0] * len(doc_lens))
            ids, lens, masked, places = insert_landmarks(list(f["input_ids"]), doc_lens, masked, self.mem_freq, self.landmark)
            silent = {"no_loss": places} if self.from_landmark else {"skip_over": places}
            rows.append({"input_ids": ids, "doc_lens": lens, "doc_masked": masked, **silent})
        return rows

    def fields(self, rows: list[dict]) -> dict:
        return {}
