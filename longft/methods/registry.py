"""Attention methods by name: what `attention.method` may say, and how each is switched on.

Each method's folder under methods/ defines its entry (an `attention.method.AttentionMethod`);
full attention's is `attention.full.ENTRY`. Append new {"name": entry} pairs.
"""
from __future__ import annotations

from ..attention import full
from ..attention.method import CONFIG_KEY, AttentionMethod
from . import fot, landmark, logn, longlora, sinks, window

ATTENTION_METHODS: dict[str, AttentionMethod] = {
    "full": full.ENTRY,
    "s2": longlora.S2_ATTENTION,
    "logn": logn.ATTENTION,
    "window": window.WINDOW,
    "hybrid": window.HYBRID,
    "fot": fot.ATTENTION,
    "landmark": landmark.ATTENTION,
    "sinks": sinks.ATTENTION,
}


def position_length(attention, seq_len: int) -> int:
    """How far positions run in one row of training: the sequence, unless the method says less
    (FoT's windows). The position method scales to this."""
    span = ATTENTION_METHODS[attention.method].position_span
    return span(attention, seq_len) if span else seq_len


def row_tokens(attention, seq_len: int) -> int:
    """Tokens a training row holds: data.seq_len, or more where the method adds tokens of its own."""
    length = ATTENTION_METHODS[attention.method].row_length
    return length(attention, seq_len) if length else seq_len


def batch_rows(attention, seq_len: int, tokenizer):
    """The collator's row layout for the method, or None (one pack per row)."""
    rows = ATTENTION_METHODS[attention.method].rows
    return rows(attention, seq_len, tokenizer) if rows else None


def use_attention(model, attention, window: int | None = None, tokenizer=None):
    """Switch the model to the recipe's attention. Training-only methods are swapped back to SDPA
    at export; inference methods are recorded in the config for `restore_attention`. A method with
    a token of its own adds it to `tokenizer` and the model here."""
    method = ATTENTION_METHODS[attention.method]
    extra = {}
    if method.prepare is not None:
        if tokenizer is None:
            raise ValueError(f"attention.method {attention.method!r} adds a token: use_attention needs the tokenizer")
        extra = method.prepare(model, tokenizer, attention)
    if method.settings is not None:
        setattr(model.config, CONFIG_KEY, {**method.settings(attention, window), **extra})
    model.set_attn_implementation(method.register(attention, window))
    return model


def restore_attention(model):
    """A checkpoint that records an inference attention method gets it back (longft's loaders)."""
    saved = getattr(model.config, CONFIG_KEY, None)
    if saved:
        model.set_attn_implementation(ATTENTION_METHODS[saved["method"]].restore(saved))
    return model


def inference_model(model):
    """What evaluation runs for a model: the model, or the cache its recorded method reads it through."""
    saved = getattr(model.config, CONFIG_KEY, None)
    wrap = ATTENTION_METHODS[saved["method"]].inference_model if saved else None
    return wrap(model, saved) if wrap else model
