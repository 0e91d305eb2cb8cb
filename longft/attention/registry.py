"""Attention methods by name: what `attention.method` may say, and how each is switched on.

Each entry checks its settings at recipe load (`validate(attention, seq_len, window)`, window =
the original window where known), checks the machine before work starts (`preflight(attention)`:
a GPU-only path without its package), and registers its function with transformers'
AttentionInterface / AttentionMaskInterface (`register(attention) -> implementation name`).
Methods that also change inference (log-n, window, hybrid) give `settings(attention, window)`, which
the exported config keeps as `longft_attention`, and `restore(settings) -> implementation name`,
with which longft's loaders switch them back on. A method that lays training batches out in rows
of its own gives `rows(attention)` for the collator; one that evaluates through a cache of its own
gives `inference_model(model, settings)`; `check_stage(attention, stage, model config)` checks it
against the model and the batch before work starts; `position_span(attention, seq_len)` says how
far positions run in a row when that is less than the sequence. Append new
{"name": AttentionMethod(...)} pairs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import RecipeError
from ..methods.fot import layout as fot_layout, memory as fot_memory
from . import fot, full, logn, s2attn, window

CONFIG_KEY = "longft_attention"


@dataclass(frozen=True)
class AttentionMethod:
    validate: Callable  # (attention settings, sequence length, original window) -> None, raises RecipeError
    preflight: Callable  # (attention settings) -> None, raises RecipeError
    register: Callable  # (attention settings, original window) -> the attn_implementation name to switch to
    settings: Callable | None = None  # (attention settings, original window) -> what inference needs
    restore: Callable | None = None  # (those settings) -> the attn_implementation name
    rows: Callable | None = None  # (attention settings) -> the collator's row layout (FoT cross-batch)
    check_stage: Callable | None = None  # (attention settings, stage recipe, model config) -> None, raises
    inference_model: Callable | None = None  # (model, saved settings) -> what evaluation runs
    position_span: Callable | None = None  # (attention settings, seq_len) -> positions a row spans
    smoke_params: Callable | None = None  # (params, smoke seq_len, stand-in layers) -> params for --smoke


def _nothing(*args) -> None:
    pass


def _full_validate(attention, seq_len: int, window=None) -> None:
    if attention.path not in full.PATH_CHOICES:
        raise RecipeError(f"attention.path = {attention.path!r} is not valid for full attention; "
                          f"valid paths: {', '.join(full.PATH_CHOICES)}")


def _s2_validate(attention, seq_len: int, window=None) -> None:
    valid = ("auto", *s2attn.PATHS)
    if attention.path not in valid:
        raise RecipeError(f"attention.path = {attention.path!r} is not valid for S²-Attn; valid paths: {', '.join(valid)}")
    s2attn.group_size_for(seq_len, attention.group_size_ratio, attention.group_size)


ATTENTION_METHODS: dict[str, AttentionMethod] = {
    "full": AttentionMethod(
        validate=_full_validate,
        preflight=lambda a: full.check_path(a.path),
        register=lambda a, w: full.register_full_attention(a.path, a.dense_mask_max_tokens),
    ),
    "s2": AttentionMethod(
        validate=_s2_validate,
        preflight=lambda a: s2attn.make_s2_attention(a.group_size_ratio, a.group_size, a.path),
        register=lambda a, w: s2attn.register_s2_attention(a.group_size_ratio, a.group_size, a.path),
    ),
    "logn": AttentionMethod(
        validate=logn.validate, preflight=_nothing, register=lambda a, w: logn.register(logn.settings(a, w)),
        settings=logn.settings, restore=logn.register,
    ),
    "window": AttentionMethod(
        validate=window.validate_window, preflight=_nothing,
        register=lambda a, w: window.register(window.settings_window(a, w)),
        settings=window.settings_window, restore=window.register,
    ),
    "hybrid": AttentionMethod(
        validate=window.validate_hybrid, preflight=_nothing,
        register=lambda a, w: window.register(window.settings_hybrid(a, w)),
        settings=window.settings_hybrid, restore=window.register,
    ),
    "fot": AttentionMethod(
        validate=fot.validate, preflight=lambda a: full.check_path(a.path),
        register=lambda a, w: fot.register(fot.settings(a, w), a.path),
        settings=fot.settings, restore=fot.register,
        rows=fot_layout.cross_batch_rows, check_stage=fot.check_stage, inference_model=fot_memory.memory_model,
        position_span=fot.position_span, smoke_params=fot.smoke_params,
    ),
}


def position_length(attention, seq_len: int) -> int:
    """How far positions run in one row of training: the sequence, unless the method says less."""
    span = ATTENTION_METHODS[attention.method].position_span
    return span(attention, seq_len) if span else seq_len


def batch_rows(attention):
    """The collator's row layout for the method, or None (one pack per row)."""
    rows = ATTENTION_METHODS[attention.method].rows
    return rows(attention) if rows else None


def use_attention(model, attention, window: int | None = None):
    """Switch the model to the recipe's attention. Training-only methods are swapped back to SDPA
    at export; inference methods are recorded in the config for `restore_attention`."""
    method = ATTENTION_METHODS[attention.method]
    if method.settings is not None:
        setattr(model.config, CONFIG_KEY, method.settings(attention, window))
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
