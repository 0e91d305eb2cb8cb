"""Attention methods by name: what `attention.method` may say, and how each is switched on.

Each entry checks its settings at recipe load (`validate(attention, seq_len)`), checks the
machine before work starts (`preflight(attention)`: a GPU-only path without its package), and
registers its function with transformers' AttentionInterface / AttentionMaskInterface
(`register(attention) -> implementation name`). Append new {"name": AttentionMethod(...)} pairs.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

from ..errors import RecipeError
from . import full, s2attn


@dataclass(frozen=True)
class AttentionMethod:
    validate: Callable  # (attention settings, sequence length) -> None, raises RecipeError
    preflight: Callable  # (attention settings) -> None, raises RecipeError
    register: Callable  # (attention settings) -> the attn_implementation name to switch to


def _full_validate(attention, seq_len: int) -> None:
    if attention.path not in full.PATH_CHOICES:
        raise RecipeError(f"attention.path = {attention.path!r} is not valid for full attention; "
                          f"valid paths: {', '.join(full.PATH_CHOICES)}")


def _s2_validate(attention, seq_len: int) -> None:
    valid = ("auto", *s2attn.PATHS)
    if attention.path not in valid:
        raise RecipeError(f"attention.path = {attention.path!r} is not valid for S²-Attn; valid paths: {', '.join(valid)}")
    s2attn.group_size_for(seq_len, attention.group_size_ratio, attention.group_size)


ATTENTION_METHODS: dict[str, AttentionMethod] = {
    "full": AttentionMethod(
        validate=_full_validate,
        preflight=lambda a: full.check_path(a.path),
        register=lambda a: full.register_full_attention(a.path, a.dense_mask_max_tokens),
    ),
    "s2": AttentionMethod(
        validate=_s2_validate,
        preflight=lambda a: s2attn.make_s2_attention(a.group_size_ratio, a.group_size, a.path),
        register=lambda a: s2attn.register_s2_attention(a.group_size_ratio, a.group_size, a.path),
    ),
}


def use_attention(model, attention):
    """Switch the model to the recipe's training attention (export switches back to SDPA)."""
    model.set_attn_implementation(ATTENTION_METHODS[attention.method].register(attention))
    return model
