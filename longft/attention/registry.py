"""Attention methods by name: what `attention.method` may say, and how each is switched on.

Each entry checks its settings at recipe load (`validate(attention, seq_len, window)`, window =
the original window where known), checks the machine before work starts (`preflight(attention)`:
a GPU-only path without its package), and registers its function with transformers'
AttentionInterface / AttentionMaskInterface (`register(attention) -> implementation name`).
Methods that also change inference (log-n, window, hybrid) give `settings(attention, window)`, which
the exported config keeps as `longft_attention`, and `restore(settings) -> implementation name`,
with which longft's loaders switch them back on. Append new {"name": AttentionMethod(...)} pairs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import RecipeError
from . import full, logn, s2attn, window

CONFIG_KEY = "longft_attention"


@dataclass(frozen=True)
class AttentionMethod:
    validate: Callable  # (attention settings, sequence length, original window) -> None, raises RecipeError
    preflight: Callable  # (attention settings) -> None, raises RecipeError
    register: Callable  # (attention settings, original window) -> the attn_implementation name to switch to
    settings: Callable | None = None  # (attention settings, original window) -> what inference needs
    restore: Callable | None = None  # (those settings) -> the attn_implementation name


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
}


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
