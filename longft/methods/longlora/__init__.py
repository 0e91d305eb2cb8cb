"""LongLoRA (Chen et al. 2024): S²-Attn for training (s2attn.py), with LoRA plus trainable
embeddings and norms (adapter.method: lora, in adapters/lora.py). Inference and export use full
attention: S²-Attn is a training-time approximation only.

`attention.method: s2` -> S2_ATTENTION below, listed in methods/registry.py.
"""
from __future__ import annotations

from ...attention.method import AttentionMethod
from ...errors import RecipeError
from . import s2attn


def validate(attention, seq_len: int, window=None) -> None:
    valid = ("auto", *s2attn.PATHS)
    if attention.path not in valid:
        raise RecipeError(f"attention.path = {attention.path!r} is not valid for S²-Attn; valid paths: {', '.join(valid)}")
    s2attn.group_size_for(seq_len, attention.group_size_ratio, attention.group_size)


S2_ATTENTION = AttentionMethod(
    validate=validate,
    preflight=lambda a: s2attn.make_s2_attention(a.group_size_ratio, a.group_size, a.path),
    register=lambda a, w: s2attn.register_s2_attention(a.group_size_ratio, a.group_size, a.path),
    refusal=lambda a, config: s2attn.refusal(config),
)
