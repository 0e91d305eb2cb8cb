"""The landmark token: added to the tokenizer and the embeddings once, and put into documents.

Its embedding rows (input, and output where untied) start at the mean of the rows before it, as
the authors' fine-tune does, so a model that has never seen it reads it as an average token. A
tokenizer that already has it (a landmark checkpoint trained further) keeps its id and rows.
"""
from __future__ import annotations

import torch

LANDMARK_TOKEN = "<landmark>"


def landmark_id(tokenizer) -> int | None:
    """The token's id, or None where the tokenizer does not have it."""
    if LANDMARK_TOKEN not in tokenizer.get_vocab():
        return None
    return tokenizer.convert_tokens_to_ids(LANDMARK_TOKEN)


@torch.no_grad()
def add_landmark_token(model, tokenizer) -> int:
    """Add the token where missing (embedding rows at the mean of the existing ones); its id."""
    known = landmark_id(tokenizer)
    if known is not None:
        return known
    tokenizer.add_special_tokens({"additional_special_tokens": [LANDMARK_TOKEN]}, replace_extra_special_tokens=False)
    new = landmark_id(tokenizer)
    rows = model.get_input_embeddings().weight.shape[0]
    if new >= rows:  # a vocabulary padded past the tokenizer may already have a free row
        model.resize_token_embeddings(new + 1, mean_resizing=False)
    for embedding in {id(e): e for e in (model.get_input_embeddings(), model.get_output_embeddings()) if e is not None}.values():
        weight = embedding.weight
        weight[new] = weight[:new].float().mean(0).to(weight.dtype)
    return new


def insert_landmarks(ids: list[int], doc_lens: list[int], doc_masked: list[int], mem_freq: int,
                     landmark: int) -> tuple[list[int], list[int], list[int], list[int]]:
    """A landmark after every `mem_freq` tokens of each document -> (ids, doc_lens, doc_masked,
    the landmarks' positions). A document's k-th token (landmarks counted) is then a landmark
    exactly when (k + 1) % (mem_freq + 1) == 0, where the attention function expects one."""
    out, lens, masked, places = [], [], [], []
    start = 0
    for n, m in zip(doc_lens, doc_masked):
        doc = ids[start : start + n]
        begin = len(out)
        for i in range(0, n, mem_freq):
            piece = doc[i : i + mem_freq]
            out.extend(piece)
            if len(piece) == mem_freq:
                places.append(len(out))
                out.append(landmark)
        lens.append(len(out) - begin)
        masked.append(m + m // mem_freq)  # a masked prompt keeps its landmarks masked too
        start += n
    return out, lens, masked, places
