"""Landmark attention (Mohtashami & Jaggi 2023), all in this folder:

tokens.py           the landmark token: added once (embedding rows at the mean), put into documents
layout.py           the collator's side: landmarks after every mem_freq tokens, no loss at them
grouped_softmax.py  the training-time attention: earlier blocks weighted through their landmarks
block_bias.py       the same weights as one softmax with a bias per query and block (chunked, flex)
attention.py        the attention function (training paths, and inference through the block cache)
retrieval.py        inference: top-k blocks by landmark score, re-placed at compacted positions
memory.py           the block cache and a model read through it as a stream
settings.py         what a recipe may say, what the checkpoint records, the checks before work

`attention.method: landmark` -> ATTENTION below, listed in methods/registry.py.
"""
from __future__ import annotations

from ...attention.method import AttentionMethod, nothing
from . import attention, layout, memory, settings, tokens


def _prepare(model, tokenizer, attn) -> dict:
    return {"landmark_id": tokens.add_landmark_token(model, tokenizer)}


def _rows(attn, seq_len: int, tokenizer) -> layout.LandmarkRows:
    landmark = tokens.landmark_id(tokenizer)
    if landmark is None:
        raise ValueError("the tokenizer has no landmark token: use_attention adds it before training")
    from_landmark = settings.next_token_from(attn.params) == "landmark"
    return layout.LandmarkRows(seq_len, attn.params["mem_freq"], landmark, from_landmark)


ATTENTION = AttentionMethod(
    validate=settings.validate, preflight=nothing,
    register=lambda a, w: attention.register(settings.settings(a, w), a.path),
    settings=settings.settings, restore=attention.register, rows=_rows, check_stage=settings.check_stage,
    inference_model=memory.memory_model, position_span=settings.position_span, row_length=settings.position_span,
    smoke_params=settings.smoke_params,
    engine_note=settings.engine_note, refusal=settings.refusal, prepare=_prepare,
)
